/* export.h — slimfs-export as a library: traces + image -> lean tree.
 *
 * export_main() does everything the command does for one set of options: it
 * merges the evidence of all runs of all traces, computes the closure
 * (docs/design.md, "Evidence and closure"), and then lists, explains (--why), counts
 * (--stats) and/or writes the kept paths.  Output files are written under a
 * temporary name and renamed at the end; on failure nothing is left behind.
 */
#ifndef SLIMFS_EXPORT_H
#define SLIMFS_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"
#include "store/trace.h"

enum export_format {
	EXPORT_FMT_AUTO,   /* by OUT's suffix: .tar .tar.gz .tgz .tar.zst .tar.xz */
	EXPORT_FMT_TAR,
	EXPORT_FMT_DIR,
};

struct export_opts {
	const char *const *traces;
	size_t ntraces;
	const char *out;                /* NULL: no archive */
	enum export_format format;
	enum trace_evidence keep;       /* EV_LOOKUP by default */
	const char *from;               /* image dir, overrides the runs' lowerdir */
	const char *const *includes;
	size_t nincludes;
	const char *const *excludes;
	size_t nexcludes;
	bool list, stats, json, quiet;
	bool progress;                  /* progress line on stderr (caller: isatty) */
	const char *why;                /* explain this path */
	FILE *stdout_;                  /* where --list/--stats/--why print */
	const char *prog;               /* for warnings */
};

int export_main(const struct export_opts *o, struct sfs_err *err);

#endif
