/* fsutil.h — small file-system helpers shared by the programs. */
#ifndef SLIMFS_FSUTIL_H
#define SLIMFS_FSUTIL_H

#include "error.h"

/* Remove PATH and everything below it, never following a symlink or crossing into
 * another mount.  A missing PATH is fine.  0, or -1 with ERR (may be NULL). */
int sfs_rm_tree(const char *path, struct sfs_err *err);

#endif
