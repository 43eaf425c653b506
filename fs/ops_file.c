/* ops_file.c — FUSE operations on open files and directories: open, create, read,
 * write, flush, release, fsync, fallocate, opendir, readdir, releasedir, fsyncdir,
 * statfs.
 *
 * Invariants: a lower file is only ever opened O_RDONLY; an open that may change the
 * file (write access or O_TRUNC) copies its data up first (none of it for O_TRUNC)
 * and opens the upper copy; a read-only open reads the layer that holds the data
 * (the image's for a metadata-only copy, copyup.h).  Reads and writes are recorded
 * once per handle, not per call; reads of a passthrough open never reach us, so the
 * open is recorded as `passthrough` (passthrough.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "copyup.h"
#include "ops.h"

static struct sfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct sfs_file *)(uintptr_t)fi->fh;
}

static void handle_add(struct sfs_fs *fs, struct sfs_handle *h, bool is_dir)
{
	h->is_dir = is_dir;
	pthread_mutex_lock(&fs->handles_lock);
	h->next = fs->handles.next;
	h->prev = &fs->handles;
	h->next->prev = h;
	fs->handles.next = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void handle_del(struct sfs_fs *fs, struct sfs_handle *h)
{
	pthread_mutex_lock(&fs->handles_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->handles_lock);
}

static struct sfs_file *new_file(struct sfs_fs *fs, int fd, struct sfs_inode *i, bool lower)
{
	struct sfs_file *f = calloc(1, sizeof(*f));

	if (f) {
		f->fd = fd;
		f->i = i;
		f->lower = lower;
		atomic_init(&f->other_fd, -1);
		handle_add(fs, &f->h, false);
	}
	return f;
}

static void free_file(struct sfs_fs *fs, struct sfs_file *f)
{
	int copy;

	handle_del(fs, &f->h);
	if (file_is_pt(f))
		pt_release(&fs->pt, f->i);
	else
		close(f->fd);
	if ((copy = atomic_load(&f->other_fd)) >= 0)
		close(copy);
	free(f);
}

/* Flags for reopening an upper file: what the kernel passed, minus what only made
 * sense for the path walk (the /proc magic link must be followed). */
static int upper_flags(int flags)
{
	return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | SFS_FMODE_EXEC)) | O_CLOEXEC;
}

void sfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	bool writes = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	enum trace_op op = writes ? OP_OPEN_WRITE :
			   (fi->flags & SFS_FMODE_EXEC) ? OP_EXEC : OP_OPEN;
	struct sfs_file *f;
	enum sfs_layer l;
	int fd = -1, id = 0, r;

	if (writes) {
		/* O_TRUNC keeps none of the data: none is copied.  Otherwise the data is
		 * copied at the first write (sfs_write_buf): an open for writing that only
		 * truncates, or writes nothing, copies nothing. */
		r = (fi->flags & O_TRUNC) ? pt_copy_up_data(fs, i, CU_DATA, 0) :
					    pt_copy_up_data(fs, i, CU_META, 0);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
	} else {
		id = pt_open(fs, i);    /* > 0: a passthrough open, no fd of ours */
	}
	l = writes ? SFS_UPPER : inode_data_layer(i);
	if (id == 0) {
		fd = ov_reopen(&fs->it, i, l, l == SFS_UPPER ? upper_flags(fi->flags) :
							   O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fuse_reply_err(req, -fd);
			return;
		}
	}
	f = new_file(fs, fd, i, id == 0 && l == SFS_LOWER);
	if (!f) {
		if (id > 0)
			pt_release(&fs->pt, i);
		else
			close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	trace_record(fs->trace, atomic_load(&i->node), op);
	if (id > 0)
		trace_record(fs->trace, atomic_load(&i->node), OP_PASSTHROUGH);
	fi->fh = (uintptr_t)f;
	if (id > 0) {
		r = pt_reply_open(req, fi->fh, id);
	} else {
		/* Only the mount changes files, so cached pages of an image file stay
		 * valid; closing a read-only image file needs no flush round trip (locks
		 * are local). */
		fi->keep_cache = l == SFS_LOWER;
		fi->noflush = l == SFS_LOWER;
		r = fuse_reply_open(req, fi);
	}
	if (r < 0)
		free_file(fs, f);
}

void sfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *p = itable_get(&fs->it, parent), *i = NULL;
	struct ov_entry e = { .upper_fd = -1, .lower_fd = -1 };
	struct fuse_entry_param ep;
	unsigned key = dirlock_key(p);
	struct sfs_file *f;
	uint32_t node;
	int pu, fd = -1, r, had_whiteout = 0;

	pu = r = cu_upper_dir(fs, p);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	dirlock_write(fs, key);
	r = had_whiteout = ov_drop_whiteout(pu, name);
	if (r >= 0) {
		fd = openat(pu, name, upper_flags(fi->flags) | O_CREAT, mode);
		r = fd < 0 ? -errno : 0;
	}
	if (r == 0) {
		r = sfs_chown_new(req, pu, name);
		if (r == 0)
			e.upper_fd = r = ov_open_stat(pu, name, &e.upper_st);
		if (r < 0) {
			close(fd);
			unlinkat(pu, name, 0);
		}
	}
	if (r < 0 && had_whiteout == 1)
		ov_make_whiteout(pu, name);
	if (r >= 0) {
		node = trace_record_name(fs->trace, atomic_load(&p->node), name, strlen(name),
					 OP_CREATE);
		i = sfs_enter(fs, p, name, &e, node, true, &ep);
	}
	dirlock_unlock(fs, key);
	inode_put_fd(&fs->it, p, SFS_UPPER);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	f = i ? new_file(fs, fd, i, false) : NULL;
	if (!f) {
		close(fd);
		if (i)
			itable_forget(&fs->it, i, 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_create(req, &ep, fi) < 0) {
		itable_forget(&fs->it, i, 1);
		free_file(fs, f);
	}
}

/* The file F's reads come from: an fd, or -errno.  The layer that holds the data now:
 *  - A handle opened on the image's file reads the copy once the data has been copied
 *    up, as on overlayfs since Linux 4.19.  It must: the kernel keeps one size and one
 *    page cache per inode, so the image's older, shorter content read through one open
 *    would show through every other open (a short read even shrinks the size the
 *    kernel holds: other readers then see the new content cut to the image file's
 *    length).  (A passthrough reader of a split file keeps the image's content: it is
 *    another inode, passthrough.h.)
 *  - A handle opened to write a metadata-only copy reads the image's file until its
 *    first write (or another's) fills the copy. */
static int read_fd(struct sfs_fs *fs, struct sfs_file *f)
{
	enum sfs_layer want = inode_data_layer(f->i);
	int fd, none = -1;

	if (want == (f->lower ? SFS_LOWER : SFS_UPPER))
		return f->fd;
	fd = atomic_load(&f->other_fd);
	if (fd >= 0)
		return fd;
	fd = ov_reopen(&fs->it, f->i, want, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !atomic_compare_exchange_strong(&f->other_fd, &none, fd)) {
		close(fd);      /* another read of this handle was quicker */
		fd = none;
	}
	return fd;
}

/* Before F's first change of the data: a metadata-only copy gets its data (copyup.h).
 * 0 or -errno. */
static int fill_before_write(struct sfs_fs *fs, struct sfs_file *f)
{
	if (inode_data_layer(f->i) == SFS_UPPER)
		return 0;
	return cu_copy_up(fs, f->i, CU_DATA, CU_ALL);
}

void sfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_file *f = file_of(fi);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	int fd = read_fd(fs, f);

	(void)ino;
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	if (!atomic_exchange(&f->read_seen, true))
		trace_record(fs->trace, atomic_load(&f->i->node), OP_READ);
	/* The kernel splices the data straight from the file: no copy through us. */
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, 0);   /* no move: fs/ops.c, init */
}

void sfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		   struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_file *f = file_of(fi);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	(void)ino;
	n = fill_before_write(fs, f);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (!atomic_exchange(&f->write_seen, true))
		trace_record(fs->trace, atomic_load(&f->i->node), OP_WRITE);
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_write(req, n);
}

void sfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_file *f = file_of(fi);
	int fd;

	(void)ino;
	if (file_is_pt(f)) {    /* the kernel holds the file, not us */
		fuse_reply_err(req, 0);
		return;
	}
	/* close() of a duplicate makes the file system see the close (NFS-like upper). */
	fd = dup(f->fd);
	fuse_reply_err(req, fd < 0 ? errno : close(fd) < 0 ? errno : 0);
}

void sfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free_file(req_fs(req), file_of(fi));
	fuse_reply_err(req, 0);
}

void sfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct sfs_file *f = file_of(fi);

	(void)ino;
	if (file_is_pt(f))      /* an image file, read-only: nothing to write back */
		fuse_reply_err(req, 0);
	else
		fuse_reply_err(req, (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? errno : 0);
}

void sfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi)
{
	struct sfs_file *f = file_of(fi);
	int r = fill_before_write(req_fs(req), f);

	(void)ino;
	if (r == 0 && fallocate(f->fd, mode, off, len) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

/* An open directory: the merged listing, taken at the first readdir (and again at
 * offset 0, so rewinddir sees changes).  Offsets are indexes + 1. */
struct sfs_dir {
	struct sfs_handle h;            /* first: on fs->handles */
	struct sfs_inode *i;
	struct ov_dirent *ents;
	size_t n;
	bool listed;
	atomic_bool readdir_seen;
};

static void free_dir(struct sfs_fs *fs, struct sfs_dir *d)
{
	handle_del(fs, &d->h);
	ov_list_free(d->ents, d->n);
	free(d);
}

void sfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	struct sfs_dir *d = calloc(1, sizeof(*d));

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->i = i;
	handle_add(fs, &d->h, true);
	trace_record(fs->trace, atomic_load(&i->node), OP_OPENDIR);
	fi->fh = (uintptr_t)d;
	/* The kernel may keep the listing across opens: it drops it whenever the
	 * directory changes through the mount (its version and mtime), and the first
	 * listing, the one that is evidence, was recorded when it reached us. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) < 0)
		free_dir(fs, d);
}

void sfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_dir *d = (struct sfs_dir *)(uintptr_t)fi->fh;
	_cleanup_free_ char *buf = NULL;
	size_t pos = 0;

	(void)ino;
	if (off == 0 || !d->listed) {
		int r;

		unsigned key = dirlock_key(d->i);

		ov_list_free(d->ents, d->n);
		d->ents = NULL;
		d->n = 0;
		dirlock_read(fs, key);
		r = ov_list(&fs->it, d->i, &d->ents, &d->n);
		dirlock_unlock(fs, key);
		if (r < 0) {
			d->listed = false;
			fuse_reply_err(req, -r);
			return;
		}
		d->listed = true;
	}
	if (!atomic_exchange(&d->readdir_seen, true))
		trace_record(fs->trace, atomic_load(&d->i->node), OP_READDIR);
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t k = off; k < d->n; k++) {
		struct stat st = { .st_ino = d->ents[k].ino, .st_mode = d->ents[k].type << 12 };
		size_t sz = fuse_add_direntry(req, buf + pos, size - pos, d->ents[k].name, &st,
					      k + 1);

		if (sz > size - pos)
			break;
		pos += sz;
	}
	fuse_reply_buf(req, buf, pos);
}

void sfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free_dir(req_fs(req), (struct sfs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void sfs_handles_free_all(struct sfs_fs *fs)
{
	while (fs->handles.next != &fs->handles) {
		struct sfs_handle *h = fs->handles.next;

		if (h->is_dir)
			free_dir(fs, (struct sfs_dir *)h);
		else
			free_file(fs, (struct sfs_file *)h);
	}
}

void sfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = req_fs(req);
	struct sfs_inode *i = itable_get(&fs->it, ino);
	_cleanup_close_ int fd = -1;
	int u;

	(void)fi;
	if (!inode_has_upper(i)) {      /* nothing of it was ever written */
		fuse_reply_err(req, 0);
		return;
	}
	u = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (u < 0) {
		fuse_reply_err(req, -u);
		return;
	}
	fd = openat(u, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	inode_put_fd(&fs->it, i, SFS_UPPER);
	if (fd < 0 || (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

void sfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_fs *fs = req_fs(req);
	struct statvfs sv;

	(void)ino;
	/* Free space is what writes can use: the upper layer's. */
	if (fstatvfs(fs->upper_root, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}
