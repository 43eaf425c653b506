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
	EXPORT_FMT_AUTO,   /* an image's trace: oci-archive; else tar by OUT's suffix */
	EXPORT_FMT_TAR,    /* the lean tree as one tarball: .tar .tar.gz .tgz .tar.zst .tar.xz */
	EXPORT_FMT_DIR,    /* the lean tree as a directory */
	EXPORT_FMT_OCI_ARCHIVE,    /* an OCI image layout as a tarball, with a docker
				    * manifest.json beside it: Docker 25+'s `docker save` form,
				    * which OCI and docker readers both take (docs/image-export.md) */
	EXPORT_FMT_DOCKER_ARCHIVE, /* the docker manifest.json and the blobs only */
	EXPORT_FMT_OCI,            /* the OCI image layout as a directory */
};

/* Compression of the lean image's layer (image formats only). */
enum export_compress {
	EXPORT_COMPRESS_GZIP,      /* the default */
	EXPORT_COMPRESS_ZSTD,
	EXPORT_COMPRESS_NONE,
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
	enum export_compress compress;  /* the layer's, for image formats */
	bool compress_set;              /* --compression-format given */
	const char *tag;                /* NAME[:TAG] of the lean image, NULL: the default */
	enum trace_evidence keep;       /* EV_LOOKUP by default */
	const char *from;               /* image dir or image cache entry, overrides the
					 * runs' lowerdir */
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

/* tmpout.c: SIGINT, SIGTERM and SIGHUP (unless ignored) kill at once while no output
 * stand-in exists and are recorded while one does: the writers then fail at their next
 * entry, export_main removes the stand-in and returns, and tmp_out_reraise (after the
 * error is printed) dies of the signal; it returns when none came. */
void tmp_out_signals(void);
void tmp_out_reraise(void);

/* The presets (--include-preset NAME), in one table (presets.c). */
struct preset_info {
	const char *name;
	const char *doc;   /* one line: what it keeps */
};
const struct preset_info *presets_find(const char *name);
const struct preset_info *presets_at(size_t i);   /* NULL past the last */

/* --format NAME and --compression-format NAME: the value, or -1 if unknown. */
int export_format_from_name(const char *name);
int export_compress_from_name(const char *name);

#endif
