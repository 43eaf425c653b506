/* ops.h — the FUSE low-level operations of the slimfs daemon, shared between the files
 * that implement them (ops.c: init and the table; ops_entry.c: names and attributes;
 * ops_file.c: open files and directories).
 *
 * Every operation replies exactly once, with an errno from the *at() call that
 * failed, and records what it did in the trace against the path the kernel asked
 * for (the parent's node plus the name), never a resolved path.  An operation that
 * changes names takes the directory locks of fs.h, after any copy-up it needs.
 */
#ifndef SLIMFS_OPS_H
#define SLIMFS_OPS_H

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fs.h"
#include "overlay.h"

/* The open-for-exec marker the kernel passes in open flags (__FMODE_EXEC). */
#define SFS_FMODE_EXEC 0x20

/* The handle of an open file. */
struct sfs_file {
	struct sfs_handle h;            /* first: on fs->handles */
	int fd;                         /* the file as opened (-1: passthrough) */
	struct sfs_inode *i;
	bool lower;                     /* fd is the image's file, read through us */
	/* The other layer's file, for reads (or -1): the copy, once a handle opened on the
	 * image's file finds the data copied up; the image's file, for a handle opened to
	 * write a metadata-only copy before its first write fills it (copyup.h). */
	atomic_int other_fd;
	atomic_bool read_seen;          /* OP_READ recorded for this handle */
	atomic_bool write_seen;         /* OP_WRITE recorded for this handle */
};

/* A passthrough open (passthrough.h): the kernel holds the file, and we no fd. */
static inline bool file_is_pt(const struct sfs_file *f)
{
	return f->fd < 0;
}

extern const struct fuse_lowlevel_ops sfs_ops;

/* Free the handles the kernel did not release (after the session ended). */
void sfs_handles_free_all(struct sfs_fs *fs);

/* Fill EP for inode I with attributes ST and the mount's timeouts. */
void sfs_fill_entry(struct sfs_fs *fs, struct fuse_entry_param *ep, struct sfs_inode *i,
		    const struct stat *st);

/* Enter what E found into the table as PARENT/NAME with trace NODE and fill EP; the
 * fds of E are consumed.  MADE: the mount has just made it, so it has no image origin
 * to look up.  PARENT's directory lock is held (fs.h).  NULL on out-of-memory. */
struct sfs_inode *sfs_enter(struct sfs_fs *fs, struct sfs_inode *parent, const char *name,
			    struct ov_entry *e, uint32_t node, bool made,
			    struct fuse_entry_param *ep);

/* Give a new upper entry UDIR/NAME to the caller of REQ. */
int sfs_chown_new(fuse_req_t req, int udir, const char *name);

void sfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void sfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void sfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi);
void sfs_readlink(fuse_req_t req, fuse_ino_t ino);
void sfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void sfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void sfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void sfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void sfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void sfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void sfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void sfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void sfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

void sfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void sfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void sfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		   struct fuse_file_info *fi);
void sfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void sfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi);
void sfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void sfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void sfs_statfs(fuse_req_t req, fuse_ino_t ino);

#endif
