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

enum export_pkgdb {
	EXPORT_PKGDB_TRIMMED,   /* default: the packages that still have a file kept */
	EXPORT_PKGDB_FULL,      /* the image's database as it is */
	EXPORT_PKGDB_NONE,      /* no /var/lib/dpkg at all */
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
	const char *const *include_exes;   /* --include-exe: programs and what they need */
	size_t ninclude_exes;
	const char *const *include_pkgs;   /* --include-pkg: every file of a package */
	size_t ninclude_pkgs;
	bool include_pkg_deps;             /* ... and of what it depends on */
	const char *const *presets;        /* --include-preset (names checked: presets_find) */
	size_t npresets;
	enum export_pkgdb package_db;
	const char *sbom;                  /* --sbom FILE */
	bool list, stats, json, quiet;
	bool progress;                  /* progress line on stderr (caller: isatty) */
	const char *why;                /* explain this path */
	FILE *stdout_;                  /* where --list/--stats/--why print */
	const char *prog;               /* for warnings */
};

int export_main(const struct export_opts *o, struct sfs_err *err);

/* The presets (--include-preset NAME), in one table (presets.c). */
struct preset_info {
	const char *name;
	const char *doc;   /* one line: what it keeps */
};
const struct preset_info *presets_find(const char *name);
const struct preset_info *presets_at(size_t i);   /* NULL past the last */

#endif
