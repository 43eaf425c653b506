/* oci.h — the lean tree as a container image (export-internal).
 *
 * A trace recorded from an image names, as its lowerdir, the root file system of an
 * image cache entry: CACHE/images/<64 hex>/rootfs with config.json (the image config
 * blob, byte for byte) and image.json (slimfs's record of where the image came from)
 * beside it.  Export writes such a trace as an image: one layer holding the lean tree,
 * the original config with that layer as its only diff_id, the original history kept
 * (as empty layers) plus one entry for slimfs.  docs/image-export.md says why the
 * archive looks as it does.
 *
 * Stages: oci_source_find (evidence.c, once export has decided which image root to
 * trust) finds the entry; oci_prepare (export.c, before the closure) settles the
 * format, the tag and the creation time, so bad options fail fast; oci_write writes.
 *
 *   ocisrc.c     the cache entry: which one, its config.json and image.json
 *   ociref.c     image names: --tag checked, the default tag made
 *   ociconfig.c  the lean config, manifest, index and docker manifest.json (jansson)
 *   layer.c      the layer: tar (write.c's members) -> diff_id -> compressor -> digest
 *   oci.c        the archive or the layout directory, written atomically
 */
#ifndef SLIMFS_EXPORT_OCI_H
#define SLIMFS_EXPORT_OCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "export.h"
#include "image/img.h"

struct export_ctx;

#define OCI_DIGEST_LEN 71   /* "sha256:" + 64 hex */
_Static_assert(OCI_DIGEST_LEN + 1 == DIGEST_SIZE, "one digest size (image/img.h)");

/* An image cache entry export was told to (or chose to) trust. */
struct oci_source {
	struct img *im;          /* as the image library read it: entry, reference, digests */
	json_t *config;          /* its config.json, parsed (an object) */
};

void oci_source_free(struct oci_source *s);

/* Decide whether the image root export is about to read (c->imagedir, from --from or
 * the runs' lowerdir) is the rootfs of an image cache entry (CACHE/images/<64 hex>/rootfs,
 * CACHE being $SLIMFS_CACHE or /var/cache/slimfs, after realpath: img_from_rootfs), and
 * load its config into c->src.  --from may also name the entry directory itself; then
 * c->imagedir becomes its rootfs.  Anything else leaves c->src NULL: a plain directory.
 * 0, or -1 with ERR (a broken entry). */
int oci_source_find(struct export_ctx *c, struct sfs_err *err);

/* A checked image name: "NAME:TAG" (TAG "latest" when REF has none).  A one-line
 * error for anything docker and podman would refuse: upper case in the path, an empty
 * component, a digest, a tag longer than 128 characters, ...  0 or -1. */
int oci_ref_check(const char *ref, char **out, struct sfs_err *err);

/* The default name of the lean image of IM: its reference with "-slim" appended to its
 * tag ("localhost/app:1.0" -> "localhost/app:1.0-slim", no tag: latest-slim); an image
 * with no usable name gets "localhost/slimfs:<12 hex of its manifest digest>-slim". */
int oci_ref_default(const struct img *im, char **out, struct sfs_err *err);

/* What is settled before the closure (oci_prepare) and used by the writer. */
struct oci_plan {
	enum export_format format;      /* one of the three image formats */
	enum export_compress compress;
	char *ref;                      /* "NAME:TAG" */
	char *created;                  /* RFC 3339, or NULL when neither
					 * SOURCE_DATE_EPOCH nor the source says */
	int64_t created_sec;            /* the same in seconds (0 if NULL): the mtime of
					 * the archive's own members */
};

void oci_plan_free(struct oci_plan *p);

/* Resolve o->format for c (AUTO: oci-archive for an image, tar otherwise) and, for
 * the image formats, fill c->plan.  One-line errors for an image format without an
 * image, --tag or --compression-format without an image format, a bad tag, a bad
 * SOURCE_DATE_EPOCH.  0 or -1. */
int oci_prepare(struct export_ctx *c, struct sfs_err *err);

/* One blob: its digest and size. */
struct oci_blob {
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
};

/* Write the kept paths as one layer into FD (compressed as COMPRESS), computing in the
 * same pass the diff_id (sha256 of the tar) and the blob's digest and size.  The tar is
 * byte for byte what `--format tar -o x.tar` writes.  SYNC: FD is where the blob stays
 * (start writeback as it goes).  0 or -1. */
int layer_write(struct export_ctx *c, int fd, enum export_compress compress, bool sync,
		struct oci_blob *blob, char diff_id[OCI_DIGEST_LEN + 1], struct sfs_err *err);

/* The JSON documents of the lean image, each serialised compactly and reproducibly. */
struct oci_docs {
	char *config, *manifest, *index, *docker;   /* docker: NULL for an oci directory */
	size_t config_len, manifest_len, index_len, docker_len;
	struct oci_blob config_blob, manifest_blob;
};

void oci_docs_free(struct oci_docs *d);

/* Build the lean config from SRC, the manifest, the index and (archives) the docker
 * manifest.json around LAYER (with DIFF_ID).  0 or -1. */
int oci_docs_make(struct export_ctx *c, const struct oci_blob *layer, const char *diff_id,
		  struct oci_docs *d, struct sfs_err *err);

/* Write the image (c->plan) to c->o->out.  0 or -1; nothing is left on failure. */
int oci_write(struct export_ctx *c, struct sfs_err *err);

#endif
