/* ops_entry.c — FUSE operations on names and attributes: lookup, forget, getattr,
 * setattr, readlink, the creating and deleting operations, rename, link and xattrs.
 *
 * Invariants: every write-side operation takes fs->ns_lock around its changes of the
 * upper layer and releases it before replying; an entry reply counts exactly one
 * lookup (undone if the reply could not be delivered).
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
#include "ops.h"

void sfs_fill_entry(struct sfs_fs *fs, struct fuse_entry_param *ep, struct sfs_inode *i,
		    const struct stat *st)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = itable_id(&fs->it, i);
	ep->attr = *st;
	ep->attr.st_ino = i->shown_ino;
	ep->attr_timeout = fs->timeout;
	ep->entry_timeout = fs->timeout;
}

struct sfs_inode *sfs_enter(struct sfs_fs *fs, struct sfs_inode *parent, const char *name,
			    struct ov_entry *e, uint32_t node, bool made,
			    struct fuse_entry_param *ep)
{
	struct stat st = *ov_entry_stat(e);
	struct inode_key k;
	struct sfs_inode *i;

	if (e->upper_fd >= 0) {
		k.dev = e->upper_st.st_dev;
		k.ino = e->upper_st.st_ino;
		/* A merged directory and a copied-up file keep the image's number; files
		 * made by the workload get theirs marked so they cannot collide with one
		 * of the image. */
		k.shown_ino = e->lower_fd >= 0 ? e->lower_st.st_ino : 0;
		if (!k.shown_ino && !made && !S_ISDIR(e->upper_st.st_mode) &&
		    !S_ISLNK(e->upper_st.st_mode))
			k.shown_ino = ov_origin_ino(e->upper_fd);
		if (!k.shown_ino)
			k.shown_ino = e->upper_st.st_ino | SFS_UPPER_INO_BIT;
	} else {
		k.dev = e->lower_st.st_dev;
		k.ino = e->lower_st.st_ino;
		k.shown_ino = e->lower_st.st_ino;
	}
	k.lower_dev = e->lower_fd >= 0 ? e->lower_st.st_dev : 0;
	k.lower_ino = e->lower_fd >= 0 ? e->lower_st.st_ino : 0;
	k.type = st.st_mode & S_IFMT;
	k.lower_fd = e->lower_fd;
	k.upper_fd = e->upper_fd;
	e->lower_fd = e->upper_fd = -1;
	i = itable_lookup(&fs->it, &k, parent, name, node);
	if (i)
		sfs_fill_entry(fs, ep, i, &st);
	return i;
}

static void reply_entry(fuse_req_t req, struct sfs_fs *fs, struct sfs_inode *i,
			struct fuse_entry_param *ep)
{
	if (fuse_reply_entry(req, ep) < 0)
		itable_forget(&fs->it, i, 1);
}

void sfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent), *i;
	uint32_t pnode = atomic_load(&p->node), node;
	struct fuse_entry_param ep;
	struct ov_entry e;
	int r = ov_resolve(fs, p, name, &e);

	if (r == -ENOENT) {
		trace_record_name(fs->trace, pnode, name, strlen(name), OP_NEGATIVE);
		/* ino 0 with a timeout: the kernel may cache the miss (the first one was
		 * recorded; a create through the mount replaces the negative entry). */
		memset(&ep, 0, sizeof(ep));
		ep.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	node = trace_record_name(fs->trace, pnode, name, strlen(name), OP_LOOKUP);
	i = sfs_enter(fs, p, name, &e, node, false, &ep);
	if (!i) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_entry(req, fs, i, &ep);
}

void sfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct sfs_fs *fs = req_fs(req);

	itable_forget(&fs->it, itable_get(&fs->it, ino), nlookup);
	fuse_reply_none(req);
}

void sfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct sfs_fs *fs = req_fs(req);

	for (size_t k = 0; k < count; k++)
		itable_forget(&fs->it, itable_get(&fs->it, forgets[k].ino), forgets[k].nlookup);
	fuse_reply_none(req);
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
	st.st_ino = i->shown_ino;
	trace_record(fs->trace, atomic_load(&i->node), OP_GETATTR);
	fuse_reply_attr(req, &st, fs->timeout);
}

int sfs_copy_up(struct sfs_fs *fs, struct sfs_inode *i)
{
	int r;

	if (inode_has_upper(i))
		return 0;
	pthread_mutex_lock(&fs->ns_lock);
	r = ov_copy_up(fs, i);
	pthread_mutex_unlock(&fs->ns_lock);
	return r;
}

int sfs_copy_up_data(struct sfs_fs *fs, struct sfs_inode *i)
{
	bool split = pt_claim_write(&fs->pt, i);
	int r = sfs_copy_up(fs, i);

	if (r == 0 && split) {
		itable_detach(&fs->it, i);
		r = -ESTALE;    /* the kernel walks the path again, to the upper copy */
	}
	return r;
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

void sfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	char path[OV_PROC_MAX];
	struct stat st;
	int u = -1, r;

	(void)fi;
	r = (valid & FUSE_SET_ATTR_SIZE) ? sfs_copy_up_data(fs, i) : sfs_copy_up(fs, i);
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
	st.st_ino = i->shown_ino;
	fuse_reply_attr(req, &st, fs->timeout);
	return;
errno_err:
	r = -errno;
err:
	if (u >= 0)
		inode_put_fd(&fs->it, i, SFS_UPPER);
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

int sfs_chown_new(fuse_req_t req, int udir, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uid_t euid = geteuid();
	gid_t gid = ctx->gid;
	struct stat dst;

	if (ctx->uid == euid && ctx->gid == getegid())
		return 0;   /* already the caller's: the daemon made it */
	/* In a set-group-ID directory the new entry already has the directory's group. */
	if (fstat(udir, &dst) == 0 && (dst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (ctx->uid == euid && gid == (gid_t)-1)
		return 0;
	return fchownat(udir, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

enum make_kind { MAKE_NOD, MAKE_DIR, MAKE_LNK };

/* mknod, mkdir and symlink: make NAME in P's upper directory, owned by the caller. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
		      mode_t mode, dev_t rdev, const char *link)
{
	static const enum trace_op ops[] = { OP_MKNOD, OP_MKDIR, OP_SYMLINK };
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent), *i;
	struct ov_entry e = { .upper_fd = -1, .lower_fd = -1 };
	struct fuse_entry_param ep;
	int had_whiteout = 0;
	uint32_t node;
	int pu, r;

	pthread_mutex_lock(&fs->ns_lock);
	pu = r = ov_upper_dir(fs, p);
	if (r < 0)
		goto out;
	r = had_whiteout = ov_drop_whiteout(pu, name);
	if (r < 0)
		goto out_put;
	if (kind == MAKE_DIR)
		r = mkdirat(pu, name, mode);
	else if (kind == MAKE_LNK)
		r = symlinkat(link, pu, name);
	else
		r = mknodat(pu, name, mode, rdev);
	if (r < 0) {
		r = -errno;
		if (had_whiteout)
			ov_make_whiteout(pu, name);
		goto out_put;
	}
	r = sfs_chown_new(req, pu, name);
	if (r == 0) {
		e.upper_fd = r = ov_open_stat(pu, name, &e.upper_st);
		if (r >= 0 && kind == MAKE_DIR)
			r = ov_set_opaque(e.upper_fd);
	}
	if (r < 0) {
		unlinkat(pu, name, kind == MAKE_DIR ? AT_REMOVEDIR : 0);
		if (had_whiteout)
			ov_make_whiteout(pu, name);
		ov_entry_release(&e);
	}
out_put:
	inode_put_fd(&fs->it, p, SFS_UPPER);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	node = trace_record_name(fs->trace, atomic_load(&p->node), name, strlen(name), ops[kind]);
	i = sfs_enter(fs, p, name, &e, node, true, &ep);
	if (!i)
		fuse_reply_err(req, ENOMEM);
	else
		reply_entry(req, fs, i, &ep);
}

void sfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	/* A character device 0/0 would read as a whiteout and vanish. */
	if (S_ISCHR(mode) && rdev == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	make_node(req, parent, name, MAKE_NOD, mode, rdev, NULL);
}

void sfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, MAKE_DIR, S_IFDIR | mode, 0, NULL);
}

void sfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, MAKE_LNK, S_IFLNK | 0777, 0, link);
}

/* unlink and rmdir: remove NAME from the upper layer if it is there, and hide the
 * image's NAME behind a whiteout if the image has one. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent);
	struct ov_entry e;
	int pu, r;

	pthread_mutex_lock(&fs->ns_lock);
	r = ov_resolve(fs, p, name, &e);
	if (r < 0)
		goto out;
	if ((bool)S_ISDIR(ov_entry_stat(&e)->st_mode) != dir) {
		r = dir ? -ENOTDIR : -EISDIR;
		goto out_e;
	}
	if (dir) {
		r = ov_dir_empty(&e);
		if (r <= 0) {
			r = r == 0 ? -ENOTEMPTY : r;
			goto out_e;
		}
	}
	pu = r = ov_upper_dir(fs, p);
	if (r < 0)
		goto out_e;
	r = 0;
	if (e.upper_fd >= 0) {
		if (dir)
			r = ov_clear_whiteouts(e.upper_fd);
		if (r == 0 && unlinkat(pu, name, dir ? AT_REMOVEDIR : 0) < 0)
			r = -errno;
	}
	if (r == 0 && ov_lower_has(fs, p, name, &e))
		r = ov_make_whiteout(pu, name);
	inode_put_fd(&fs->it, p, SFS_UPPER);
out_e:
	ov_entry_release(&e);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	if (r == 0)
		trace_record_name(fs->trace, atomic_load(&p->node), name, strlen(name),
				  dir ? OP_RMDIR : OP_UNLINK);
	fuse_reply_err(req, -r);
}

void sfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

void sfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

/* The rename in the upper layer, with P's upper fd PU and NP's NPU at hand. */
static int rename_in(struct sfs_fs *fs, const char *name, struct sfs_inode *np,
		     const char *newname, struct ov_entry *s, int pu, int npu, bool s_dir,
		     bool src_lower, bool dst_lower)
{
	const struct stat *sst = ov_entry_stat(s);
	struct sfs_inode *i;
	int r = 0;

	if (s_dir && (r = ov_drop_whiteout(npu, newname)) < 0)
		return r;
	if (s->upper_fd < 0 &&
	    (r = ov_copy_up_entry(s->lower_fd, &s->lower_st, pu, name)) < 0)
		return r;
	if (renameat(pu, name, npu, newname) < 0) {
		r = -errno;
		if (s->upper_fd < 0)
			unlinkat(pu, name, 0);
		return r;
	}
	if (src_lower && (r = ov_make_whiteout(pu, name)) < 0)
		return r;
	/* The inode the kernel knows follows its new name. */
	i = itable_find(&fs->it, sst->st_dev, sst->st_ino);
	if (i && !inode_has_upper(i)) {
		struct stat ust;
		int fd = ov_open_stat(npu, newname, &ust);

		if (fd >= 0) {
			itable_rekey(&fs->it, i, ust.st_dev, ust.st_ino);
			inode_set_upper(&fs->it, i, fd);
		}
	}
	if (i)
		itable_set_name(&fs->it, i, np, newname);
	/* S is upper-only (a directory with a lower part got EXDEV), and its fd follows
	 * the rename. */
	if (s_dir && dst_lower)
		r = ov_set_opaque(s->upper_fd);
	if (i) {
		uint32_t node = trace_node(fs->trace, atomic_load(&np->node), newname,
					   strlen(newname));

		atomic_store(&i->node, node);
		itable_unref(&fs->it, i);
	}
	return r < 0 ? r : 0;
}

/* The rename proper, ns_lock held.  S is the source, D the destination (fd -1 each if
 * absent).  Returns 0 or -errno. */
static int do_rename(struct sfs_fs *fs, struct sfs_inode *p, const char *name,
		     struct sfs_inode *np, const char *newname, struct ov_entry *s,
		     struct ov_entry *d, bool d_exists, unsigned int flags)
{
	bool s_dir = S_ISDIR(ov_entry_stat(s)->st_mode);
	bool src_lower, dst_lower;
	int pu, npu, r = 0;

	/* A directory with a lower part would have to be copied up whole: EXDEV lets
	 * mv copy it entry by entry instead (see overlay.h). */
	if (s_dir && s->lower_fd >= 0)
		return -EXDEV;
	if (d_exists) {
		bool d_dir = S_ISDIR(ov_entry_stat(d)->st_mode);

		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (s_dir && !d_dir)
			return -ENOTDIR;
		if (!s_dir && d_dir)
			return -EISDIR;
		if (d_dir) {
			r = ov_dir_empty(d);
			if (r <= 0)
				return r == 0 ? -ENOTEMPTY : r;
			if (d->upper_fd >= 0 && (r = ov_clear_whiteouts(d->upper_fd)) < 0)
				return r;
		}
	}
	src_lower = ov_lower_has(fs, p, name, s);
	dst_lower = ov_lower_has(fs, np, newname, d);
	pu = ov_upper_dir(fs, p);
	if (pu < 0)
		return pu;
	npu = ov_upper_dir(fs, np);
	if (npu < 0) {
		inode_put_fd(&fs->it, p, SFS_UPPER);
		return npu;
	}
	r = rename_in(fs, name, np, newname, s, pu, npu, s_dir, src_lower, dst_lower);
	inode_put_fd(&fs->it, np, SFS_UPPER);
	inode_put_fd(&fs->it, p, SFS_UPPER);
	return r < 0 ? r : 0;
}

void sfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent);
	struct sfs_inode *np = itable_get(&fs->it, newparent);
	struct ov_entry s, d = { .upper_fd = -1, .lower_fd = -1 };
	int r, rd;

	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);    /* RENAME_EXCHANGE, RENAME_WHITEOUT */
		return;
	}
	pthread_mutex_lock(&fs->ns_lock);
	r = ov_resolve(fs, p, name, &s);
	if (r == 0) {
		rd = ov_resolve(fs, np, newname, &d);
		if (rd < 0 && rd != -ENOENT)
			r = rd;
		else
			r = do_rename(fs, p, name, np, newname, &s, &d, rd == 0, flags);
		ov_entry_release(&d);
		ov_entry_release(&s);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (r == 0) {
		trace_record_name(fs->trace, atomic_load(&p->node), name, strlen(name),
				  OP_RENAME_FROM);
		trace_record_name(fs->trace, atomic_load(&np->node), newname, strlen(newname),
				  OP_RENAME_TO);
	}
	fuse_reply_err(req, -r);
}

void sfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	struct sfs_inode *np = itable_get(&fs->it, newparent);
	struct fuse_entry_param ep;
	char path[OV_PROC_MAX];
	struct stat st;
	uint32_t node;
	int u, npu, r, had_whiteout;

	pthread_mutex_lock(&fs->ns_lock);
	r = ov_copy_up(fs, i);
	if (r < 0)
		goto out;
	npu = r = ov_upper_dir(fs, np);
	if (r < 0)
		goto out;
	had_whiteout = r = ov_drop_whiteout(npu, newname);
	if (r >= 0)
		u = r = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (r >= 0) {
		r = 0;
		ov_proc_path(path, u);
		if (linkat(u, "", npu, newname, AT_EMPTY_PATH) < 0 &&
		    linkat(AT_FDCWD, path, npu, newname, AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
		else if (fstat(u, &st) < 0)
			r = -errno;
		inode_put_fd(&fs->it, i, SFS_UPPER);
		if (r < 0 && had_whiteout == 1)
			ov_make_whiteout(npu, newname);
	}
	inode_put_fd(&fs->it, np, SFS_UPPER);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	node = trace_record_name(fs->trace, atomic_load(&np->node), newname, strlen(newname),
				 OP_LINK);
	itable_ref_lookup(&fs->it, i);
	itable_set_name(&fs->it, i, np, newname);
	atomic_store(&i->node, node);
	sfs_fill_entry(fs, &ep, i, &st);
	reply_entry(req, fs, i, &ep);
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

/* Copy I up and set (VALUE != NULL) or remove NAME on its upper file; record OP.
 * Returns 0 or an errno value. */
static int upper_xattr(struct sfs_fs *fs, struct sfs_inode *i, const char *name,
		       const char *value, size_t size, int flags, enum trace_op op)
{
	char path[OV_PROC_MAX];
	int r, u;

	r = sfs_copy_up(fs, i);
	if (r < 0)
		return -r;
	u = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (u < 0)
		return -u;
	ov_proc_path(path, u);
	if (value)
		r = setxattr(path, name, value, size, flags) < 0 ? errno : 0;
	else
		r = removexattr(path, name) < 0 ? errno : 0;
	inode_put_fd(&fs->it, i, SFS_UPPER);
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
