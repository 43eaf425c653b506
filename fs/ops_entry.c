/* ops_entry.c — FUSE operations on names: lookup, forget, the creating and deleting
 * operations, rename and link.
 *
 * Invariants: every operation that changes an upper directory first makes the copies
 * it needs (copyup.h), then takes the directory's lock for writing (fs.h), resolves
 * the names again under it, changes them, enters what it made into the inode table,
 * and releases the lock before replying; a lookup resolves and enters under the lock
 * for reading.  An upper file whose last name goes (unlink, rmdir, rename over it)
 * detaches its inode (inode.h).  An entry reply counts exactly one lookup (undone if
 * the reply could not be delivered).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "copyup.h"
#include "ops.h"

void sfs_fill_entry(struct sfs_fs *fs, struct fuse_entry_param *ep, struct sfs_inode *i,
		    const struct stat *st)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = itable_id(&fs->it, i);
	ep->generation = i->generation;
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
	} else {
		k.dev = e->lower_st.st_dev;
		k.ino = e->lower_st.st_ino;
	}
	k.shown_ino = ov_shown_ino(e, made);
	k.lower_dev = e->lower_fd >= 0 ? e->lower_st.st_dev : 0;
	k.lower_ino = e->lower_fd >= 0 ? e->lower_st.st_ino : 0;
	k.type = st.st_mode & S_IFMT;
	k.upper_data = !e->metacopy;
	k.lower_fd = e->lower_fd;
	k.upper_fd = e->upper_fd;
	e->lower_fd = e->upper_fd = -1;
	if (e->metacopy)        /* the data is the image file's, and so are its blocks */
		st.st_blocks = e->lower_st.st_blocks;
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
	unsigned key = dirlock_key(p);
	struct fuse_entry_param ep;
	struct ov_entry e;
	int r;

	dirlock_read(fs, key);
	r = ov_resolve(&fs->it, p, name, &e);
	if (r == -ENOENT) {
		dirlock_unlock(fs, key);
		trace_record_name(fs->trace, pnode, name, strlen(name), OP_NEGATIVE);
		/* ino 0 with a timeout: the kernel may cache the miss (the first one was
		 * recorded; a create through the mount replaces the negative entry). */
		memset(&ep, 0, sizeof(ep));
		ep.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (r < 0) {
		dirlock_unlock(fs, key);
		fuse_reply_err(req, -r);
		return;
	}
	node = trace_record_name(fs->trace, pnode, name, strlen(name), OP_LOOKUP);
	i = sfs_enter(fs, p, name, &e, node, false, &ep);
	dirlock_unlock(fs, key);
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

/* The upper file behind FD (what a name that was just removed or replaced named) has
 * lost its last name: its inode must not adopt the next file the upper file system
 * gives that inode number (inode.h). */
static void forget_if_gone(struct sfs_fs *fs, int fd)
{
	struct stat st;

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 0)
		itable_gone(&fs->it, &st, fd);
}

enum make_kind { MAKE_NOD, MAKE_DIR, MAKE_LNK };

/* mknod, mkdir and symlink: make NAME in P's upper directory, owned by the caller. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, enum make_kind kind,
		      mode_t mode, dev_t rdev, const char *link)
{
	static const enum trace_op ops[] = { OP_MKNOD, OP_MKDIR, OP_SYMLINK };
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent), *i = NULL;
	struct ov_entry e = { .upper_fd = -1, .lower_fd = -1 };
	struct fuse_entry_param ep;
	unsigned key = dirlock_key(p);
	int had_whiteout = 0;
	uint32_t node;
	int pu, r;

	pu = r = cu_upper_dir(fs, p);
	if (r < 0)
		goto out;
	dirlock_write(fs, key);
	r = had_whiteout = ov_drop_whiteout(pu, name);
	if (r < 0)
		goto out_unlock;
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
		goto out_unlock;
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
		goto out_unlock;
	}
	node = trace_record_name(fs->trace, atomic_load(&p->node), name, strlen(name), ops[kind]);
	i = sfs_enter(fs, p, name, &e, node, true, &ep);
	r = i ? 0 : -ENOMEM;
out_unlock:
	dirlock_unlock(fs, key);
	inode_put_fd(&fs->it, p, SFS_UPPER);
out:
	if (r < 0)
		fuse_reply_err(req, -r);
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
	unsigned key = dirlock_key(p);
	struct ov_entry e;
	int pu, r;

	pu = r = cu_upper_dir(fs, p);
	if (r < 0)
		goto out;
	dirlock_write(fs, key);
	r = ov_resolve(&fs->it, p, name, &e);
	if (r < 0)
		goto out_unlock;
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
	r = 0;
	if (e.upper_fd >= 0) {
		struct ov_names wh = { 0 };

		if (dir)
			r = ov_clear_whiteouts(e.upper_fd, &wh);
		if (r == 0 && unlinkat(pu, name, dir ? AT_REMOVEDIR : 0) < 0)
			r = -errno;
		ov_cleared_end(e.upper_fd, &wh, r < 0);     /* a failed rmdir deletes nothing */
		if (r == 0)
			forget_if_gone(fs, e.upper_fd);
	}
	if (r == 0 && ov_lower_has(&fs->it, p, name, &e))
		r = ov_make_whiteout(pu, name);
out_e:
	ov_entry_release(&e);
out_unlock:
	dirlock_unlock(fs, key);
	inode_put_fd(&fs->it, p, SFS_UPPER);
out:
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

/* A rename's names and upper directories. */
struct rename {
	struct sfs_inode *p, *np;
	const char *name, *newname;
	int pu, npu;                    /* upper fds of p and np */
	struct ov_entry s, d;           /* source, destination (fds -1 if absent) */
	bool d_exists;
	unsigned int flags;
};

/* The rename in the upper layer, both directory locks held and both names resolved:
 * 0, -errno, or 1 if the source must be copied up first (R->s's file, a metadata-only
 * copy or an image file: *COPY gets its inode, with a reference). */
static int rename_locked(struct sfs_fs *fs, struct rename *R, struct sfs_inode **copy)
{
	const struct stat *sst = ov_entry_stat(&R->s);
	bool s_dir = S_ISDIR(sst->st_mode), src_lower, dst_lower;
	struct ov_names wh = { 0 };
	struct sfs_inode *i;
	int r = 0, dropped = 0;

	/* A directory with a lower part would have to be copied up whole: EXDEV lets
	 * mv copy it entry by entry instead (see overlay.h). */
	if (s_dir && R->s.lower_fd >= 0)
		return -EXDEV;
	if (R->d_exists) {
		bool d_dir = S_ISDIR(ov_entry_stat(&R->d)->st_mode);

		if (R->flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (s_dir && !d_dir)
			return -ENOTDIR;
		if (!s_dir && d_dir)
			return -EISDIR;
		if (d_dir) {
			r = ov_dir_empty(&R->d);
			if (r <= 0)
				return r == 0 ? -ENOTEMPTY : r;
		}
	}
	/* The name changes: a file whose data is still the image's (which it finds by
	 * its name there) gets its data first (copyup.h), as an inode the kernel knows. */
	if (!s_dir && (R->s.upper_fd < 0 || R->s.metacopy)) {
		*copy = itable_find(&fs->it, sst->st_dev, sst->st_ino);
		return *copy ? 1 : -ESTALE;
	}
	if (R->d_exists && S_ISDIR(ov_entry_stat(&R->d)->st_mode) && R->d.upper_fd >= 0 &&
	    (r = ov_clear_whiteouts(R->d.upper_fd, &wh)) < 0)
		return r;
	src_lower = ov_lower_has(&fs->it, R->p, R->name, &R->s);
	dst_lower = ov_lower_has(&fs->it, R->np, R->newname, &R->d);
	if (s_dir)
		r = dropped = ov_drop_whiteout(R->npu, R->newname);
	if (r >= 0)
		r = renameat(R->pu, R->name, R->npu, R->newname) < 0 ? -errno : 0;
	/* A rename that did not happen leaves every deleted image name deleted. */
	if (r < 0 && dropped == 1)
		ov_make_whiteout(R->npu, R->newname);
	ov_cleared_end(R->d.upper_fd, &wh, r < 0);
	if (r < 0)
		return r;
	forget_if_gone(fs, R->d.upper_fd);
	if (src_lower && (r = ov_make_whiteout(R->pu, R->name)) < 0)
		return r;
	/* S is upper-only (a directory with a lower part got EXDEV), and its fd follows
	 * the rename. */
	if (s_dir && dst_lower && (r = ov_set_opaque(R->s.upper_fd)) < 0)
		return r;
	/* The inode the kernel knows follows its new name. */
	i = itable_find(&fs->it, sst->st_dev, sst->st_ino);
	if (i) {
		itable_set_name(&fs->it, i, R->np, R->newname);
		atomic_store(&i->node, trace_node(fs->trace, atomic_load(&R->np->node),
						  R->newname, strlen(R->newname)));
		itable_unref(&fs->it, i);
	}
	return 0;
}

void sfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct sfs_fs *fs = req_fs(req);
	struct rename R = {
		.p = itable_get(&fs->it, parent), .np = itable_get(&fs->it, newparent),
		.name = name, .newname = newname, .flags = flags, .pu = -1, .npu = -1,
	};
	unsigned k1 = dirlock_key(R.p), k2 = dirlock_key(R.np);
	int r;

	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);    /* RENAME_EXCHANGE, RENAME_WHITEOUT */
		return;
	}
	R.pu = r = cu_upper_dir(fs, R.p);
	if (r >= 0)
		R.npu = r = cu_upper_dir(fs, R.np);
	for (int tries = 0; r >= 0; tries++) {
		struct sfs_inode *copy = NULL;
		int rd;

		if (tries == 3) {       /* copied, and still not there: not a name of it */
			r = -ESTALE;
			break;
		}

		R.d = (struct ov_entry){ .upper_fd = -1, .lower_fd = -1 };
		dirlock_write2(fs, k1, k2);
		r = ov_resolve(&fs->it, R.p, name, &R.s);
		if (r == 0) {
			rd = ov_resolve(&fs->it, R.np, newname, &R.d);
			R.d_exists = rd == 0;
			r = rd < 0 && rd != -ENOENT ? rd : rename_locked(fs, &R, &copy);
			ov_entry_release(&R.d);
			ov_entry_release(&R.s);
		}
		dirlock_unlock2(fs, k1, k2);
		if (r != 1)
			break;
		/* Copied outside the locks, then everything is looked at again. */
		r = cu_copy_up(fs, copy, CU_DATA, CU_ALL);
		itable_unref(&fs->it, copy);
	}
	if (R.npu >= 0)
		inode_put_fd(&fs->it, R.np, SFS_UPPER);
	if (R.pu >= 0)
		inode_put_fd(&fs->it, R.p, SFS_UPPER);
	if (r == 0) {
		trace_record_name(fs->trace, atomic_load(&R.p->node), name, strlen(name),
				  OP_RENAME_FROM);
		trace_record_name(fs->trace, atomic_load(&R.np->node), newname, strlen(newname),
				  OP_RENAME_TO);
	}
	fuse_reply_err(req, -r);
}

void sfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	struct sfs_inode *np = itable_get(&fs->it, newparent);
	unsigned key = dirlock_key(np);
	struct fuse_entry_param ep;
	char path[OV_PROC_MAX];
	struct stat st;
	uint32_t node;
	int u = -1, npu = -1, r, had_whiteout;

	/* A new name: a file whose data is still the image's gets it first (copyup.h).
	 * Everything that can fail without a change fails before the whiteout goes. */
	r = cu_copy_up(fs, i, CU_DATA, CU_ALL);
	if (r == 0)
		npu = r = cu_upper_dir(fs, np);
	if (r >= 0)
		u = r = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (r < 0)
		goto out;
	dirlock_write(fs, key);
	had_whiteout = r = ov_drop_whiteout(npu, newname);
	if (r >= 0) {
		r = 0;
		ov_proc_path(path, u);
		if (linkat(u, "", npu, newname, AT_EMPTY_PATH) < 0 &&
		    linkat(AT_FDCWD, path, npu, newname, AT_SYMLINK_FOLLOW) < 0) {
			r = -errno;
		} else if (fstat(u, &st) < 0) {
			r = -errno;
			unlinkat(npu, newname, 0);
		}
		/* A link that did not happen leaves the image's name deleted, as it was. */
		if (r < 0 && had_whiteout == 1)
			ov_make_whiteout(npu, newname);
	}
	if (r == 0) {
		node = trace_record_name(fs->trace, atomic_load(&np->node), newname,
					 strlen(newname), OP_LINK);
		itable_ref_lookup(&fs->it, i);
		itable_set_name(&fs->it, i, np, newname);
		atomic_store(&i->node, node);
		sfs_fill_entry(fs, &ep, i, &st);
	}
	dirlock_unlock(fs, key);
out:
	if (u >= 0)
		inode_put_fd(&fs->it, i, SFS_UPPER);
	if (npu >= 0)
		inode_put_fd(&fs->it, np, SFS_UPPER);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, fs, i, &ep);
}
