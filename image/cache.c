/* cache.c — img_open and the image cache entry (the layout is in img.h).
 *
 * Invariants: an entry CACHE/images/<hex> exists only complete — rootfs/, config.json,
 * manifest.json and image.json are made in a temporary sibling (mode 0700) and renamed
 * into place under the cache lock (CACHE/images/.lock, flock), so concurrent runners
 * unpack an image once and a failed or killed unpack leaves nothing that looks like an
 * entry (its temporary directory is removed on failure, or by the next unpack).  <hex>
 * is the sha256 of manifest.json; config.json hashes to image.json's config_digest.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

const char *img_format_name(enum img_format f)
{
	return f == IMG_FMT_OCI ? "oci" : f == IMG_FMT_OCI_ARCHIVE ? "oci-archive" : "docker-archive";
}

static enum img_format format_from_name(const char *s)
{
	return !strcmp(s, "oci") ? IMG_FMT_OCI : !strcmp(s, "oci-archive") ? IMG_FMT_OCI_ARCHIVE
									  : IMG_FMT_DOCKER_ARCHIVE;
}

static const char *cache_top(const struct img_opts *o)
{
	return o && o->cache ? o->cache : sfs_cache_dir();
}

void img_free(struct img *im)
{
	if (!im)
		return;
	free(im->source);
	free(im->reference);
	free(im->entry);
	free(im->rootfs);
	free(im->config_path);
	free(im->config_json);
	img_config_free(&im->config);
	free(im);
}

/* ARG is PATH, or PATH:REF where PATH exists and ARG does not (a path may hold ':'):
 * the longest existing prefix wins. */
static int split_arg(const char *arg, char **path, char **ref)
{
	struct stat st;

	*ref = NULL;
	if (stat(arg, &st) < 0)
		for (const char *c = arg + strlen(arg); c > arg; c--) {
			_cleanup_free_ char *prefix = NULL;

			if (*c != ':' || !c[1])
				continue;
			prefix = strndup(arg, (size_t)(c - arg));
			if (!prefix)
				return -1;
			if (stat(prefix, &st) == 0) {
				*ref = strdup(c + 1);
				*path = steal_pointer(&prefix);
				return *ref ? 0 : -1;
			}
		}
	*path = strdup(arg);
	return *path ? 0 : -1;
}

static int mkdir_p(const char *path, mode_t last_mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, last_mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_at(int dfd, const char *name, const char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					0644);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static char *record_json(const struct img *im)
{
	json_t *j = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s}", "source", im->source,
			      "reference", im->reference, "format", img_format_name(im->format),
			      "manifest_digest", im->manifest_digest, "config_digest", im->config_digest,
			      "platform", im->platform);
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	return s;
}

/* Temporary entries left by a killed unpack (only ever made under the lock we hold). */
static void remove_stale(const char *images)
{
	_cleanup_closedir_ DIR *d = opendir(images);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			char p[PATH_MAX];

			snprintf(p, sizeof p, "%s/%s", images, de->d_name);
			sfs_rm_tree(p, NULL);
		}
}

/* Build the entry FINAL from S and SEL in a temporary sibling, then rename it. */
static int build_entry(const struct src *s, const struct selection *sel, const struct img *im,
		       const char *images, const char *final, const struct img_opts *o,
		       struct sfs_err *err)
{
	_cleanup_free_ char *tmp = NULL, *record = record_json(im);
	_cleanup_close_ int dfd = -1, rootfd = -1;

	if (!record || asprintf(&tmp, "%s/.tmp-%s-XXXXXX", images, sel->manifest_digest + 7) < 0)
		return sfs_fail(err, ENOMEM, "%s", s->name);
	if (!mkdtemp(tmp))
		return sfs_fail(err, errno, "cannot make a directory in %s", images);
	dfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || mkdirat(dfd, "rootfs", 0755) < 0 || fchmodat(dfd, "rootfs", 0755, 0) < 0 ||
	    (rootfd = openat(dfd, "rootfs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		sfs_fail(err, errno, "%s", tmp);
		goto fail;
	}
	if (layers_apply(s, sel, rootfd, o, err) < 0)
		goto fail;
	if (write_at(dfd, "config.json", sel->config_json, sel->config_len) < 0 ||
	    write_at(dfd, "manifest.json", sel->manifest_json, sel->manifest_len) < 0 ||
	    write_at(dfd, "image.json", record, strlen(record)) < 0) {
		sfs_fail(err, errno, "%s", tmp);
		goto fail;
	}
	if (rename(tmp, final) < 0) {
		sfs_fail(err, errno, "cannot rename %s", tmp);
		goto fail;
	}
	return 0;
fail:
	sfs_rm_tree(tmp, NULL);
	return -1;
}

/* CACHE/images, root-only (also when an older slimfs made it 0755), and ours. */
static int cache_images_dir(const char *images, struct sfs_err *err)
{
	struct stat st;

	if (mkdir(images, 0700) < 0 && errno != EEXIST)
		return sfs_fail(err, errno, "cannot make the image cache %s", images);
	if (lstat(images, &st) < 0)
		return sfs_fail(err, errno, "%s", images);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return sfs_fail(err, 0, "%s: not a directory of ours: refusing it as the image cache",
				images);
	if ((st.st_mode & 07777) != 0700 && chmod(images, 0700) < 0)
		return sfs_fail(err, errno, "%s", images);
	return 0;
}

int img_cache_lock(const char *cache, char **images, struct sfs_err *err)
{
	_cleanup_free_ char *top = NULL, *dir = NULL, *lockname = NULL;
	int lock;

	if (mkdir_p(cache, 0755) < 0)
		return sfs_fail(err, errno, "cannot make the image cache %s", cache);
	if (!(top = realpath(cache, NULL)))
		return sfs_fail(err, errno, "%s", cache);
	if (asprintf(&dir, "%s/images", top) < 0 || asprintf(&lockname, "%s/.lock", dir) < 0)
		return sfs_fail(err, ENOMEM, "%s", cache);
	if (cache_images_dir(dir, err) < 0)
		return -1;
	lock = open(lockname, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		sfs_fail(err, errno, "cannot lock the image cache %s", lockname);
		if (lock >= 0)
			close(lock);
		return -1;
	}
	*images = steal_pointer(&dir);
	return lock;
}

/* The cache entry of SEL: reused if complete, else unpacked now, under the lock.  Its
 * path is spelt canonically (the cache's realpath): it becomes the trace's lowerdir,
 * which export trusts only in that spelling. */
static int ensure_entry(const struct src *s, const struct selection *sel, struct img *im,
			const struct img_opts *o, struct sfs_err *err)
{
	_cleanup_free_ char *images = NULL;
	_cleanup_close_ int lock = img_cache_lock(cache_top(o), &images, err);
	struct stat st;

	if (lock < 0)
		return -1;
	if (asprintf(&im->entry, "%s/%s", images, sel->manifest_digest + 7) < 0 ||
	    asprintf(&im->rootfs, "%s/rootfs", im->entry) < 0 ||
	    asprintf(&im->config_path, "%s/config.json", im->entry) < 0)
		return sfs_fail(err, ENOMEM, "%s", s->name);
	if (stat(im->entry, &st) == 0)
		return chmod(im->entry, 0700) < 0 ? sfs_fail(err, errno, "%s", im->entry) : 0;
	remove_stale(images);
	return build_entry(s, sel, im, images, im->entry, o, err);
}

int img_open(const char *arg, const struct img_opts *o, struct img **out, struct sfs_err *err)
{
	_cleanup_free_ char *path = NULL, *ref = NULL;
	struct selection sel = { 0 };
	struct src s;
	struct img *im = NULL;
	int r;

	*out = NULL;
	if (split_arg(arg, &path, &ref) < 0)
		return sfs_fail(err, ENOMEM, "%s", arg);
	r = src_open(&s, path, path, err);
	if (r == 0 && ref)
		return sfs_fail(err, 0, "%s: not an OCI layout or image archive, so '%s' names nothing "
				"in it", path, ref);
	if (r <= 0)
		return r;
	im = calloc(1, sizeof *im);
	if (!im) {
		sfs_fail(err, ENOMEM, "%s", arg);
		goto fail;
	}
	if (select_image(&s, ref, o ? o->platform : NULL, o && o->prog ? o->prog : "slimfs", &sel,
			 err) < 0)
		goto fail;
	im->format = s.format;
	im->source = realpath(path, NULL);
	im->reference = sel.reference ? strdup(sel.reference) : NULL;
	memcpy(im->manifest_digest, sel.manifest_digest, DIGEST_SIZE);
	memcpy(im->config_digest, sel.m.config.digest, DIGEST_SIZE);
	snprintf(im->platform, sizeof im->platform, "%s", sel.platform);
	if (!im->source || (sel.reference && !im->reference)) {
		sfs_fail(err, errno ?: ENOMEM, "%s", path);
		goto fail;
	}
	if (ensure_entry(&s, &sel, im, o, err) < 0)
		goto fail;
	im->config_json = steal_pointer(&sel.config_json);
	im->config_len = sel.config_len;
	im->config = sel.config;
	memset(&sel.config, 0, sizeof sel.config);
	selection_free(&sel);
	src_close(&s);
	*out = im;
	return 1;
fail:
	selection_free(&sel);
	src_close(&s);
	img_free(im);
	return -1;
}

/* Read FILE of the entry DIR whole. */
static int read_entry_file(const char *dir, const char *file, size_t max, char **buf, size_t *len,
			   struct sfs_err *err)
{
	struct src s = { .dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), .fd = -1, .name = dir };
	int r;

	if (s.dirfd < 0)
		return sfs_fail(err, errno, "%s", dir);
	r = src_read_file(&s, file, max, buf, len, err);
	close(s.dirfd);
	return r;
}

static int load_record(struct img *im, struct sfs_err *err)
{
	_cleanup_free_ char *buf = NULL;
	json_t *j;
	json_error_t je;
	const char *source = NULL, *ref = NULL, *format = NULL, *md = NULL, *cd = NULL, *pl = NULL;
	json_t *refj = NULL;
	size_t len;
	int ret = -1;

	if (read_entry_file(im->entry, "image.json", JSON_MAX, &buf, &len, err) < 0)
		return -1;
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j || json_unpack(j, "{s:s, s:o, s:s, s:s, s:s, s:s}", "source", &source, "reference",
			      &refj, "format", &format, "manifest_digest", &md, "config_digest", &cd,
			      "platform", &pl) < 0 || !(json_is_string(refj) || json_is_null(refj)) ||
	    !digest_valid(md) || !digest_valid(cd)) {
		sfs_fail(err, 0, "%s/image.json: not an image record", im->entry);
		goto out;
	}
	ref = json_string_value(refj);
	im->source = strdup(source);
	im->reference = ref ? strdup(ref) : NULL;
	im->format = format_from_name(format);
	snprintf(im->manifest_digest, sizeof im->manifest_digest, "%s", md);
	snprintf(im->config_digest, sizeof im->config_digest, "%s", cd);
	snprintf(im->platform, sizeof im->platform, "%s", pl);
	ret = im->source && (!ref || im->reference) ? 0 : sfs_fail(err, ENOMEM, "%s", im->entry);
out:
	json_decref(j);
	return ret;
}

bool img_cache_path(const char *real, const char *suffix)
{
	_cleanup_free_ char *images = NULL, *cache_images = NULL;
	size_t n;

	if (asprintf(&images, "%s/images", cache_top(NULL)) < 0 ||
	    !(cache_images = realpath(images, NULL)))
		return false;
	n = strlen(cache_images);
	return strncmp(real, cache_images, n) == 0 && real[n] == '/' &&
	       strspn(real + n + 1, "0123456789abcdef") == 64 && strcmp(real + n + 65, suffix) == 0;
}

int img_from_rootfs(const char *rootfs, struct img **out, struct sfs_err *err)
{
	_cleanup_free_ char *real = realpath(rootfs, NULL);
	struct config_info ci = { 0 };
	char digest[DIGEST_SIZE], *slash;
	struct img *im;

	*out = NULL;
	if (!real || !img_cache_path(real, "/rootfs"))
		return 0;
	im = calloc(1, sizeof *im);
	if (!im)
		return sfs_fail(err, ENOMEM, "%s", rootfs);
	slash = strrchr(real, '/');
	im->entry = strndup(real, (size_t)(slash - real));
	im->rootfs = strdup(real);
	if (!im->entry || !im->rootfs || asprintf(&im->config_path, "%s/config.json", im->entry) < 0) {
		img_free(im);
		return sfs_fail(err, ENOMEM, "%s", rootfs);
	}
	if (access(im->config_path, F_OK) < 0) {        /* a flat tarball's entry */
		img_free(im);
		return 0;
	}
	if (load_record(im, err) < 0 ||
	    read_entry_file(im->entry, "config.json", CONFIG_MAX, &im->config_json, &im->config_len,
			    err) < 0 ||
	    digest_of(im->config_json, im->config_len, digest, err) < 0)
		goto fail;
	if (strcmp(digest, im->config_digest) != 0) {
		sfs_fail(err, 0, "%s: config.json does not hash to %s", im->entry, im->config_digest);
		goto fail;
	}
	if (config_parse(im->config_json, im->config_len, im->config_path, &im->config, &ci, err) < 0)
		goto fail;
	config_info_free(&ci);
	*out = im;
	return 1;
fail:
	config_info_free(&ci);
	img_free(im);
	return -1;
}

int img_resolve_rootfs(const char *arg, char **rootfs, struct sfs_err *err)
{
	struct img *im;
	int r = img_open(arg, NULL, &im, err);

	if (r < 0)
		return -1;
	*rootfs = strdup(r ? im->rootfs : arg);
	img_free(im);
	return *rootfs ? 0 : sfs_fail(err, ENOMEM, "%s", arg);
}
