/* image.h — reading the image directory without ever leaving it.
 *
 * The image root is held as an O_PATH fd.  A path from a trace is resolved
 * inside it with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) for its parent directory and *at(..., AT_SYMLINK_NOFOLLOW /
 * O_NOFOLLOW) for its last component: "/" and ".." stay inside the root, and no
 * symlink is followed at all — a trace path comes from the kernel's own walk,
 * which already went through every symlink itself, so a path that reaches a file
 * only through a symlink is not a name of that file in the image.
 *
 * A path longer than PATH_MAX (the image may hold one, and a workload reach it by
 * relative walks) is resolved the same way, a part of at most PATH_MAX at a time.
 *
 * The parent fd of the last lookup is cached: paths come in sorted order, so
 * siblings share it.
 */
#ifndef SLIMFS_EXPORT_IMAGE_H
#define SLIMFS_EXPORT_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/error.h"

struct image {
	char *dir;           /* as given, for messages */
	int rootfd;          /* O_PATH | O_DIRECTORY */
	int parentfd;        /* cached parent of the last path, -1 if none */
	size_t parentlen;
	char *parent;        /* its path, any length (parentcap bytes) */
	size_t parentcap;
	char name[NAME_MAX + 1];
};

int image_open(struct image *im, const char *dir, struct sfs_err *err);
void image_close(struct image *im);

/* Directory fd (borrowed: valid until the next call) of PATH's parent, and PATH's
 * last component in im->name.  For "/" returns the root fd and name "".  Returns
 * -1 with errno ENOENT/ENOTDIR/ELOOP/EXDEV when the parent is not a directory
 * reachable without symlinks, filling ERR (errno is kept). */
int image_parent(struct image *im, const char *path, size_t len, struct sfs_err *err);

/* lstat PATH inside the root: 0 found, 1 not in the image, -1 other error. */
int image_lstat(struct image *im, const char *path, size_t len, struct stat *st,
		struct sfs_err *err);

/* Call CB for every entry below the root (not the root itself), depth first,
 * never following symlinks or entering another file system.  PATH is absolute
 * ("/usr/bin/ls").  CB returns 0 to go on, -1 (with ERR filled) to stop.
 *
 * WANT, when not NULL, lets the walk skip the lstat of most entries: an entry is
 * stat-ed and given to CB only if WANT(CTX, D_INO) says so, D_INO being the inode
 * number readdir gave.  That is only done on file systems whose readdir inode
 * numbers are the st_ino of the entries (ext2/3/4, xfs, btrfs, tmpfs), and for
 * entries whose readdir type is known; elsewhere every entry goes to CB, so CB
 * must accept entries it did not want.  Directories are entered either way. */
typedef int (*image_walk_cb)(void *ctx, const char *path, size_t len, const struct stat *st,
			     struct sfs_err *err);
typedef bool (*image_walk_want)(void *ctx, uint64_t d_ino);
int image_walk(struct image *im, image_walk_want want, image_walk_cb cb, void *ctx,
	       struct sfs_err *err);

#endif
