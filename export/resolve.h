/* resolve.h — walking a path of the image as the kernel's path walk would, inside the root.
 *
 * image_resolve() takes PATH one component at a time: every prefix is lstat-ed with
 * image_lstat() (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS for the parent, then
 * AT_SYMLINK_NOFOLLOW), and a symlink met on the way is read with readlinkat() on its
 * parent's fd and its target spliced in front of what is left of the path.  An absolute
 * target restarts at the image root, ".." never climbs above it, at most 40 symlinks are
 * followed (the kernel's limit), so no host path is ever named.
 *
 * VISIT is called, in walk order, for every path the kernel's walk would have recorded:
 * each directory entered, each symlink read (its own path), and the final object.  These
 * are exactly the paths a lean image needs for PATH to resolve there the same way.  It is
 * called only when the whole walk succeeds: a path that does not resolve keeps nothing.
 */
#ifndef SLIMFS_EXPORT_RESOLVE_H
#define SLIMFS_EXPORT_RESOLVE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"
#include "image.h"

typedef int (*resolve_visit)(void *ctx, const char *path, size_t len, const struct stat *st,
			     struct sfs_err *err);

struct resolved {
	char path[PATH_MAX];   /* the final object: absolute, clean, no symlink on the way */
	size_t len;
	struct stat st;        /* its lstat */
};

enum {
	RESOLVE_FOLLOW = 1,    /* follow a symlink in the last component too */
};

/* Returns 0 when PATH (absolute) resolves, with OUT filled; 1 when it does not (a
 * component is missing or not a directory, a loop, a name too long); -1 on other errors
 * or when VISIT fails.  VISIT may be NULL. */
int image_resolve(struct image *im, const char *path, int flags, resolve_visit visit,
		  void *vctx, struct resolved *out, struct sfs_err *err);

/* Read the symlink PATH (a clean path with no symlink above it) into BUF (NUL-terminated);
 * returns its length, 0 if it is not a readable symlink, -1 on error. */
ssize_t image_readlink(struct image *im, const char *path, size_t len, char *buf, size_t size,
		       struct sfs_err *err);

/* Read the regular file PATH (clean, no symlink above it, not followed) whole into *BUF
 * (NUL-terminated, *LEN bytes) if it is at most MAX bytes; returns 0, 1 when it is not
 * there or not a regular file, -1 on error (a file larger than MAX is an error). */
int image_read_file(struct image *im, const char *path, size_t max, char **buf, size_t *len,
		    struct sfs_err *err);

/* Call CB for every name in directory PATH (clean, no symlink on the way), "." and ".."
 * left out, in no particular order; PATH missing or not a directory is no error. */
typedef int (*image_dir_cb)(void *ctx, const char *name, struct sfs_err *err);
int image_list_dir(struct image *im, const char *path, image_dir_cb cb, void *ctx,
		   struct sfs_err *err);

/* Call VISIT for every entry below directory DIR (clean, no symlink on the way; not DIR
 * itself), depth first in name order, never following a symlink or entering another
 * file system.  DIR missing or not a directory is no error. */
int image_tree(struct image *im, const char *dir, resolve_visit visit, void *ctx,
	       struct sfs_err *err);

#endif
