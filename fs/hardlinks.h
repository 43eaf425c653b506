/* hardlinks.h — the image's hardlinks: every name of each image file that has more
 * than one (copyup.h links a copy at all of them).
 *
 * Linux keeps no list of an inode's names, so the index is made by one walk of the
 * image (readdir, and an lstat of every entry that is not a directory) the first time
 * a copy-up needs it, and kept for the mount's life: the image never changes.  Only
 * files with st_nlink > 1 are kept, by (st_dev, st_ino), each with its names as paths
 * below the image's root ("usr/bin/perl", any length).  The walk opens directories
 * only (no file's content), through the mount copy-ups read from, and follows no
 * symlink; it goes into mounts below the root, whose files are not hardlinks of the
 * root's.  A walk costs about one lstat per image file (100,000 files: well under a
 * second with a warm cache); a mount that never copies up an image hardlink pays
 * nothing.
 *
 * Thread-safe: the first caller makes the index, under the index's lock, while others
 * wait for it; after that it is only read.
 */
#ifndef SLIMFS_HARDLINKS_H
#define SLIMFS_HARDLINKS_H

#include <stddef.h>
#include <sys/types.h>

struct hl_index;

/* A new, empty index (made at first use); NULL on out-of-memory. */
struct hl_index *hl_new(void);
void hl_free(struct hl_index *h);

/* The names of the image file (DEV, INO): *N paths below ROOT (the image's root, an
 * O_PATH fd), valid as long as H; *N is 0 for a file the index does not hold (one
 * name only).  The first call walks the image from ROOT.  0 or -errno. */
int hl_names(struct hl_index *h, int root, dev_t dev, ino_t ino, const char *const **names,
	     size_t *n);

#endif
