/* img.h — container images as slimfs reads them: OCI image layouts, `oci-archive`
 * tarballs and `docker save` / `podman save` archives, flattened once into the image
 * cache with every digest checked, and their config.
 *
 * The forms (docs/images.md says which rules of the image-spec apply where):
 *   - an OCI image layout directory (oci-layout, index.json, blobs/);
 *   - an oci-archive: a tarball of such a layout;
 *   - a docker-archive: `docker save` / `podman save` output, classic (manifest.json,
 *     <id>.json config, layer tarballs gzipped or not) or Docker 25+ (an OCI layout
 *     inside, manifest.json pointing at blobs/sha256/...).
 * "PATH:REF" selects the manifest whose org.opencontainers.image.ref.name is REF (or, in
 * a docker-archive, whose RepoTags hold REF); PATH is tried whole first, so a path may
 * hold ':'.  A multi-platform index gives the manifest of the platform asked for (the
 * host's by default); attestation manifests (unknown/unknown) are never chosen.
 *
 * The cache (INTERFACES: one entry per image, keyed by the selected manifest's sha256):
 *   CACHE/images/<64 hex>/rootfs/        the merged layers: what slimfs mounts
 *   CACHE/images/<64 hex>/config.json    the image config, byte for byte
 *   CACHE/images/<64 hex>/manifest.json  the selected manifest, byte for byte (for a
 *                                        classic docker-archive, the Docker schema 2
 *                                        manifest skopeo derives from it); its sha256 is
 *                                        the entry's name
 *   CACHE/images/<64 hex>/image.json     slimfs's record (img_open writes it; see below)
 * CACHE is sfs_cache_dir() ($SLIMFS_CACHE, else /var/cache/slimfs), spelt as its realpath;
 * images/ and every entry are mode 0700, as for flat tarballs (run/image.c).  An
 * entry appears only complete: it is built in images/.tmp-<hex>-XXXXXX and renamed into
 * place while images/.lock is held (flock); leftovers of a killed unpack are removed
 * under that lock.
 *
 * image.json: {"source": absolute path as given, "reference": REF or null,
 * "format": "oci" | "oci-archive" | "docker-archive", "manifest_digest": "sha256:...",
 * "config_digest": "sha256:...", "platform": "os/arch[/variant]"} — of the source that
 * first unpacked the entry (the same manifest from another source reuses it).
 *
 * Errors follow common/error.h: one line naming the thing (the source, and the blob by
 * digest), nothing left in the cache.
 */
#ifndef SLIMFS_IMAGE_IMG_H
#define SLIMFS_IMAGE_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* ---- sha256 digests, "sha256:<64 hex>" (digest.c) ---- */

#define DIGEST_SIZE 72                  /* "sha256:" + 64 hex + NUL */

struct evp_md_ctx_st;                   /* OpenSSL's EVP_MD_CTX */
struct hasher {
	struct evp_md_ctx_st *ctx;
	uint64_t n;             /* bytes hashed */
};

int hasher_init(struct hasher *h, struct sfs_err *err);
void hasher_update(struct hasher *h, const void *buf, size_t n);
void hasher_final(struct hasher *h, char out[DIGEST_SIZE]);
void hasher_free(struct hasher *h);
/* The digest of BUF; fails (ERR may be NULL) only when out of memory. */
int digest_of(const void *buf, size_t n, char out[DIGEST_SIZE], struct sfs_err *err);

enum img_format {
	IMG_FMT_OCI = 1,        /* image layout directory */
	IMG_FMT_OCI_ARCHIVE,    /* tarball of a layout */
	IMG_FMT_DOCKER_ARCHIVE, /* docker save / podman save, classic or Docker 25+ */
};

/* The parts of the image config (image-spec config.md, "Properties") that decide how
 * the container runs.  Arrays are NULL-terminated; a field the config lacks (or holds
 * null) is NULL, so "no Entrypoint" and "an empty Entrypoint" both mean no words. */
struct img_config {
	char **entrypoint;
	char **cmd;
	char **env;             /* "K=V" */
	char *working_dir;      /* NULL when absent or "" */
	char *user;             /* NULL when absent or "" */
	char **exposed_ports;   /* ExposedPorts' keys ("80/tcp", "53/udp"), or NULL */
	char *stop_signal;      /* StopSignal ("SIGTERM", "15"), NULL when absent or "" */
	char *os, *architecture, *variant;
};

struct img {
	enum img_format format;
	char *source;           /* absolute path of the layout or archive */
	char *reference;        /* REF as selected, or NULL */
	char *entry;            /* CACHE/images/<hex> */
	char *rootfs;           /* entry/rootfs */
	char *config_path;      /* entry/config.json */
	char manifest_digest[72];   /* "sha256:<64 hex>" */
	char config_digest[72];
	char platform[96];      /* "os/arch[/variant]" of the config */
	char *config_json;      /* config.json's bytes (NUL-terminated) */
	size_t config_len;
	struct img_config config;
};

struct img_opts {
	const char *platform;   /* "os/arch[/variant]" to pick; NULL: the host's */
	const char *cache;      /* cache top; NULL: sfs_cache_dir() ($SLIMFS_CACHE) */
	const char *prog;       /* name in warnings ("slimfs-run") */
	/* Asked between entries while unpacking: a signal number stops the unpack (one
	 * line saying so, nothing left in the cache).  NULL: never. */
	int (*interrupted)(void);
};

/* ARG as the user gave it ("PATH" or "PATH:REF").  1: it names an image in one of the
 * forms above; *OUT gets it, its root filesystem unpacked in the cache (now, or by an
 * earlier call).  0: ARG is not such an image (a root filesystem directory, a flat
 * tarball, or nothing at all): the caller treats it as before.  -1: ERR filled. */
int img_open(const char *arg, const struct img_opts *o, struct img **out, struct sfs_err *err);

/* The image whose unpacked tree is ROOTFS (a trace's runs.lowerdir, resolved with
 * realpath): 1 and *OUT when ROOTFS is CACHE/images/<hex>/rootfs of an entry img_open
 * made (its image.json and config.json are read back); 0 when it is anything else. */
int img_from_rootfs(const char *rootfs, struct img **out, struct sfs_err *err);

/* REAL (a realpath) is an entry of the image cache, CACHE/images/<64 lowercase hex>
 * with CACHE/images spelt as its realpath, followed by exactly SUFFIX ("" for the entry
 * itself, "/rootfs" for its tree): the one rule by which a path is taken for the
 * cache's own (export trusts a trace's lowerdir only when it holds). */
bool img_cache_path(const char *real, const char *suffix);

/* ARG for `--from`: an image (img_open, host platform) gives its cached rootfs in
 * *ROOTFS, anything else is copied as it is.  *ROOTFS is malloc'd. */
int img_resolve_rootfs(const char *arg, char **rootfs, struct sfs_err *err);

/* CACHE/images made ready (CACHE and its parents 0755; images root-only and ours) and
 * locked: *IMAGES gets its canonical path (the spelling export trusts in a lowerdir),
 * the return value is the lock's fd, held while an entry is looked at or made.  -1: ERR
 * filled.  Image entries and flat tarballs' entries share the directory and the lock. */
int img_cache_lock(const char *cache, char **images, struct sfs_err *err);

void img_free(struct img *im);
void img_config_free(struct img_config *c);

/* The platform of this machine in image-spec terms ("linux/amd64", "linux/arm64/v8"). */
const char *img_host_platform(void);

/* REF as Docker names it in full: docker.io/library/ or docker.io/ added where docker
 * adds them, :latest when it has no tag ("app" -> "docker.io/library/app:latest",
 * "localhost/app:1" stays).  Malloc'd; NULL when out of memory. */
char *img_docker_name(const char *ref);

/* "oci", "oci-archive" or "docker-archive". */
const char *img_format_name(enum img_format f);

#endif
