/* internal.h — the pieces image/ is made of; img.h is the public face.
 *
 *   digest.c    sha256 digests (EVP), "sha256:<hex>" strings
 *   platform.c  os/arch/variant: the host's, parsing, matching
 *   json.c      the readers of untrusted JSON: index, manifest, config, docker
 *               manifest.json (jansson; pure, so tests/fuzz drives them directly)
 *   source.c    where blobs come from: a layout directory or an archive's members
 *   select.c    from index.json (or manifest.json) to one manifest, its config, layers
 *   layer.c     one layer blob: decompressed, digest and diff_id checked, applied
 *   apply.c     one tar entry applied to the tree: whiteouts, replacement, hardlinks
 *   strset.c    a set of paths (what the current layer created)
 *   cache.c     the cache entry, img_open and friends
 */
#ifndef SLIMFS_IMAGE_INTERNAL_H
#define SLIMFS_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "img.h"

#define JSON_MAX (4 << 20)              /* index, manifest, manifest.json: as containerd */
#define CONFIG_MAX (32 << 20)           /* configs carry history; still bounded */
#define INDEX_DEPTH 8                   /* nested indexes followed at most */

/* image-spec media-types.md, and Docker's equivalents (conversion.md). */
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"

/* ---- digest.c (the sha256 hasher is in img.h: export/ uses it too) ---- */

bool digest_valid(const char *s);       /* "sha256:" + 64 lowercase hex */

/* ---- platform.c ---- */

#define PLATFORM_WORD 32
#define PLATFORM_SIZE 96

struct platform {
	char os[PLATFORM_WORD], arch[PLATFORM_WORD], variant[PLATFORM_WORD];
};

void platform_host(struct platform *p);
int platform_parse(const char *s, struct platform *p, struct sfs_err *err);
void platform_format(const struct platform *p, char out[PLATFORM_SIZE]);
bool platform_unknown(const struct platform *p);
bool platform_match(const struct platform *want, const struct platform *have);
bool platform_exact(const struct platform *want, const struct platform *have);

/* ---- json.c ---- */

/* A descriptor (descriptor.md), with what selection needs of its annotations. */
struct desc {
	char *media_type;       /* NULL when absent */
	char digest[DIGEST_SIZE];
	int64_t size;
	char *ref_name;         /* annotation org.opencontainers.image.ref.name */
	char *image_name;       /* annotation io.containerd.image.name (Docker 25+) */
	bool has_platform;
	struct platform platform;
	bool attestation;       /* vnd.docker.reference.type: attestation-manifest */
};

struct manifest {
	char *media_type;       /* of the document itself, NULL when absent */
	struct desc config;
	struct desc *layers;
	size_t nlayers;
};

/* What a run and the cache need of a config besides img_config. */
struct config_info {
	char **diff_ids;        /* rootfs.diff_ids, all valid sha256 digests */
	size_t ndiff_ids;
};

/* One image of a docker-archive's manifest.json. */
struct docker_item {
	char *config;           /* member name of the config */
	char **layers;          /* member names, base layer first */
	size_t nlayers;
	char *tag;              /* the RepoTags entry REF matched, or the first, or NULL */
};

/* Each reader parses BUF (LEN bytes, untrusted) and fills its output, or fails with
 * one line naming WHAT.  Outputs are freed with the matching *_free, also after a
 * failure. */
int index_parse(const char *buf, size_t len, const char *what, struct desc **out, size_t *n,
		struct sfs_err *err);
int manifest_parse(const char *buf, size_t len, const char *what, struct manifest *m,
		   struct sfs_err *err);
int config_parse(const char *buf, size_t len, const char *what, struct img_config *c,
		 struct config_info *ci, struct sfs_err *err);
/* REF (may be NULL) selects the item whose RepoTags hold it; without REF there must be
 * exactly one item. */
int docker_manifest_parse(const char *buf, size_t len, const char *what, const char *ref,
			  struct docker_item *it, struct sfs_err *err);

void desc_free(struct desc *d);
void descs_free(struct desc *d, size_t n);
void manifest_free(struct manifest *m);
void config_info_free(struct config_info *ci);
void docker_item_free(struct docker_item *it);
void strv_free(char **v);

/* REF names NAME: equal, or (DOCKER) equal as Docker names, where "foo" stands for
 * "docker.io/library/foo:latest". */
bool ref_equal(const char *ref, const char *name, bool docker);

bool mt_is_index(const char *mt);
bool mt_is_manifest(const char *mt);
bool mt_is_config(const char *mt);

/* ---- source.c ---- */

struct member;

struct src {
	enum img_format format;
	const char *name;       /* as the user gave it: messages */
	int dirfd;              /* IMG_FMT_OCI: the layout directory; else -1 */
	int fd;                 /* archives: the file; else -1 */
	struct member *members; /* archives: every regular, link or directory member */
	size_t nmembers;
	bool has_layout;        /* oci-layout + index.json */
	bool has_docker;        /* manifest.json */
};

/* Open PATH: 1 when it is an image layout directory or an image archive (S filled), 0
 * when it is something else (nothing kept), -1 on error (an image that cannot be read). */
int src_open(struct src *s, const char *path, const char *name, struct sfs_err *err);
void src_close(struct src *s);
bool src_has(const struct src *s, const char *file);

/* A member (or layout file) read from start to end; chunks point into buffers of the
 * stream, valid until the next call. */
struct stream {
	const struct src *src;
	struct archive *a;      /* archives: positioned on the member */
	int fd;                 /* layout directories */
	int64_t size;           /* as the archive or fstat says */
	int64_t offset;         /* bytes handed out */
	char *buf;              /* layout directories: read buffer */
	const char *file;       /* for messages */
};

int stream_open(struct stream *st, const struct src *s, const char *file, struct sfs_err *err);
/* Next chunk in *BUF: its length, 0 at the end, -1 with ERR. */
ssize_t stream_read(struct stream *st, const void **buf, struct sfs_err *err);
void stream_close(struct stream *st);

/* The whole of FILE into *BUF (NUL-terminated, malloc'd): at most MAX bytes. */
int src_read_file(const struct src *s, const char *file, size_t max, char **buf, size_t *len,
		  struct sfs_err *err);

/* "blobs/sha256/<hex>" of DIGEST (which digest_valid accepted). */
void blob_path(const char *digest, char out[128]);

/* The blob DESC names, read whole (at most MAX bytes) and checked against its digest
 * and size; WHAT names it in errors ("manifest", "config"). */
int src_read_blob(const struct src *s, const struct desc *d, const char *what, size_t max,
		  char **buf, size_t *len, struct sfs_err *err);

/* ---- select.c ---- */

/* What an image source resolves to: the manifest to unpack and what it names. */
struct selection {
	char *manifest_json;    /* its bytes (a classic docker-archive: synthesized) */
	size_t manifest_len;
	char manifest_digest[DIGEST_SIZE];
	struct manifest m;
	char *config_json;
	size_t config_len;
	struct img_config config;
	struct config_info ci;
	char platform[PLATFORM_SIZE];
	char *reference;        /* REF as matched (or NULL) */
	char **layer_files;     /* classic docker-archive: the member of each layer */
};

/* Pick the image of S that REF (may be NULL) and PLATFORM (NULL: the host's) name,
 * and read its manifest and config, every blob checked. */
int select_image(const struct src *s, const char *ref, const char *platform,
		 const char *prog, struct selection *sel, struct sfs_err *err);
void selection_free(struct selection *sel);

/* ---- strset.c ---- */

struct strset {
	char **slots;
	size_t cap, n;
};

/* Add S[0..LEN) (copied); true if it was new.  Aborts when out of memory. */
bool strset_add(struct strset *set, const char *s, size_t len);
bool strset_has(const struct strset *set, const char *s, size_t len);
void strset_clear(struct strset *set);

/* ---- layer.c ---- */

enum layer_comp { LAYER_UNKNOWN, LAYER_TAR, LAYER_GZIP, LAYER_ZSTD, LAYER_SNIFF };

/* The compression a layer media type names; LAYER_UNKNOWN for any other type. */
enum layer_comp layer_compression(const char *mt);

/* The length of FILE of S decompressed (gzip or zstd recognised). */
int layer_uncompressed_size(const struct src *s, const char *file, int64_t *size,
			    struct sfs_err *err);

/* Unpack the layers of SEL from S onto the tree at ROOTFD, in order (layer.md
 * "Applying Changesets"), checking each blob's digest and size and each decompressed
 * stream against rootfs.diff_ids. */
int layers_apply(const struct src *s, const struct selection *sel, int rootfd,
		 const struct img_opts *o, struct sfs_err *err);

/* ---- apply.c ---- */

struct applier;
struct archive;
struct archive_entry;

int applier_new(struct applier **out, int rootfd, const char *prog, struct sfs_err *err);
/* A new layer begins; WHAT names it in messages (kept, not copied). */
void applier_layer(struct applier *ap, const char *what);
/* Apply entry E of A.  -1 with ERR; -2 with ERR when E's data could not be read (the
 * blob's fault, not the entry's). */
int applier_entry(struct applier *ap, struct archive *a, struct archive_entry *e,
		  struct sfs_err *err);
/* The layer's entries are all applied: set its directories' times. */
int applier_layer_end(struct applier *ap, struct sfs_err *err);
/* Warns once about device nodes unpacked from SRC (NULL: the unpack failed, no word). */
void applier_free(struct applier *ap, const char *src);

#endif
