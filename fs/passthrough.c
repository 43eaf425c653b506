/* passthrough.c — FUSE passthrough for image files (passthrough.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "overlay.h"

/* Kernel ABI 7.40 (Linux 6.9), newer than Debian 12's <linux/fuse.h>. */
#define SFS_FUSE_PASSTHROUGH    (1ULL << 37)
#define SFS_FOPEN_PASSTHROUGH   (1U << 7)

struct sfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define SFS_DEV_IOC_BACKING_OPEN  _IOW(229, 1, struct sfs_backing_map)
#define SFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* fuse_init_out from 7.40: max_stack_depth took the first unused word. */
#define INIT_OUT_FLAGS2       offsetof(struct fuse_init_out, flags2)
#define INIT_OUT_STACK_DEPTH  (INIT_OUT_FLAGS2 + 4)

void pt_init(struct sfs_pt *pt)
{
	memset(pt, 0, sizeof(*pt));
	pthread_mutex_init(&pt->lock, NULL);
	pt->dev = -1;
}

void pt_destroy(struct sfs_pt *pt)
{
	pthread_mutex_destroy(&pt->lock);
}

/* The custom I/O callbacks get the session's userdata: the daemon's sfs_fs. */
static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	struct sfs_pt *pt = &((struct sfs_fs *)userdata)->pt;
	ssize_t n = read(fd, buf, len);

	if (!atomic_load_explicit(&pt->init_done, memory_order_relaxed) &&
	    n >= (ssize_t)sizeof(struct fuse_in_header)) {
		const struct fuse_in_header *in = buf;

		if (in->opcode == FUSE_INIT)
			atomic_store(&pt->init_unique, in->unique);
	}
	return n;
}

/* Ask for passthrough in the INIT reply libfuse built: FUSE_PASSTHROUGH is a flags2
 * bit, and the file system's stack depth 1 lets backing files live on any file
 * system that is not itself stacked (the kernel checks each at BACKING_OPEN). */
static void patch_init(struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	unsigned char *arg;
	uint32_t flags, flags2, depth = 1;

	if (out->error != 0 || count < 2 || iov[1].iov_len < INIT_OUT_STACK_DEPTH + 4)
		return;
	arg = iov[1].iov_base;
	memcpy(&flags, arg + offsetof(struct fuse_init_out, flags), 4);
	memcpy(&flags2, arg + INIT_OUT_FLAGS2, 4);
	if (!(flags & FUSE_INIT_EXT))
		flags2 = 0;     /* libfuse did not use flags2: nothing of its to keep */
	flags |= FUSE_INIT_EXT;
	flags2 |= (uint32_t)(SFS_FUSE_PASSTHROUGH >> 32);
	memcpy(arg + offsetof(struct fuse_init_out, flags), &flags, 4);
	memcpy(arg + INIT_OUT_FLAGS2, &flags2, 4);
	memcpy(arg + INIT_OUT_STACK_DEPTH, &depth, 4);
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct sfs_pt *pt = &((struct sfs_fs *)userdata)->pt;

	if (!atomic_load_explicit(&pt->init_done, memory_order_relaxed) && count > 0 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *out = iov[0].iov_base;
		uint64_t u = atomic_load(&pt->init_unique);

		if (u && out->unique == u) {
			patch_init(iov, count);
			atomic_store(&pt->init_done, true);
		}
	}
	return writev(fd, iov, count);
}

int pt_install(struct sfs_pt *pt, struct fuse_session *se)
{
	const struct fuse_custom_io io = { .read = pt_read, .writev = pt_writev };
	int fd = fuse_session_fd(se);

	if (fuse_session_custom_io(se, &io, fd) != 0)
		return -EINVAL;
	pt->dev = fd;
	atomic_store(&pt->on, true);
	return 0;
}

static void backing_close(struct sfs_pt *pt, struct sfs_inode *i)
{
	uint32_t id = (uint32_t)i->pt_id;

	if (id > 0 && pt->dev >= 0)
		ioctl(pt->dev, SFS_DEV_IOC_BACKING_CLOSE, &id);
	i->pt_id = 0;
}

bool pt_claim_write(struct sfs_pt *pt, struct sfs_inode *i)
{
	bool split;

	pthread_mutex_lock(&pt->lock);
	split = i->pt_opens > 0;
	i->pt_never = true;
	if (!split)
		backing_close(pt, i);   /* the image's file is about to stop being I's data */
	pthread_mutex_unlock(&pt->lock);
	return split;
}

/* Register I's lower file as a backing file: its id, 0 if passthrough is off now, or
 * -1 if the file cannot be opened. */
static int backing_open(struct sfs_fs *fs, struct sfs_inode *i)
{
	struct sfs_backing_map map = { .fd = -1 };
	char path[OV_PROC_MAX];
	int pfd = inode_get_fd(&fs->it, i, SFS_LOWER), id;

	if (pfd < 0)
		return -1;
	ov_proc_path(path, pfd);
	map.fd = open(path, O_RDONLY | O_CLOEXEC);
	inode_put_fd(&fs->it, i, SFS_LOWER);
	if (map.fd < 0)
		return -1;
	id = ioctl(fs->pt.dev, SFS_DEV_IOC_BACKING_OPEN, &map);
	close(map.fd);  /* the kernel holds the file now */
	if (id <= 0) {
		/* Not granted at INIT (old kernel), or the image's file system is stacked
		 * too deep: the same answer for every file, so stop asking.  No inode has a
		 * passthrough open that a normal open could now conflict with. */
		atomic_store(&fs->pt.on, false);
		return 0;
	}
	return id;
}

int pt_open(struct sfs_fs *fs, struct sfs_inode *i, bool lower)
{
	struct sfs_pt *pt = &fs->pt;
	bool start = false;
	int id = 0;

	pthread_mutex_lock(&pt->lock);
	if (i->pt_opens > 0 || (lower && !i->pt_never)) {
		/* Opens still running, or a backing file kept from earlier ones: the data
		 * is still the image's (nothing wrote to I: pt_claim_write). */
		id = i->pt_id;
		start = id == 0 && S_ISREG(i->type) && atomic_load(&pt->on);
	}
	if (id > 0)
		i->pt_opens++;
	pthread_mutex_unlock(&pt->lock);
	if (!start)
		return id;

	/* Registering opens the file: outside the lock, then settled under it. */
	id = backing_open(fs, i);
	pthread_mutex_lock(&pt->lock);
	if (i->pt_id > 0 || (i->pt_opens == 0 && i->pt_never) || id <= 0) {
		if (id > 0) {   /* another open registered first, or a writer came */
			uint32_t mine = (uint32_t)id;

			ioctl(pt->dev, SFS_DEV_IOC_BACKING_CLOSE, &mine);
		}
		if (id < 0)
			i->pt_never = true;
		id = i->pt_opens > 0 || !i->pt_never ? i->pt_id : 0;
	} else {
		i->pt_id = id;
	}
	if (id > 0)
		i->pt_opens++;
	pthread_mutex_unlock(&pt->lock);
	return id;
}

void pt_release(struct sfs_pt *pt, struct sfs_inode *i)
{
	pthread_mutex_lock(&pt->lock);
	/* The backing file stays registered for the next open of I (one ioctl and one
	 * open less each time) until I is written to or forgotten (pt_forget). */
	if (i->pt_opens > 0 && --i->pt_opens == 0 && i->pt_never)
		backing_close(pt, i);
	pthread_mutex_unlock(&pt->lock);
}

void pt_forget(void *arg, struct sfs_inode *i)
{
	/* No lock: nothing else can reach I any more (the kernel has forgotten it and no
	 * caller holds it), and the table lock is held, which pt_open takes inside
	 * pt->lock (inode_get_fd). */
	backing_close(arg, i);
}

void pt_stop(struct sfs_pt *pt)
{
	pthread_mutex_lock(&pt->lock);
	pt->dev = -1;
	atomic_store(&pt->on, false);
	pthread_mutex_unlock(&pt->lock);
}

int pt_reply_open(fuse_req_t req, uint64_t fh, int id, bool noflush)
{
	struct fuse_open_out arg = {
		.fh = fh,
		.open_flags = SFS_FOPEN_PASSTHROUGH | (noflush ? FOPEN_NOFLUSH : 0),
		.padding = (uint32_t)id,        /* backing_id since 7.40 */
	};

	return fuse_reply_buf(req, (const char *)&arg, sizeof(arg));
}
