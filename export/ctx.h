/* ctx.h — state shared by the stages of one export (export-internal).
 *
 * Stages, in order: evidence.c loads the traces into ctx.ps (one entry per
 * recorded path, with its maximum evidence) and picks the image; closure.c adds
 * what the closure rules require (rules.c: --include-exe, --include-pkg, presets) and
 * marks what --exclude drops; pkgdb.c adds the package database the kept set asks for;
 * then report.c (--list, --stats, --why), sbom.c and write.c (the archive or directory)
 * read the result.
 */
#ifndef SLIMFS_EXPORT_CTX_H
#define SLIMFS_EXPORT_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct archive;

#include "export.h"
#include "image.h"
#include "oci.h"
#include "pathset.h"

/* One event of the --why path, as recorded. */
struct why_event {
	size_t trace;            /* index into opts.traces */
	int64_t run;
	enum trace_op op;
	int64_t first_us, count;
};

/* A file whose content the export writes itself (the trimmed package database): the
 * image's file at PATH gives the member's metadata, DATA its bytes. */
struct gen_file {
	char *path;
	char *data;
	size_t size;
};

struct dpkg_db;

/* A name of an inode with more than one link, found by walking the image. */
struct hl_name {
	uint64_t dev, ino, size;
	uint32_t off;            /* path in ctx.ps's arena */
	uint16_t len;
};

struct export_ctx {
	const struct export_opts *o;
	struct pathset ps;
	struct image im;
	char *imagedir;          /* --from or the runs' lowerdir */
	bool image_open;
	struct oci_source *src;  /* the image cache entry imagedir is the rootfs of, or NULL */
	enum export_format format;   /* o->format with AUTO resolved (oci_prepare) */
	struct oci_plan plan;    /* for the image formats */
	int64_t sde;             /* SOURCE_DATE_EPOCH (the image's and the SBOM's date), -1: unset */

	size_t nruns;
	size_t nincomplete;      /* runs that overflowed, were not all written, or never ended */
	size_t nring, ndevfuse;  /* runs served by FUSE over io_uring, by /dev/fuse (the
				  * rest: a slimfs that did not record it) */
	size_t nrefused;         /* trace paths refused as unclean */

	struct why_event *why_ev;
	size_t nwhy_ev;
	char **why_rules;        /* for --why PATH: "include-exe /usr/bin/curl (...)", ... */
	size_t nwhy_rules;
	size_t nwhy_more;        /* reasons beyond those kept in why_rules */

	struct dpkg_db *db;      /* the image's dpkg database (ctx_dpkg) */
	int db_state;            /* 0 not read yet, 1 read, -1 the image has none */
	char *dbdir;             /* /var/lib/dpkg resolved in the image (pkgdb.c) */
	struct gen_file *gen;    /* sorted by path once pkgdb_apply is done */
	size_t ngen;
	size_t pkgs_total, pkgs_kept;   /* packages present in the image, listed by the lean one */

	bool walked;             /* the image was walked: totals and hardlink names */
	uint64_t entries_total, files_total, bytes_total;
	struct hl_name *hl;      /* sorted by dev, ino, path */
	size_t nhl;
	uint64_t *lost_ino;      /* sorted inode numbers of kept inodes with names */
	size_t nlost_ino;        /* the path set lacks: what a hardlink walk looks for */
	size_t *link_first;      /* by entry: closure_link_first */
};

void ctx_free(struct export_ctx *c);

int evidence_load(struct export_ctx *c, struct sfs_err *err);
int closure_compute(struct export_ctx *c, struct sfs_err *err);
/* Index of the first kept name of entry I's inode (I itself if it is the first, or if
 * the inode has one name): later names are hardlinks to it, and cost no bytes. */
size_t closure_link_first(const struct export_ctx *c, size_t i);
bool closure_excluded(const struct export_ctx *c, const char *path, size_t len,
		      const char **pattern);
/* After paths were added past the first closure: sort, exclude, ancestors, stat. */
int closure_settle(struct export_ctx *c, struct sfs_err *err);

/* rules.c: --include-exe, --include-pkg, --include-preset; and the one way rules and the
 * package database add a path (with WHY, and the RULE and DETAIL --why prints). */
int rules_apply(struct export_ctx *c, struct sfs_err *err);
int ctx_keep(struct export_ctx *c, uint8_t why, const char *rule, const char *path, size_t len,
	     const struct stat *st, const char *detail, struct sfs_err *err);
/* The image's dpkg database: 0 (*DB set), 1 the image has none, -1 error. */
int ctx_dpkg(struct export_ctx *c, struct dpkg_db **db, struct sfs_err *err);

/* pkgdb.c: --package-db (after the closure; adds what it keeps and settles). */
int pkgdb_apply(struct export_ctx *c, struct sfs_err *err);
/* Why --package-db leaves PATH out, or NULL. */
const char *pkgdb_left_out(const struct export_ctx *c, const char *path, size_t len);
/* The generated content of PATH, or NULL. */
const struct gen_file *ctx_gen(const struct export_ctx *c, const char *path, size_t len);
/* sbom.c: --sbom FILE, the packages of the lean image's database as SPDX 2.3 JSON. */
int sbom_write(struct export_ctx *c, struct sfs_err *err);

int write_output(struct export_ctx *c, struct sfs_err *err);

/* tmpout.c: OUT's temporary stand-in, OUT.tmp-XXXXXX beside it: a file (FD open,
 * 0666 & ~umask) or a directory (0700; OUT must not exist).  tmp_out_commit fsyncs the
 * file and renames the stand-in over OUT; tmp_out_close removes it unless committed,
 * and frees T (safe after a failed open). */
struct tmp_out {
	const char *out;
	char *dir;                /* realpath of OUT's directory */
	char *path;               /* the stand-in; NULL once committed */
	int fd;                   /* the file's; -1 for a directory */
	bool is_dir;
	bool counted;             /* in the signal handler's count of stand-ins */
};
int tmp_out_open(struct tmp_out *t, const char *out, bool dir, struct sfs_err *err);
int tmp_out_commit(struct tmp_out *t, struct sfs_err *err);
void tmp_out_close(struct tmp_out *t);
/* (tmp_out_signals and tmp_out_reraise are in export.h, for main.c) */
int tmp_out_signal(void);       /* the stop signal recorded (0: none): writers fail on it */

/* Bytes per write of every archive slimfs writes. */
#define OUT_BLOCK (1024 * 1024)
/* The member format of every tar slimfs writes (pax, xattrs as SCHILY.xattr.*, OUT_BLOCK
 * writes, no padding after the last byte), set on A; ARCHIVE_OK or libarchive's error. */
int write_tar_format(struct archive *a);
/* Every kept path, in order, as members of A (opened by the caller, with
 * write_tar_format): what write_output writes into a tarball.  OUT names A in messages. */
int write_tree(struct export_ctx *c, struct archive *a, struct sfs_err *err);
/* An archive's output file: libarchive's write callback for archive_write_open2 with a
 * struct out_file as its context.  Writeback of what was written is started every 8 MiB,
 * so that the final fsync() waits for little: the disk works while the archive is built
 * (not for a temporary file, which would only cost the disk work). */
struct out_file {
	int fd;
	bool temporary;           /* no early writeback */
	off_t written, synced;
};
ssize_t out_file_write(struct archive *a, void *ctx, const void *buf, size_t len);
int report_list(struct export_ctx *c, struct sfs_err *err);
int report_stats(struct export_ctx *c, struct sfs_err *err);
int report_why(struct export_ctx *c, struct sfs_err *err);

#endif
