/* layer.c — layer blobs, read once: decompressed, checked, applied (apply.c).
 *
 * One layer streams through three libarchive readers, all reading from memory that
 * was hashed on its way:
 *
 *   blob bytes (stream_read)  --sha256: the blob's digest and size (descriptor.md)-->
 *   "raw" reader + the filter the media type names (gzip, zstd, none)
 *                             --sha256: the diff_id (config.md "rootfs")-->
 *   tar reader --> entries --> applier_entry
 *
 * When the tar ends, the rest of both streams is drained (and hashed), so the digests
 * cover every byte.  A layer whose data is bad (a corrupt gzip, a broken tar) is
 * reported as a digest mismatch when its blob does not hash to its digest, since that
 * is the cause; everything is unpacked into the temporary entry, which the caller
 * removes on any failure.
 *
 * Media types (image-spec media-types.md, layer.md; Docker's from conversion.md): the
 * compression is the one the type names and is checked, except in a classic
 * docker-archive, where layer tarballs carry no type and gzip or zstd is recognised.
 */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

static const struct {
	const char *mt;
	enum layer_comp comp;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", LAYER_TAR },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", LAYER_GZIP },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", LAYER_ZSTD },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_TAR },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_GZIP },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_ZSTD },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_GZIP },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_GZIP },
	{ "application/vnd.docker.image.rootfs.diff.tar", LAYER_TAR },
};

enum layer_comp layer_compression(const char *mt)
{
	for (size_t i = 0; mt && i < sizeof layer_types / sizeof layer_types[0]; i++)
		if (!strcmp(mt, layer_types[i].mt))
			return layer_types[i].comp;
	return LAYER_UNKNOWN;
}

/* The streams of one layer. */
struct pipe {
	struct stream raw;
	struct hasher blob_md, diff_md;
	struct archive *dec;            /* raw format + decompression */
	struct sfs_err rerr;            /* what failed inside a read callback */
	bool rfailed;
};

static la_ssize_t raw_cb(struct archive *a, void *ctx, const void **buf)
{
	struct pipe *p = ctx;
	ssize_t n = stream_read(&p->raw, buf, &p->rerr);

	if (n < 0) {
		p->rfailed = true;
		archive_set_error(a, EIO, "%s", p->rerr.msg);
		return -1;
	}
	hasher_update(&p->blob_md, *buf, (size_t)n);
	return n;
}

static la_ssize_t dec_cb(struct archive *a, void *ctx, const void **buf)
{
	struct pipe *p = ctx;
	size_t size;
	la_int64_t off;
	int r = archive_read_data_block(p->dec, buf, &size, &off);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
		archive_set_error(a, EIO, "%s", archive_error_string(p->dec) ?: "cannot decompress");
		return -1;
	}
	hasher_update(&p->diff_md, *buf, size);
	return (la_ssize_t)size;
}

static int filter_code(enum layer_comp c)
{
	return c == LAYER_GZIP ? ARCHIVE_FILTER_GZIP : c == LAYER_ZSTD ? ARCHIVE_FILTER_ZSTD
								      : ARCHIVE_FILTER_NONE;
}

static const char *comp_name(enum layer_comp c)
{
	return c == LAYER_GZIP ? "gzip" : c == LAYER_ZSTD ? "zstd" : "tar";
}

/* Open the decompressing reader on the raw stream. */
static int dec_open(struct pipe *p, enum layer_comp comp, const char *what, struct sfs_err *err)
{
	struct archive_entry *e;
	int r;

	p->dec = archive_read_new();
	if (!p->dec)
		return sfs_fail(err, ENOMEM, "%s", what);
	archive_read_support_format_raw(p->dec);
	if (comp == LAYER_GZIP || comp == LAYER_SNIFF)
		archive_read_support_filter_gzip(p->dec);
	if (comp == LAYER_ZSTD || comp == LAYER_SNIFF)
		archive_read_support_filter_zstd(p->dec);
	if (archive_read_open(p->dec, p, NULL, raw_cb, NULL) != ARCHIVE_OK)
		return sfs_fail(err, 0, "%s: %s", what,
				p->rfailed ? p->rerr.msg : archive_error_string(p->dec) ?: "cannot read");
	if (comp != LAYER_SNIFF && archive_filter_code(p->dec, 0) != filter_code(comp))
		return sfs_fail(err, 0, "%s: not %s data, as its media type says", what,
				comp_name(comp));
	r = archive_read_next_header(p->dec, &e);
	if (r != ARCHIVE_OK && r != ARCHIVE_EOF)
		return sfs_fail(err, 0, "%s: %s", what, archive_error_string(p->dec) ?: "cannot read");
	return 0;
}

/* Hash what the tar reader left of both streams. */
static int drain(struct pipe *p, struct sfs_err *err)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	ssize_t n;
	int r;

	while ((r = archive_read_data_block(p->dec, &buf, &size, &off)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN)
		hasher_update(&p->diff_md, buf, size);
	if (r != ARCHIVE_EOF)
		return sfs_fail(err, 0, "%s", p->rfailed ? p->rerr.msg
						       : archive_error_string(p->dec) ?: "cannot read");
	while ((n = stream_read(&p->raw, &buf, err)) > 0)
		hasher_update(&p->blob_md, buf, (size_t)n);
	return n < 0 ? -1 : 0;
}

/* Only the blob's own bytes, hashed, after something went wrong reading it. */
static void drain_raw(struct pipe *p)
{
	struct sfs_err ignored;
	const void *buf;
	ssize_t n;

	while ((n = stream_read(&p->raw, &buf, &ignored)) > 0)
		hasher_update(&p->blob_md, buf, (size_t)n);
}

/* One layer: FILE of S, compressed as COMP; DIGEST (may be NULL: a classic docker
 * layer not named by its digest) and SIZE (< 0: unknown) of the blob, DIFF_ID of its
 * tar.  WHAT names it in messages. */
static int layer_one(const struct src *s, struct applier *ap, const char *file,
		     enum layer_comp comp, const char *digest, int64_t size, const char *diff_id,
		     const char *what, int (*interrupted)(void), struct sfs_err *err)
{
	size_t entries = 0;
	int sig;
	struct pipe p = { 0 };
	struct archive *tar = NULL;
	struct archive_entry *e;
	struct sfs_err e2 = { 0 };
	char got[DIGEST_SIZE];
	int r, ret = -1;

	if (stream_open(&p.raw, s, file, &e2) < 0) {
		if (e2.code == ENOENT)
			return sfs_fail(err, 0, "%s: missing blob", what);
		*err = e2;
		return -1;
	}
	if (hasher_init(&p.blob_md, err) < 0 || hasher_init(&p.diff_md, err) < 0)
		goto out;
	if (dec_open(&p, comp, what, err) < 0)
		goto bad;
	tar = archive_read_new();
	if (!tar) {
		sfs_fail(err, ENOMEM, "%s", what);
		goto out;
	}
	archive_read_support_format_tar(tar);
	if (archive_read_open(tar, &p, NULL, dec_cb, NULL) != ARCHIVE_OK) {
		sfs_fail(err, 0, "%s: %s", what, archive_error_string(tar) ?: "not a tar archive");
		goto bad;
	}
	applier_layer(ap, what);
	while ((r = archive_read_next_header(tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (interrupted && (++entries & 63) == 0 && (sig = interrupted())) {
			sfs_fail(err, 0, "%s: interrupted by signal %d while unpacking it", s->name, sig);
			goto out;
		}
		r = applier_entry(ap, tar, e, err);
		if (r == -2)            /* its data did not read: the blob's fault */
			goto bad;
		if (r < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		sfs_fail(err, 0, "%s: %s", what, archive_error_string(tar) ?: "not a tar archive");
		goto bad;
	}
	if (applier_layer_end(ap, err) < 0)
		goto out;
	if (drain(&p, err) < 0) {
		sfs_wrap(err, "%s", what);
		goto bad;
	}
	hasher_final(&p.blob_md, got);
	if (digest && strcmp(got, digest) != 0) {
		sfs_fail(err, 0, "%s: digest mismatch (the blob's is %s)", what, got);
		goto out;
	}
	if (size >= 0 && p.blob_md.n != (uint64_t)size) {
		sfs_fail(err, 0, "%s: size mismatch (%llu bytes, the descriptor says %lld)", what,
			 (unsigned long long)p.blob_md.n, (long long)size);
		goto out;
	}
	hasher_final(&p.diff_md, got);
	if (strcmp(got, diff_id) != 0) {
		sfs_fail(err, 0, "%s: diff_id mismatch (its tar's is %s, the config says %s)", what,
			 got, diff_id);
		goto out;
	}
	ret = 0;
	goto out;
bad:
	/* the data did not read as a layer: a blob that is not the one named says so */
	if (digest && p.blob_md.ctx) {
		drain_raw(&p);
		hasher_final(&p.blob_md, got);
		if (strcmp(got, digest) != 0)
			sfs_fail(err, 0, "%s: digest mismatch (the blob's is %s)", what, got);
	}
out:
	if (tar)
		archive_read_free(tar);
	if (p.dec)
		archive_read_free(p.dec);
	stream_close(&p.raw);
	hasher_free(&p.blob_md);
	hasher_free(&p.diff_md);
	return ret;
}

/* "<hex>.tar" or "blobs/sha256/<hex>": a classic layer member named by its digest. */
static bool named_by_digest(const char *file, char out[DIGEST_SIZE])
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

	if (strspn(base, "0123456789abcdef") != 64 ||
	    (base[64] && strcmp(base + 64, ".tar")) || (!base[64] && strncmp(file, "blobs/sha256/", 13)))
		return false;
	snprintf(out, DIGEST_SIZE, "sha256:%.64s", base);
	return true;
}

int layers_apply(const struct src *s, const struct selection *sel, int rootfd,
		 const struct img_opts *o, struct sfs_err *err)
{
	int (*interrupted)(void) = o ? o->interrupted : NULL;
	struct applier *ap;
	int ret = 0, sig;

	if (applier_new(&ap, rootfd, o && o->prog ? o->prog : "slimfs", err) < 0)
		return -1;
	for (size_t i = 0; i < sel->m.nlayers && ret == 0; i++) {
		const struct desc *d = &sel->m.layers[i];
		char what[4200], path[128], named[DIGEST_SIZE];

		if (interrupted && (sig = interrupted())) {
			ret = sfs_fail(err, 0, "%s: interrupted by signal %d while unpacking it", s->name,
				       sig);
			break;
		}

		if (sel->layer_files) {
			bool by_digest = named_by_digest(sel->layer_files[i], named);

			snprintf(what, sizeof what, "%s: layer %s (%zu of %zu)", s->name,
				 sel->layer_files[i], i + 1, sel->m.nlayers);
			ret = layer_one(s, ap, sel->layer_files[i], LAYER_SNIFF,
					by_digest ? named : NULL, -1, sel->ci.diff_ids[i], what, interrupted,
					err);
		} else {
			snprintf(what, sizeof what, "%s: layer %s (%zu of %zu)", s->name, d->digest, i + 1,
				 sel->m.nlayers);
			blob_path(d->digest, path);
			ret = layer_one(s, ap, path, layer_compression(d->media_type), d->digest, d->size,
					sel->ci.diff_ids[i], what, interrupted, err);
		}
	}
	applier_free(ap, ret == 0 ? s->name : NULL);
	return ret;
}

int layer_uncompressed_size(const struct src *s, const char *file, int64_t *size,
			    struct sfs_err *err)
{
	struct pipe p = { 0 };
	const void *buf;
	size_t n;
	la_int64_t off;
	int r, ret = -1;
	char what[4200];

	snprintf(what, sizeof what, "%s: layer %s", s->name, file);
	if (stream_open(&p.raw, s, file, err) < 0)
		return -1;
	if (hasher_init(&p.blob_md, err) < 0 || dec_open(&p, LAYER_SNIFF, what, err) < 0)
		goto out;
	*size = 0;
	while ((r = archive_read_data_block(p.dec, &buf, &n, &off)) == ARCHIVE_OK || r == ARCHIVE_WARN)
		*size += (int64_t)n;
	if (r != ARCHIVE_EOF) {
		sfs_fail(err, 0, "%s: %s", what, archive_error_string(p.dec) ?: "cannot decompress");
		goto out;
	}
	ret = 0;
out:
	if (p.dec)
		archive_read_free(p.dec);
	stream_close(&p.raw);
	hasher_free(&p.blob_md);
	return ret;
}
