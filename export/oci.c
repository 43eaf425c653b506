/* oci.c — the lean image written out: which format, its name and date (oci_prepare),
 * and the archive or directory itself (oci_write).  See oci.h and
 * docs/image-export.md.
 *
 * An archive is one uncompressed tar whose members come in a fixed order, sorted by
 * name — blobs/, blobs/sha256/, the blobs by digest, index.json, manifest.json,
 * oci-layout (a docker-archive has no index.json, oci-layout or manifest blob: that
 * is what makes podman store it as a docker image) — each owned by 0:0,
 * mode 0644 (directories 0755), dated the image's creation time: the same traces and
 * image give the same bytes.  The layer's name is its digest, known only once it is
 * written, so the layer first goes to an unnamed temporary file (O_TMPFILE) beside OUT
 * and is copied into the archive after the config, manifest and index are made; the
 * copy costs little next to compressing it (bench/export_image.sh).  The archive is
 * written to OUT.tmp-XXXXXX and renamed over OUT once complete; an OCI layout directory
 * is built in a temporary directory and renamed into place, OUT must not exist.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "ctx.h"

#define COPY_BUF (1024 * 1024)
#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"

static bool is_image_format(enum export_format f)
{
	return f == EXPORT_FMT_DOCKER_ARCHIVE || f == EXPORT_FMT_OCI_ARCHIVE || f == EXPORT_FMT_OCI;
}

static const char *format_name(enum export_format f)
{
	switch (f) {
	case EXPORT_FMT_DOCKER_ARCHIVE:
		return "docker-archive";
	case EXPORT_FMT_OCI_ARCHIVE:
		return "oci-archive";
	case EXPORT_FMT_OCI:
		return "oci";
	case EXPORT_FMT_DIR:
		return "dir";
	default:
		return "tar";
	}
}

int export_format_from_name(const char *name)
{
	static const enum export_format all[] = {
		EXPORT_FMT_TAR, EXPORT_FMT_DIR, EXPORT_FMT_DOCKER_ARCHIVE, EXPORT_FMT_OCI_ARCHIVE,
		EXPORT_FMT_OCI,
	};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(name, format_name(all[i])) == 0)
			return (int)all[i];
	return -1;
}

int export_compress_from_name(const char *name)
{
	if (strcmp(name, "gzip") == 0)
		return EXPORT_COMPRESS_GZIP;
	if (strcmp(name, "zstd") == 0)
		return EXPORT_COMPRESS_ZSTD;
	if (strcmp(name, "none") == 0)
		return EXPORT_COMPRESS_NONE;
	return -1;
}

void oci_plan_free(struct oci_plan *p)
{
	free(p->ref);
	free(p->created);
	memset(p, 0, sizeof *p);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Seconds of an RFC 3339 time ("2024-01-02T03:04:05.123456789Z", "...+02:00"); -1 if
 * it is not one. */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t t;
	int hh, mm;

	if (p == NULL)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	t = (int64_t)timegm(&tm);
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return t;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2 &&
	    strlen(p) == 6)
		return *p == '+' ? t - hh * 3600 - mm * 60 : t + hh * 3600 + mm * 60;
	return -1;
}

/* c->plan.created: SOURCE_DATE_EPOCH (reproducible builds' variable) if set, else the
 * source config's own "created". */
static int plan_created(struct export_ctx *c, struct sfs_err *err)
{
	json_t *created = json_object_get(c->src->config, "created");

	if (c->sde >= 0) {
		time_t t = (time_t)c->sde;
		char buf[64];
		struct tm tm;

		strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		c->plan.created = strdup(buf);
		c->plan.created_sec = c->sde;
	} else if (json_is_string(created)) {
		int64_t t = parse_rfc3339(json_string_value(created));

		c->plan.created = strdup(json_string_value(created));
		c->plan.created_sec = t > 0 ? t : 0;
	} else {
		return 0;
	}
	return c->plan.created ? 0 : sfs_fail(err, ENOMEM, "image date");
}

int oci_prepare(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;

	c->format = o->format != EXPORT_FMT_AUTO ? o->format
		    : c->src ? EXPORT_FMT_OCI_ARCHIVE : EXPORT_FMT_TAR;
	if (!is_image_format(c->format)) {
		if (o->tag || o->compress_set)
			return sfs_fail(err, 0, "%s is for images; --format %s writes a tree",
					o->tag ? "--tag" : "--compression-format",
					format_name(c->format));
		return 0;
	}
	if (c->src == NULL)
		return sfs_fail(err, 0, "%s is not an image (no image config beside it): "
				"--format %s needs a trace of an image, or --from IMAGE",
				c->imagedir, format_name(c->format));
	if (o->format == EXPORT_FMT_AUTO && o->out &&
	    (has_suffix(o->out, ".gz") || has_suffix(o->out, ".tgz") ||
	     has_suffix(o->out, ".zst") || has_suffix(o->out, ".xz")))
		return sfs_fail(err, 0, "%s: an image archive is an uncompressed tar (its layer is "
				"compressed); for a compressed flat tarball add --format tar", o->out);
	c->plan.format = c->format;
	c->plan.compress = o->compress;
	if ((o->tag ? oci_ref_check(o->tag, &c->plan.ref, err)
		    : oci_ref_default(c->src->im, &c->plan.ref, err)) < 0)
		return -1;
	return plan_created(c, err);
}

/* A kept name that an image reader would take for a whiteout (image-spec layer.md,
 * "Whiteouts") cannot be written into a layer. */
static int check_names(struct export_ctx *c, struct sfs_err *err)
{
	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];
		const char *p = pent_path(&c->ps, e);
		size_t n = e->len, b = n;

		if (!pent_kept(e))
			continue;
		while (b > 0 && p[b - 1] != '/')
			b--;
		if (n - b >= 4 && memcmp(p + b, ".wh.", 4) == 0)
			return sfs_fail(err, 0, "%.*s: a name starting with .wh. would be read as a "
					"whiteout in an image layer; --exclude it", (int)n, p);
	}
	return 0;
}

/* ---- the archive ---------------------------------------------------------------- */

struct member {
	char name[32 + OCI_DIGEST_LEN];
	const char *data;   /* NULL: a directory, or the layer (fd >= 0) */
	size_t len;
	int fd;
};

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

static int add_member(struct export_ctx *c, struct archive *a, struct archive_entry *e,
		      const struct member *m, char *buf, struct sfs_err *err)
{
	const char *out = c->o->out;
	bool dir = m->data == NULL && m->fd < 0;
	struct stat st;

	archive_entry_clear(e);
	archive_entry_set_pathname(e, m->name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, c->plan.created_sec, 0);
	if (m->fd >= 0) {
		if (fstat(m->fd, &st) < 0 || lseek(m->fd, 0, SEEK_SET) < 0)
			return sfs_fail(err, errno, "%s: layer", out);
		archive_entry_set_size(e, st.st_size);
	} else if (!dir) {
		archive_entry_set_size(e, (la_int64_t)m->len);
	}
	if (archive_write_header(a, e) != ARCHIVE_OK)
		goto fail;
	if (m->data && archive_write_data(a, m->data, m->len) != (la_ssize_t)m->len)
		goto fail;
	if (m->fd >= 0) {
		for (off_t done = 0; done < st.st_size;) {
			ssize_t n = read(m->fd, buf, COPY_BUF);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return sfs_fail(err, n < 0 ? errno : 0, "%s: reading the layer back%s",
						out, n == 0 ? ": it shrank" : "");
			if (archive_write_data(a, buf, (size_t)n) != n)
				goto fail;
			done += n;
		}
	}
	if (archive_write_finish_entry(a) != ARCHIVE_OK)
		goto fail;
	return 0;
fail:
	return sfs_fail(err, 0, "%s: %s: %s", out, m->name,
			archive_error_string(a) ? archive_error_string(a) : "archive error");
}

static void blob_member(struct member *m, const char *digest, const char *data, size_t len,
			int fd)
{
	snprintf(m->name, sizeof m->name, "blobs/sha256/%s", digest + 7);
	m->data = data;
	m->len = len;
	m->fd = fd;
}

static void file_member(struct member *m, const char *name, const char *data, size_t len)
{
	snprintf(m->name, sizeof m->name, "%s", name);
	m->data = data;
	m->len = len;
	m->fd = -1;
}

/* The layout's members, written into the archive open on FD. */
static int write_members(struct export_ctx *c, int fd, int layerfd, const struct oci_blob *layer,
			 const struct oci_docs *d, struct sfs_err *err)
{
	struct member m[8];
	size_t n = 0;
	struct out_file o = { .fd = fd };
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	_cleanup_free_ char *buf = malloc(COPY_BUF);
	int ret = -1;

	if (a == NULL || e == NULL || buf == NULL) {
		sfs_fail(err, ENOMEM, "%s", c->o->out);
		goto out;
	}
	file_member(&m[n++], "blobs", NULL, 0);
	file_member(&m[n++], "blobs/sha256", NULL, 0);
	blob_member(&m[n++], d->config_blob.digest, d->config, d->config_len, -1);
	blob_member(&m[n++], layer->digest, NULL, 0, layerfd);
	file_member(&m[n++], "manifest.json", d->docker, d->docker_len);
	if (c->plan.format == EXPORT_FMT_OCI_ARCHIVE) {
		blob_member(&m[n++], d->manifest_blob.digest, d->manifest, d->manifest_len, -1);
		file_member(&m[n++], "index.json", d->index, d->index_len);
		file_member(&m[n++], "oci-layout", OCI_LAYOUT, strlen(OCI_LAYOUT));
	}
	qsort(m, n, sizeof m[0], cmp_member);
	if (write_tar_format(a) != ARCHIVE_OK ||
	    archive_write_open2(a, &o, NULL, out_file_write, NULL, NULL) != ARCHIVE_OK) {
		sfs_fail(err, 0, "%s: %s", c->o->out, archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (add_member(c, a, e, &m[i], buf, err) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		sfs_fail(err, 0, "%s: %s", c->o->out, archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	if (a)
		archive_write_free(a);
	archive_entry_free(e);
	return ret;
}

/* An unnamed file in DIR for the layer (a named one, unlinked at once, where the file
 * system has no O_TMPFILE): nothing is left behind, whatever happens. */
static int layer_tmpfile(const char *dir, struct sfs_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : sfs_fail(err, errno, "%s: temporary layer file", dir);
	if (asprintf(&tmp, "%s/.slimfs-layer-XXXXXX", dir) < 0)
		return sfs_fail(err, ENOMEM, "%s", dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sfs_fail(err, errno, "%s: temporary layer file", dir);
	unlink(tmp);
	return fd;
}

static int write_archive(struct export_ctx *c, struct sfs_err *err)
{
	struct tmp_out t;
	_cleanup_close_ int layerfd = -1;
	struct oci_docs d = { 0 };
	struct oci_blob layer;
	char diff_id[OCI_DIGEST_LEN + 1];
	int ret = -1;

	if (tmp_out_open(&t, c->o->out, false, err) < 0)
		return -1;
	if ((layerfd = layer_tmpfile(t.dir, err)) >= 0 &&
	    layer_write(c, layerfd, c->plan.compress, false, &layer, diff_id, err) == 0 &&
	    oci_docs_make(c, &layer, diff_id, &d, err) == 0 &&
	    write_members(c, t.fd, layerfd, &layer, &d, err) == 0)
		ret = tmp_out_commit(&t, err);
	tmp_out_close(&t);
	oci_docs_free(&d);
	return ret;
}

/* ---- the layout directory ------------------------------------------------------- */

static int write_file(int dfd, const char *name, const char *data, size_t len,
		      const char *out, struct sfs_err *err)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return sfs_fail(err, errno, "%s: %s", out, name);
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sfs_fail(err, errno, "%s: %s", out, name);
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		return sfs_fail(err, errno, "%s: %s", out, name);
	return 0;
}

static int fill_layout(struct export_ctx *c, const char *tmp, struct sfs_err *err)
{
	const char *out = c->o->out;
	_cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC), bfd = -1;
	_cleanup_close_ int lfd = -1;
	struct oci_docs d = { 0 };
	struct oci_blob layer;
	char diff_id[OCI_DIGEST_LEN + 1];
	int ret = -1;

	if (dfd < 0 || mkdirat(dfd, "blobs", 0755) < 0 || mkdirat(dfd, "blobs/sha256", 0755) < 0 ||
	    (bfd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (lfd = openat(bfd, ".layer.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return sfs_fail(err, errno, "%s", out);
	if (layer_write(c, lfd, c->plan.compress, true, &layer, diff_id, err) < 0)
		return -1;
	if (fsync(lfd) < 0 || renameat(bfd, ".layer.tmp", bfd, layer.digest + 7) < 0)
		return sfs_fail(err, errno, "%s: layer", out);
	if (oci_docs_make(c, &layer, diff_id, &d, err) < 0)
		return -1;
	if (write_file(bfd, d.config_blob.digest + 7, d.config, d.config_len, out, err) == 0 &&
	    write_file(bfd, d.manifest_blob.digest + 7, d.manifest, d.manifest_len, out,
		       err) == 0 &&
	    write_file(dfd, "index.json", d.index, d.index_len, out, err) == 0 &&
	    write_file(dfd, "oci-layout", OCI_LAYOUT, strlen(OCI_LAYOUT), out, err) == 0)
		ret = 0;
	oci_docs_free(&d);
	return ret;
}

static int write_layout(struct export_ctx *c, struct sfs_err *err)
{
	struct tmp_out t;
	mode_t um = umask(0);
	int ret = -1;

	umask(um);
	if (tmp_out_open(&t, c->o->out, true, err) < 0)
		return -1;
	if (chmod(t.path, 0777 & ~um) < 0)
		sfs_fail(err, errno, "%s", c->o->out);
	else if (fill_layout(c, t.path, err) == 0)
		ret = tmp_out_commit(&t, err);
	tmp_out_close(&t);
	return ret;
}

int oci_write(struct export_ctx *c, struct sfs_err *err)
{
	if (check_names(c, err) < 0)
		return -1;
	return c->plan.format == EXPORT_FMT_OCI ? write_layout(c, err) : write_archive(c, err);
}
