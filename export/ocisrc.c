/* ocisrc.c — the image cache entry behind the image root export reads (see oci.h).
 *
 * The entry's files are read only from an entry export trusts (docs/image-export.md,
 * "Where the config comes from"): the cache's own entry, CACHE/images/<64 hex>, found
 * from the image root's realpath, or the directory --from names.  A trace's lowerdir
 * that merely looks like an entry elsewhere is a plain directory: its neighbours are
 * never opened.  Both files are opened inside the entry's directory fd without
 * following symlinks, must be regular files of at most OCI_MAX_JSON bytes, and
 * config.json must hash to the config_digest image.json records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ctx.h"

#define DEFAULT_CACHE "/var/cache/slimfs"   /* as slimfs-run's (run/run.h) */

void oci_source_free(struct oci_source *s)
{
	if (s == NULL)
		return;
	free(s->entry);
	free(s->config_raw);
	json_decref(s->config);
	free(s->manifest_digest);
	free(s->reference);
	free(s);
}

static bool is_hex64(const char *h)
{
	for (int i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

/* REAL is CACHE/images/<64 hex> followed by SUFFIX ("" or "/rootfs"). */
static bool is_cache_path(const char *real, const char *cache, const char *suffix)
{
	size_t n = strcmp(cache, "/") == 0 ? 0 : strlen(cache);

	if (strncmp(real, cache, n) != 0 || strncmp(real + n, "/images/", 8) != 0)
		return false;
	return is_hex64(real + n + 8) && strcmp(real + n + 8 + 64, suffix) == 0;
}

/* Read NAME in directory DFD (ENTRY, for messages) whole, NUL-terminated.  0, 1 when
 * there is no such file, -1 with ERR. */
static int read_small(int dfd, const char *entry, const char *name, char **buf, size_t *len,
		      struct sfs_err *err)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
					O_CLOEXEC);
	_cleanup_free_ char *b = NULL;
	struct stat st;
	size_t done = 0;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0)
		return sfs_fail(err, errno, "image %s: %s", entry, name);
	if (fstat(fd, &st) < 0)
		return sfs_fail(err, errno, "image %s: %s", entry, name);
	if (!S_ISREG(st.st_mode))
		return sfs_fail(err, 0, "image %s: %s is not a regular file", entry, name);
	if ((uint64_t)st.st_size > OCI_MAX_JSON)
		return sfs_fail(err, 0, "image %s: %s is larger than %u MiB", entry, name,
				OCI_MAX_JSON >> 20);
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL)
		return sfs_fail(err, ENOMEM, "image %s: %s", entry, name);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, b + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sfs_fail(err, errno, "image %s: %s", entry, name);
		if (n == 0)
			return sfs_fail(err, 0, "image %s: %s shrank while being read", entry, name);
		done += (size_t)n;
	}
	b[done] = '\0';
	*buf = steal_pointer(&b);
	*len = done;
	return 0;
}

/* The string KEY of object O, copied; NULL when absent or null.  -1 if it is there but
 * not a string. */
static int get_string(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -1;
}

static int load_entry(struct oci_source *s, int dfd, struct sfs_err *err)
{
	_cleanup_free_ char *raw = NULL, *cdigest = NULL;
	size_t len;
	json_error_t jerr;
	json_t *info;
	int ret;

	ret = read_small(dfd, s->entry, "image.json", &raw, &len, err);
	if (ret != 0)
		return ret < 0 ? -1 : sfs_fail(err, 0, "image %s: config.json without image.json",
					       s->entry);
	info = json_loadb(raw, len, 0, &jerr);
	if (info == NULL || !json_is_object(info)) {
		json_decref(info);
		return sfs_fail(err, 0, "image %s: image.json: %s", s->entry,
				info ? "not a JSON object" : jerr.text);
	}
	if (get_string(info, "reference", &s->reference) < 0 ||
	    get_string(info, "manifest_digest", &s->manifest_digest) < 0 ||
	    get_string(info, "config_digest", &cdigest) < 0) {
		json_decref(info);
		return sfs_fail(err, 0, "image %s: image.json: reference, manifest_digest or "
				"config_digest is not a string", s->entry);
	}
	json_decref(info);
	ret = read_small(dfd, s->entry, "config.json", &s->config_raw, &s->config_len, err);
	if (ret != 0)
		return ret < 0 ? -1 : sfs_fail(err, 0, "image %s: image.json without config.json",
					       s->entry);
	oci_sha256(s->config_raw, s->config_len, s->config_digest);
	if (cdigest && strcmp(cdigest, s->config_digest) != 0)
		return sfs_fail(err, 0, "image %s: config.json is %s, image.json says %s",
				s->entry, s->config_digest, cdigest);
	s->config = json_loadb(s->config_raw, s->config_len, 0, &jerr);
	if (s->config == NULL)
		return sfs_fail(err, 0, "image %s: config.json: %s (line %d)", s->entry, jerr.text,
				jerr.line);
	if (!json_is_object(s->config))
		return sfs_fail(err, 0, "image %s: config.json is not a JSON object", s->entry);
	return 0;
}

/* DIR (a realpath) holds image.json and a rootfs directory: an entry named by --from. */
static bool looks_like_entry(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	return dfd >= 0 && faccessat(dfd, "image.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstatat(dfd, "rootfs", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int oci_source_find(struct export_ctx *c, struct sfs_err *err)
{
	const char *env = getenv("SLIMFS_CACHE");
	_cleanup_free_ char *cache = realpath(env && *env ? env : DEFAULT_CACHE, NULL);
	_cleanup_free_ char *real = realpath(c->imagedir, NULL);
	_cleanup_free_ char *entry = NULL, *rootfs = NULL;
	_cleanup_close_ int dfd = -1;
	struct oci_source *s;
	struct stat st;

	if (real == NULL)
		return 0;   /* image_open names the problem */
	if (cache && is_cache_path(real, cache, "/rootfs"))
		entry = strndup(real, strlen(real) - strlen("/rootfs"));
	else if (c->o->from && ((cache && is_cache_path(real, cache, "")) ||
				looks_like_entry(real)))
		entry = strdup(real);
	else
		return 0;
	if (entry == NULL || asprintf(&rootfs, "%s/rootfs", entry) < 0)
		return sfs_fail(err, ENOMEM, "image %s", c->imagedir);
	dfd = open(entry, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return sfs_fail(err, errno, "image %s", entry);
	if (fstatat(dfd, "rootfs", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sfs_fail(err, errno, "image %s: rootfs", entry);
	if (!S_ISDIR(st.st_mode))
		return sfs_fail(err, 0, "image %s: rootfs is not a directory", entry);
	free(c->imagedir);
	c->imagedir = steal_pointer(&rootfs);
	if (faccessat(dfd, "image.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    faccessat(dfd, "config.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;   /* a flat tarball's entry: a root file system, no config */
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return sfs_fail(err, ENOMEM, "image %s", entry);
	s->entry = steal_pointer(&entry);
	c->src = s;
	return load_entry(s, dfd, err);
}
