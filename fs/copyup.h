/* copyup.h — copy-up: giving a file of the image its copy in the upper layer, before
 * the workload changes it (the layers: overlay.h).
 *
 * What is copied, when:
 *  - A change of metadata (chmod, chown, utimes, setxattr, removexattr) of an image
 *    file: CU_META.  A regular file gets a metadata-only copy: an upper file with the
 *    image file's owner, mode, times, xattrs and size but no data (sparse), marked
 *    with OV_METACOPY_XATTR; its data is still the image file of the same name, which
 *    reads (and FUSE passthrough) keep using.  Symlinks, devices, fifos and sockets are
 *    copied whole (there is nothing more to them); a directory is made with the image
 *    directory's metadata.
 *  - An open for writing: a metadata-only copy too (with O_TRUNC: an empty file, no
 *    data copied); its data is copied at the handle's first write or fallocate, so an
 *    open that only truncates, or writes nothing, copies nothing.  Until then the
 *    handle reads the image file.
 *  - A change of data (a write, truncate): CU_DATA with a LIMIT, the bytes the change
 *    keeps: everything for a write, none for a truncate to 0, the first N for a
 *    truncate to N.  A metadata-only copy gets its data the same way, in place.
 *  - A change of name (rename, link): CU_DATA of everything, since a metadata-only
 *    copy finds its data by its name in the image.
 *
 * How:
 *  - One copy-up of an inode at a time (itable_copy_begin); whoever wants one that
 *    is running waits for it, then finds it done.  Parent directories first.
 *  - A regular file's copy is made as an unnamed file (O_TMPFILE) in its upper parent
 *    directory: data, then owner, mode, xattrs, times.  No lock is held while the data
 *    is copied, however large the file: only then is the copy linked in, under its
 *    directory's lock (fs.h; under the locks of all its directories for an image
 *    hardlink, below), which any other name there waits for no longer than a link.  A metadata-only copy is filled in place, without any
 *    directory lock: its data stays the image file's for every reader until the
 *    OV_METACOPY_XATTR is removed, after the last byte (a crash before leaves a
 *    metadata-only copy, which is whole).  A copy is linked in whole or not at all.
 *  - A copy-up is not a change the workload made: the upper directory it links into
 *    gets its times back.
 *  - The copy reads the image through copy_root, a mount of LOWERDIR the fanotify
 *    verifier does not watch, so a file that is only written or truncated gains no
 *    read evidence: the trace says what the workload did, not what the copy did.
 *
 * Hardlinks of the image.  The kernel tells the daemon which inode is written, never
 * through which name (an open, a setattr or a link names the inode only), and all the
 * names of one image file are one inode through the mount (inode.h).  So a copy-up
 * cannot copy "the name written", nor even trust the name looked up last (it may be
 * deleted since); it copies the file, and links the copy at every name the image
 * gives that file, as overlayfs's index does, eagerly: the names come from
 * hardlinks.h (one walk of the image per mount, at the first copy-up of a file with
 * several links, before anything is linked), and every name is linked unless the
 * upper layer hides it (a whiteout, another entry, an opaque or replaced directory
 * above it); the directories above a name are copied up for it first.  All the names
 * are given at once, under the locks of all their directories, and the inode learns
 * of its copy before they are released: a lookup of any name, and the link count,
 * show the image file or the whole copy, never a copy at some names (whose link
 * count the kernel would lower at each unlink of another, down to 0).  A name that
 * cannot be given takes the others back.  So every name shows the write, and keeps
 * showing it after the kernel forgets the inode, after a remount on the same upper
 * directory and in the upper directory itself, with the image's link count.  (A
 * name left out all the same, by a crash between two links, still reaches the copy
 * through the image file's identity while the inode is known, inode.h.)
 */
#ifndef SLIMFS_COPYUP_H
#define SLIMFS_COPYUP_H

#include <stdint.h>

struct sfs_fs;
struct sfs_inode;

enum cu_what {
	CU_META,        /* metadata only (a regular file's data stays the image's) */
	CU_DATA,        /* the data too, up to the LIMIT bytes the change keeps */
};

#define CU_ALL UINT64_MAX

/* Give I an upper copy with WHAT (see above); with CU_DATA, at most LIMIT bytes of
 * its data (CU_ALL: all), and no more than that size.  Nothing is done if I already
 * has what is asked for.  0 or -errno; nothing half-made is left on failure. */
int cu_copy_up(struct sfs_fs *fs, struct sfs_inode *i, enum cu_what what, uint64_t limit);

/* A change of I's metadata (chmod, chown, utimes, xattrs) is about to be made on its
 * upper file: copy I up for it (CU_META) and keep every other copy-up of I out until
 * cu_end_meta — a metadata-only copy being filled puts its times back at the end,
 * which must not undo a change made meanwhile.  0 (then call cu_end_meta) or -errno. */
int cu_begin_meta(struct sfs_fs *fs, struct sfs_inode *i);
void cu_end_meta(struct sfs_fs *fs, struct sfs_inode *i);

/* Make sure the directory D has an upper copy and return its upper fd, pinned (the
 * caller unpins it with inode_put_fd(SFS_UPPER)), or -errno. */
int cu_upper_dir(struct sfs_fs *fs, struct sfs_inode *d);

#endif
