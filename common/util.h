/* util.h — small helpers shared by the programs.
 *
 * Everything here is stateless: no helper keeps anything between calls.
 */
#ifndef SLIMFS_UTIL_H
#define SLIMFS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* Remove PATH and everything below it, never following a symlink or crossing into
 * another mount.  A missing PATH is fine.  0, or -1 with ERR (may be NULL). */
int sfs_rm_tree(const char *path, struct sfs_err *err);

/* The image cache's top directory: $SLIMFS_CACHE, or /var/cache/slimfs.  Unpacked
 * images live in CACHE/images/<64 hex>/rootfs (run/image.c). */
#define SFS_CACHE_DIR "/var/cache/slimfs"
const char *sfs_cache_dir(void);

/* ARGV (NULL-terminated) joined by spaces, as a run's command line; NULL when out of
 * memory.  The caller frees it. */
char *sfs_join_argv(char *const *argv);

/* realloc that never fails: out of memory prints one line and aborts, for the places
 * (the trace writer while recording, the exporter's path set) that cannot go on
 * without the memory and have nothing to unwind.  N == 0 allocates one byte. */
void *xrealloc(void *p, size_t n);

/* qsort/bsearch comparator of two `char *` (strcmp order). */
int cmp_str(const void *a, const void *b);

/* CLOCK's time in nanoseconds. */
int64_t now_ns(clockid_t clock);

/* openat2(2) of PATH below ROOTFD as if ROOTFD were "/" (RESOLVE_IN_ROOT): absolute
 * symlinks and ".." stay inside it; magic links (/proc/self/fd/N) are never followed.
 * RESOLVE adds more RESOLVE_* flags (RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, ...).
 * O_CLOEXEC is added to FLAGS.  An fd, or -1 with errno. */
int open_in_root(int rootfd, const char *path, int flags, uint64_t resolve);

#endif
