/* layer.c — the lean tree as one image layer, digested while it is written.
 *
 * Two libarchive writers in a chain, one pass over the data:
 *
 *   write_tree()  --tar-->  on_tar: sha256 (diff_id)  --> compressor (libarchive's
 *   "raw" format with the gzip or zstd filter)  --> on_blob: sha256 (the blob's digest),
 *   size, write(2) to FD
 *
 * The tar is written exactly as write.c writes a flat .tar (same member code, pax
 * format, 1 MiB blocks, no padding after the end-of-archive blocks), so the layer's
 * diff_id is the sha256 of `slimfs-export --format tar -o x.tar`.  gzip carries no
 * name and no timestamp; zstd runs single-threaded: the same tree gives the same blob.
 * With no compression the tar goes to on_blob directly (diff_id = digest).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ctx.h"

struct layer {
	struct archive *z;       /* the compressor, NULL for none */
	struct hasher diff, blob;       /* of the tar, of the blob */
	struct out_file out;     /* the blob */
};

/* The compressed bytes: digest, then out_file_write. */
static la_ssize_t on_blob(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer *l = ctx;

	hasher_update(&l->blob, buf, len);
	return out_file_write(a, &l->out, buf, len);
}

/* The tar's bytes: digest, then on to the compressor. */
static la_ssize_t on_tar(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer *l = ctx;
	size_t done = 0;

	hasher_update(&l->diff, buf, len);
	if (l->z == NULL)
		return on_blob(a, ctx, buf, len);
	while (done < len) {
		la_ssize_t n = archive_write_data(l->z, (const char *)buf + done, len - done);

		if (n <= 0) {
			archive_set_error(a, archive_errno(l->z) ? archive_errno(l->z) : EIO, "%s",
					  archive_error_string(l->z) ? archive_error_string(l->z)
								     : "compressing the layer");
			return -1;
		}
		done += (size_t)n;
	}
	return (la_ssize_t)len;
}

/* "OUT: layer: libarchive's message" */
static int fail_archive(struct export_ctx *c, struct archive *a, struct sfs_err *err)
{
	const char *msg = a ? archive_error_string(a) : NULL;

	return sfs_fail(err, a ? 0 : ENOMEM, "%s: layer: %s", c->o->out,
			msg ? msg : "archive error");
}

static int open_compressor(struct export_ctx *c, struct layer *l,
			   enum export_compress compress, struct sfs_err *err)
{
	struct archive_entry *e;
	int r;

	l->z = archive_write_new();
	if (l->z == NULL)
		return fail_archive(c, NULL, err);
	r = archive_write_set_format_raw(l->z);
	if (r == ARCHIVE_OK && compress == EXPORT_COMPRESS_ZSTD)
		r = archive_write_add_filter_zstd(l->z);
	else if (r == ARCHIVE_OK) {
		r = archive_write_add_filter_gzip(l->z);
		/* no mtime in the gzip header (and libarchive writes no name) */
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(l->z, "gzip", "timestamp", NULL);
	}
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_per_block(l->z, OUT_BLOCK);
	if (r == ARCHIVE_OK)   /* no zero padding after the compressed stream */
		r = archive_write_set_bytes_in_last_block(l->z, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(l->z, l, NULL, on_blob, NULL, NULL);
	if (r != ARCHIVE_OK)
		return fail_archive(c, l->z, err);
	/* the raw format writes the data of exactly one regular-file entry */
	e = archive_entry_new();
	if (e == NULL)
		return fail_archive(c, NULL, err);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "layer.tar");
	r = archive_write_header(l->z, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : fail_archive(c, l->z, err);
}

int layer_write(struct export_ctx *c, int fd, enum export_compress compress, bool sync,
		struct oci_blob *blob, char diff_id[OCI_DIGEST_LEN + 1], struct sfs_err *err)
{
	struct layer l = { .out = { .fd = fd, .temporary = !sync } };
	struct archive *t = NULL;
	int ret = -1;

	if (hasher_init(&l.diff, err) < 0 || hasher_init(&l.blob, err) < 0)
		goto out;
	if (compress != EXPORT_COMPRESS_NONE && open_compressor(c, &l, compress, err) < 0)
		goto out;
	t = archive_write_new();
	if (t == NULL || write_tar_format(t) != ARCHIVE_OK ||
	    archive_write_open2(t, &l, NULL, on_tar, NULL, NULL) != ARCHIVE_OK) {
		fail_archive(c, t, err);
		goto out;
	}
	if (write_tree(c, t, err) < 0)
		goto out;
	if (archive_write_close(t) != ARCHIVE_OK) {
		fail_archive(c, t, err);
		goto out;
	}
	if (l.z && archive_write_close(l.z) != ARCHIVE_OK) {
		fail_archive(c, l.z, err);
		goto out;
	}
	hasher_final(&l.diff, diff_id);
	hasher_final(&l.blob, blob->digest);
	blob->size = (uint64_t)l.out.written;
	ret = 0;
out:
	if (t)
		archive_write_free(t);
	if (l.z)
		archive_write_free(l.z);
	hasher_free(&l.diff);
	hasher_free(&l.blob);
	return ret;
}
