/* overlay.h — the two layers of a slimfs mount and how one merged view is made of them.
 *
 * LOWERDIR (the image) is reached only through lower_root and opened read-only; it is
 * never modified.  Everything the workload changes lives in the upper directory, in
 * overlayfs's format where there is one:
 *
 *  - An upper entry hides the lower entry of the same name.  A file that is changed is
 *    copied up first, its parent directories first (fs/copyup.h: what is copied when,
 *    and the hardlinks of the image).
 *  - Whiteout: a deleted lower name is hidden by a character device 0/0 of that name
 *    in the upper directory (the format overlayfs uses, so an upper directory can be
 *    inspected or reused with the kernel's overlayfs).
 *  - Opaque directory: an upper directory with the xattr trusted.overlay.opaque = "y"
 *    hides the whole lower directory of that name.  Every directory the workload
 *    creates is opaque from birth, so rmdir+mkdir and renaming a directory over a
 *    deleted lower one never let old lower entries show through.
 *  - A directory present in both layers (and not opaque) is merged: upper entries
 *    first, then lower entries that are neither in upper nor whited out.
 *  - Renaming a directory that has a lower part returns EXDEV: mv and the like then
 *    copy the tree and delete the original, which this overlay supports entry by
 *    entry.  Only directories that live wholly in upper are renamed in place.
 *  - Inode numbers, the same in stat and in readdir (d_ino): a file of the image, a
 *    merged directory and a copied-up file show the image file's number (a copy keeps
 *    it in the xattr OV_ORIGIN_XATTR); a file the workload made shows its upper number
 *    with SFS_UPPER_INO_BIT set, so the two layers' numbers never collide.
 *  - A metadata-only copy (OV_METACOPY_XATTR) holds the owner, mode, times and xattrs
 *    of the file but not its data, which is still the lower file of the same name
 *    (fs/copyup.h).
 *  - Hardlinks of the image: all names of one image file are one inode through the
 *    mount, and the kernel names the inode, not the name, when it writes; so a copy-up
 *    copies the file once and links the copy at every name the image gives it that
 *    the upper layer does not hide, as overlayfs's index does (fs/copyup.h,
 *    fs/hardlinks.h).  A write through any name shows through all, with the image's
 *    link count, in the upper directory too.
 *
 * The overlay's own xattrs (trusted.overlay.*) are hidden from the workload.
 * Locking: what the functions here read may change under them unless the caller holds
 * the directory's lock (fs/fs.h); none of them takes a lock but the inode table's.
 */
#ifndef SLIMFS_OVERLAY_H
#define SLIMFS_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "inode.h"

#define OV_OPAQUE_XATTR "trusted.overlay.opaque"
/* On a copied-up file: the image file's inode number (8 bytes, host order), so the
 * number shown through the mount stays the same after the kernel forgets the inode. */
#define OV_ORIGIN_XATTR "trusted.overlay.slimfs.ino"
/* On a metadata-only copy (empty value): its data is still the lower file's. */
#define OV_METACOPY_XATTR "trusted.overlay.slimfs.metacopy"
#define OV_PRIVATE_XATTR_PREFIX "trusted.overlay."

/* Is NAME one of the overlay's own xattrs (hidden from the container)? */
static inline bool ov_private_xattr(const char *name)
{
	return strncmp(name, OV_PRIVATE_XATTR_PREFIX, sizeof(OV_PRIVATE_XATTR_PREFIX) - 1) == 0;
}

/* One name in the merged view: what each layer holds under it. */
struct ov_entry {
	int upper_fd, lower_fd;         /* O_PATH, -1 if absent there (or hidden) */
	struct stat upper_st, lower_st;
	uint64_t origin;                /* a copied-up upper file's image inode number, or 0 */
	bool metacopy;                  /* the upper file is a metadata-only copy */
};

static inline bool ov_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

/* "/proc/self/fd/N": how a file behind an O_PATH fd is reopened or given xattrs. */
#define OV_PROC_MAX 32
void ov_proc_path(char buf[OV_PROC_MAX], int fd);

/* Open NAME in DIR as O_PATH (no symlink followed) and stat it: fd or -errno. */
int ov_open_stat(int dir, const char *name, struct stat *st);

/* Resolve NAME in directory P.  0: found (E filled, fds owned by E), -ENOENT: not
 * there (or whited out), other -errno on failure. */
int ov_resolve(struct inode_table *t, struct sfs_inode *p, const char *name,
	       struct ov_entry *e);
void ov_entry_release(struct ov_entry *e);

/* The stat to show for E: upper wins. */
static inline const struct stat *ov_entry_stat(const struct ov_entry *e)
{
	return e->upper_fd >= 0 ? &e->upper_st : &e->lower_st;
}

/* The inode number the mount shows for E (see above).  MADE: the mount has just made
 * it, so it has no image origin. */
uint64_t ov_shown_ino(const struct ov_entry *e, bool made);

/* I's file in layer L opened with FLAGS (through its O_PATH fd): an fd or -errno. */
int ov_reopen(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l, int flags);

/* Does the lower layer hold P/NAME, whose merged view is E (as ov_resolve left it)?
 * E's lower part answers at once; without one, the name may still be in the lower
 * layer behind an upper entry. */
bool ov_lower_has(struct inode_table *t, struct sfs_inode *p, const char *name,
		  const struct ov_entry *e);

/* I's fds, pinned: *U upper, *L lower (-1 where I does not live).  0 or -errno;
 * ov_put_fds(U, L) unpins them. */
int ov_get_fds(struct inode_table *t, struct sfs_inode *i, int *u, int *l);
void ov_put_fds(struct inode_table *t, struct sfs_inode *i, int u, int l);

/* Remove a whiteout at UDIR/NAME if there is one: 1 removed, 0 none, -errno.  A
 * caller whose change then fails puts it back (ov_make_whiteout). */
int ov_drop_whiteout(int udir, const char *name);
int ov_make_whiteout(int udir, const char *name);
int ov_set_opaque(int fd);
bool ov_is_opaque(int fd);

/* One entry of a merged directory listing. */
struct ov_dirent {
	char *name;
	uint64_t ino;                   /* as stat shows it (ov_shown_ino) */
	unsigned char type;             /* DT_* */
};

/* The merged listing of directory I (with "." and ".." once, numbered as stat shows
 * I and its parent).  0 or -errno. */
int ov_list(struct inode_table *t, struct sfs_inode *i, struct ov_dirent **out, size_t *n);
void ov_list_free(struct ov_dirent *d, size_t n);

/* The inode number a copy-up recorded on the upper file behind FD, or 0. */
uint64_t ov_origin_ino(int fd);

/* Is the directory E empty in the merged view (whiteouts do not count)?
 * 1 empty, 0 not, -errno. */
int ov_dir_empty(const struct ov_entry *e);

/* Names, as ov_clear_whiteouts keeps them. */
struct ov_names {
	char **v;
	size_t n, cap;
};

/* Unlink the whiteouts inside upper directory DIRFD (before removing or replacing it)
 * and keep their names in *CLEARED (zeroed by the caller): 0, or -errno with every
 * one of them back.  The caller ends with ov_cleared_end: PUT (its removal failed)
 * makes them again, so no deleted image name shows again. */
int ov_clear_whiteouts(int dirfd, struct ov_names *cleared);
void ov_cleared_end(int dirfd, struct ov_names *cleared, bool put);

/* Remove DIRFD's contents recursively (the private upper directory at unmount). */
int ov_rm_contents(int dirfd);

#endif
