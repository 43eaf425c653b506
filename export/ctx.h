/* ctx.h — state shared by the stages of one export (export-internal).
 *
 * Stages, in order: evidence.c loads the traces into ctx.ps (one entry per
 * recorded path, with its maximum evidence) and picks the image; closure.c adds
 * what the closure rules require and marks what --exclude drops; then report.c
 * (--list, --stats, --why) and write.c (the archive or directory) read the result.
 */
#ifndef SLIMFS_EXPORT_CTX_H
#define SLIMFS_EXPORT_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "export.h"
#include "image.h"
#include "pathset.h"

/* One event of the --why path, as recorded. */
struct why_event {
	size_t trace;            /* index into opts.traces */
	int64_t run;
	enum trace_op op;
	int64_t first_us, count;
};

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

	size_t nruns;
	size_t nincomplete;      /* runs that overflowed, were not all written, or never ended */
	size_t nrefused;         /* trace paths refused as unclean */

	struct why_event *why_ev;
	size_t nwhy_ev;

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
int write_output(struct export_ctx *c, struct sfs_err *err);
int report_list(struct export_ctx *c, struct sfs_err *err);
int report_stats(struct export_ctx *c, struct sfs_err *err);
int report_why(struct export_ctx *c, struct sfs_err *err);

#endif
