/* ops_attr.c — FUSE operations on attributes: getattr, setattr, readlink and xattrs.
 *
 * Invariants: a change of metadata copies no data (copyup.h: a metadata-only copy) and
 * runs with the inode's copy-up held off (cu_begin_meta); a change of size copies at
 * most the bytes it keeps.  A metadata-only copy shows the image file's block count,
 * since its data is there.  The overlay's own xattrs are never shown nor set.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "copyup.h"
#include "ops.h"

/* ST is I's upper file's, a metadata-only copy: the blocks are the image file's. */
static void lower_blocks(struct sfs_fs *fs, struct sfs_inode *i, struct stat *st)
{
	struct stat lst;
	int l = inode_get_fd(&fs->it, i, SFS_LOWER);

	if (l < 0)
		return;
	if (fstat(l, &lst) == 0)
		st->st_blocks = lst.st_blocks;
	inode_put_fd(&fs->it, i, SFS_LOWER);
}

void sfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	enum sfs_layer l = inode_top(i);
	struct stat st;
	int fd = inode_get_fd(&fs->it, i, l), r;

	(void)fi;
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	r = fstat(fd, &st) < 0 ? errno : 0;
	inode_put_fd(&fs->it, i, l);
	if (r) {
		fuse_reply_err(req, r);
		return;
	}
	if (l == SFS_UPPER && inode_data_layer(i) == SFS_LOWER)
		lower_blocks(fs, i, &st);
	st.st_ino = i->shown_ino;
	trace_record(fs->trace, atomic_load(&i->node), OP_GETATTR);
	fuse_reply_attr(req, &st, fs->timeout);
}

/* utimensat on I itself: a symlink is reached through its parent, since /proc/self/fd
 * of an O_PATH symlink cannot be used without following it. */
static int set_times(struct sfs_fs *fs, struct sfs_inode *i, const struct timespec tv[2])
{
	char path[OV_PROC_MAX];
	_cleanup_free_ char *name = NULL;
	struct sfs_inode *p;
	int pu, r = 0;

	if (!S_ISLNK(i->type)) {
		int u = inode_get_fd(&fs->it, i, SFS_UPPER);

		if (u < 0)
			return u;
		ov_proc_path(path, u);
		r = utimensat(AT_FDCWD, path, tv, 0) < 0 ? -errno : 0;
		inode_put_fd(&fs->it, i, SFS_UPPER);
		return r;
	}
	p = itable_parent(&fs->it, i, &name);
	if (!p || !name || (pu = inode_get_fd(&fs->it, p, SFS_UPPER)) < 0) {
		r = -EIO;
	} else {
		if (utimensat(pu, name, tv, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		inode_put_fd(&fs->it, p, SFS_UPPER);
	}
	itable_unref(&fs->it, p);
	return r;
}

/* The size of I as the mount shows it now: 0 or -errno. */
static int top_size(struct sfs_fs *fs, struct sfs_inode *i, off_t *size)
{
	enum sfs_layer l = inode_top(i);
	struct stat st;
	int fd = inode_get_fd(&fs->it, i, l), r;

	if (fd < 0)
		return fd;
	r = fstat(fd, &st) < 0 ? -errno : 0;
	inode_put_fd(&fs->it, i, l);
	*size = st.st_size;
	return r;
}

void sfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	char path[OV_PROC_MAX];
	struct stat st;
	off_t old_size = 0;
	int u = -1, r, meta = 0;

	(void)fi;
	/* A new size keeps that many bytes of the data (none: nothing is copied); any
	 * other change copies no data at all, and holds off a fill of it (copyup.h). */
	if (valid & FUSE_SET_ATTR_SIZE) {
		r = top_size(fs, i, &old_size);
		if (r == 0)
			r = pt_copy_up_data(fs, i, CU_DATA, (uint64_t)attr->st_size);
	} else {
		meta = (r = cu_begin_meta(fs, i)) == 0;
	}
	if (r < 0)
		goto err;
	u = r = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (r < 0)
		goto err;
	ov_proc_path(path, u);
	if ((valid & FUSE_SET_ATTR_MODE) && chmod(path, attr->st_mode & 07777) < 0)
		goto errno_err;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(u, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			goto errno_err;
	}
	if ((valid & FUSE_SET_ATTR_SIZE) && truncate(path, attr->st_size) < 0)
		goto errno_err;
	/* A copy that kept only the new size's bytes already has that size, so the
	 * truncate changed nothing: the file's times change as a truncate's do. */
	if ((valid & FUSE_SET_ATTR_SIZE) && old_size != attr->st_size &&
	    !(valid & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) &&
	    utimensat(AT_FDCWD, path, (struct timespec[2]){ { .tv_nsec = UTIME_OMIT },
							    { .tv_nsec = UTIME_NOW } }, 0) < 0)
		goto errno_err;
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		r = set_times(fs, i, tv);
		if (r < 0)
			goto err;
	}
	trace_record(fs->trace, atomic_load(&i->node), OP_SETATTR);
	if (fstat(u, &st) < 0)
		goto errno_err;
	inode_put_fd(&fs->it, i, SFS_UPPER);
	if (meta)
		cu_end_meta(fs, i);
	if (inode_data_layer(i) == SFS_LOWER)
		lower_blocks(fs, i, &st);
	st.st_ino = i->shown_ino;
	fuse_reply_attr(req, &st, fs->timeout);
	return;
errno_err:
	r = -errno;
err:
	if (u >= 0)
		inode_put_fd(&fs->it, i, SFS_UPPER);
	if (meta)
		cu_end_meta(fs, i);
	fuse_reply_err(req, -r);
}

void sfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	enum sfs_layer l = inode_top(i);
	char buf[PATH_MAX + 1];
	int fd = inode_get_fd(&fs->it, i, l);
	ssize_t n;

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	n = readlinkat(fd, "", buf, sizeof(buf));
	if (n < 0)
		n = -errno;
	inode_put_fd(&fs->it, i, l);
	if (n < 0 || n >= (ssize_t)sizeof(buf)) {
		fuse_reply_err(req, n < 0 ? (int)-n : ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	trace_record(fs->trace, atomic_load(&i->node), OP_READLINK);
	fuse_reply_readlink(req, buf);
}

void sfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	enum sfs_layer l = inode_top(i);
	_cleanup_free_ char *buf = NULL;
	char path[OV_PROC_MAX];
	int known;      /* what a lower-only file's xattr list is known to be */
	ssize_t n;
	int fd;

	trace_record(fs->trace, atomic_load(&i->node), OP_GETXATTR);
	/* No race-free way to reach a symlink's own xattrs from an O_PATH fd. */
	if (ov_private_xattr(name) || S_ISLNK(i->type)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	/* `ls -l` asks every file for security.selinux and its ACL, and image files
	 * almost never have any xattr: a lower-only file answers from memory once its
	 * (unchanging) list is known to be empty.  A copy-up makes it upper: asked again. */
	known = l == SFS_LOWER ? atomic_load(&i->lower_xattrs) : SFS_XATTRS_SOME;
	if (known == SFS_XATTRS_NONE) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	fd = inode_get_fd(&fs->it, i, l);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	ov_proc_path(path, fd);
	if (known == SFS_XATTRS_UNKNOWN && (n = listxattr(path, NULL, 0)) >= 0) {
		known = n == 0 ? SFS_XATTRS_NONE : SFS_XATTRS_SOME;
		atomic_store(&i->lower_xattrs, known);
	}
	if (known == SFS_XATTRS_NONE)
		n = -ENODATA;
	else if (size > 0 && !(buf = malloc(size)))
		n = -ENOMEM;
	else if ((n = getxattr(path, name, buf, size)) < 0)
		n = -errno;
	inode_put_fd(&fs->it, i, l);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, n);
	else
		fuse_reply_buf(req, buf, n);
}

void sfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	enum sfs_layer l = inode_top(i);
	_cleanup_free_ char *buf = NULL, *out = NULL;
	char path[OV_PROC_MAX];
	ssize_t n;
	size_t len = 0;
	int fd;

	trace_record(fs->trace, atomic_load(&i->node), OP_LISTXATTR);
	if (S_ISLNK(i->type)) {
		fuse_reply_xattr(req, 0);
		return;
	}
	fd = inode_get_fd(&fs->it, i, l);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	ov_proc_path(path, fd);
	n = listxattr(path, NULL, 0);
	if (n >= 0) {
		buf = malloc(n + 1);
		out = malloc(n + 1);
		if (!buf || !out)
			n = -1, errno = ENOMEM;
		else
			n = listxattr(path, buf, n);
	}
	if (n < 0)
		n = -errno;
	inode_put_fd(&fs->it, i, l);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	/* The overlay's own attributes are not the file's. */
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		if (ov_private_xattr(p))
			continue;
		memcpy(out + len, p, strlen(p) + 1);
		len += strlen(p) + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, out, len);
}

/* Copy I up (metadata only) and set (VALUE != NULL) or remove NAME on its upper file;
 * record OP.
 * Returns 0 or an errno value. */
static int upper_xattr(struct sfs_fs *fs, struct sfs_inode *i, const char *name,
		       const char *value, size_t size, int flags, enum trace_op op)
{
	char path[OV_PROC_MAX];
	int r, u;

	r = cu_begin_meta(fs, i);
	if (r < 0)
		return -r;
	u = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (u < 0) {
		cu_end_meta(fs, i);
		return -u;
	}
	ov_proc_path(path, u);
	if (value)
		r = setxattr(path, name, value, size, flags) < 0 ? errno : 0;
	else
		r = removexattr(path, name) < 0 ? errno : 0;
	inode_put_fd(&fs->it, i, SFS_UPPER);
	cu_end_meta(fs, i);
	if (r == 0)
		trace_record(fs->trace, atomic_load(&i->node), op);
	return r;
}

void sfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);

	if (ov_private_xattr(name) || S_ISLNK(i->type)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	/* setxattr with a NULL value and size 0 is legal: give it a non-NULL empty one */
	fuse_reply_err(req, upper_xattr(fs, i, name, value ? value : "", size, flags,
					OP_SETXATTR));
}

void sfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	enum sfs_layer l = inode_top(i);
	char path[OV_PROC_MAX];
	int r, fd;

	if (ov_private_xattr(name) || S_ISLNK(i->type)) {
		fuse_reply_err(req, ov_private_xattr(name) ? ENODATA : EPERM);
		return;
	}
	/* Removing what is not there changes nothing: no copy-up for it. */
	fd = inode_get_fd(&fs->it, i, l);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	ov_proc_path(path, fd);
	r = getxattr(path, name, NULL, 0) < 0 ? errno : 0;
	inode_put_fd(&fs->it, i, l);
	if (r == 0)
		r = upper_xattr(fs, i, name, NULL, 0, 0, OP_REMOVEXATTR);
	fuse_reply_err(req, r);
}
