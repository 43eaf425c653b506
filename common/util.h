/* util.h — small helpers shared by the programs. */
#ifndef SLIMFS_UTIL_H
#define SLIMFS_UTIL_H

#include "error.h"

/* Remove PATH and everything below it, never following a symlink or crossing into
 * another mount.  A missing PATH is fine.  0, or -1 with ERR (may be NULL). */
int sfs_rm_tree(const char *path, struct sfs_err *err);

/* ARGV (NULL-terminated) joined by spaces, as a run's command line; NULL when out of
 * memory.  The caller frees it. */
char *sfs_join_argv(char *const *argv);

#endif
