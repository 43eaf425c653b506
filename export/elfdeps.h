/* elfdeps.h — what a program of the image needs to start, computed from the image alone.
 *
 * elfdeps_program(PATH) follows what execve and the dynamic loader would do, without
 * running anything:
 *   - "#!" scripts: the interpreter (and its own interpreter, up to the kernel's depth),
 *     and for "#!/usr/bin/env NAME" the NAME found in the PATH given (execvp's search);
 *   - ELF programs: PT_INTERP, then every DT_NEEDED, breadth first and recursively, found
 *     as glibc's loader finds it: DT_RPATH of the object and its loaders (when the object
 *     has no DT_RUNPATH), DT_RUNPATH, the image's /etc/ld.so.cache, the default
 *     directories (unless DF_1_NODEFLIB); $ORIGIN, $LIB and $PLATFORM expanded; in every
 *     directory the glibc-hwcaps and legacy hwcaps subdirectories first; a candidate of
 *     another ELF class or machine skipped; a name already loaded (by name or soname) or a
 *     file already loaded under another name not loaded again; /etc/ld.so.preload first.
 * Where the answer depends on the CPU the image will run on ($PLATFORM, which hwcaps
 * subdirectory wins), every candidate the image holds is kept, so the lean image starts
 * on any CPU.  The rules and their sources are in docs/export-rules.md.
 *
 * Every path is resolved inside the image root (resolve.h) and handed to KEEP with every
 * symlink and directory on the way, as the kernel's walk would have recorded them.
 */
#ifndef SLIMFS_EXPORT_ELFDEPS_H
#define SLIMFS_EXPORT_ELFDEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"
#include "image.h"
#include "ldcache.h"

/* Called for each path to keep; DETAIL says why (e.g. "library libc.so.6 needed by
 * /usr/bin/curl").  Returns 0 or -1 with ERR. */
typedef int (*elfdeps_keep)(void *ctx, const char *path, size_t len, const struct stat *st,
			    const char *detail, struct sfs_err *err);

struct elfdeps_dir;

struct elfdeps {
	/* set by the caller */
	struct image *im;
	const char *path_env;     /* PATH searched for "#!/usr/bin/env NAME" */
	elfdeps_keep keep;
	void *keep_ctx;
	const char *prog;         /* for warnings */
	const char *rule;         /* for warnings: "include-exe /usr/bin/curl" */
	bool quiet;
	/* private */
	bool debian;              /* Debian-family image: multiarch default directories */
	int cache_state;          /* 0 not read yet, 1 read, -1 none or unusable */
	char *cache_buf;
	size_t cache_len;
	struct ldcache cache;
	bool cache_kept;          /* /etc/ld.so.cache handed to keep() */
	int preload_state;        /* 0 not read yet, 1 read, -1 none */
	char *preload;
	char **done;              /* programs and libraries already followed */
	size_t ndone;
	struct elfdeps_dir *dirs; /* search directories: which hwcaps subdirectories exist */
	size_t ndirs;
	char detail[2 * 4096 + 128];
};

/* Prepare D (caller fields set): reads nothing yet. */
void elfdeps_init(struct elfdeps *d);
void elfdeps_free(struct elfdeps *d);

/* PATH (absolute, or a bare name looked up in path_env) and everything it needs to
 * start.  0 done, 1 PATH is not in the image, -1 error. */
int elfdeps_program(struct elfdeps *d, const char *path, struct sfs_err *err);

/* The shared object at PATH and the libraries it needs, as dlopen() would load them
 * (dlopen-ed modules: NSS, ...).  0, 1 not in the image, -1 error. */
int elfdeps_library(struct elfdeps *d, const char *path, struct sfs_err *err);

/* Call CB with the path of every entry of the image's ld.so.cache whose name matches
 * the fnmatch PATTERN (no cache: no call). */
typedef int (*elfdeps_name_cb)(void *ctx, const char *name, const char *path,
			       struct sfs_err *err);
int elfdeps_cache_each(struct elfdeps *d, const char *pattern, elfdeps_name_cb cb, void *ctx,
		       struct sfs_err *err);

#endif
