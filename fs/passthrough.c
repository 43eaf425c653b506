/* passthrough.c — FUSE passthrough for image files (passthrough.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "overlay.h"

/* Kernel ABI 7.40 (Linux 6.9), newer than Debian 12's <linux/fuse.h>. */
#define SFS_FOPEN_PASSTHROUGH   (1U << 7)

struct sfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define SFS_DEV_IOC_BACKING_OPEN  _IOW(229, 1, struct sfs_backing_map)
#define SFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

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

void pt_enable(struct sfs_pt *pt, struct fuse_session *se, bool stacked)
{
	pthread_mutex_lock(&pt->lock);
	pt->dev = fuse_session_fd(se);
	pt->depth = stacked ? 2 : 1;
	pt->on = true;
	pthread_mutex_unlock(&pt->lock);
}

/* ---- the idle list and backing ids (pt->lock held) ------------------------- */

static void idle_del(struct sfs_pt *pt, struct sfs_inode *i)
{
	if (!i->pt_idle)
		return;
	*(i->pt_prev ? &i->pt_prev->pt_next : &pt->idle_head) = i->pt_next;
	*(i->pt_next ? &i->pt_next->pt_prev : &pt->idle_tail) = i->pt_prev;
	i->pt_prev = i->pt_next = NULL;
	i->pt_idle = false;
	pt->idle--;
}

static void backing_close(struct sfs_pt *pt, struct sfs_inode *i)
{
	uint32_t id = (uint32_t)i->pt_id;

	idle_del(pt, i);
	if (id > 0 && pt->dev >= 0)
		ioctl(pt->dev, SFS_DEV_IOC_BACKING_CLOSE, &id);
	i->pt_id = 0;
}

static void idle_add(struct sfs_pt *pt, struct sfs_inode *i)
{
	i->pt_prev = pt->idle_tail;
	i->pt_next = NULL;
	*(pt->idle_tail ? &pt->idle_tail->pt_next : &pt->idle_head) = i;
	pt->idle_tail = i;
	i->pt_idle = true;
	if (++pt->idle > PT_KEEP)
		backing_close(pt, pt->idle_head);
}

/* Register FD, I's lower file open for reading, as I's backing file.  When the kernel
 * refuses, passthrough goes off for good: the reason (no passthrough granted at
 * INIT, an image stacked too deep) holds for every file. */
static void backing_open(struct sfs_pt *pt, struct sfs_inode *i, int fd)
{
	struct sfs_backing_map map = { .fd = fd };
	int id = ioctl(pt->dev, SFS_DEV_IOC_BACKING_OPEN, &map);

	if (id > 0) {
		i->pt_id = id;
	} else {
		fprintf(stderr, "slimfs: FUSE passthrough off: %s\n", strerror(errno));
		pt->on = false;
	}
}

/* Join I's backing file, if it has one. */
static int join(struct sfs_pt *pt, struct sfs_inode *i)
{
	if (i->pt_id == 0)
		return 0;
	idle_del(pt, i);
	i->pt_opens++;
	return i->pt_id;
}

/* Whether I can ever have a backing file: an image file, regular.  Neither changes, so
 * the opens, claims and forgets of every other inode (directories, symlinks, files the
 * mount made) take no lock. */
static bool backable(const struct sfs_inode *i)
{
	return i->has_lower && S_ISREG(i->type);
}

bool pt_claim_write(struct sfs_pt *pt, struct sfs_inode *i)
{
	bool split;

	if (pt->dev < 0 || !backable(i))
		return false;
	pthread_mutex_lock(&pt->lock);
	split = i->pt_opens > 0;
	i->pt_image = false;
	if (!split)
		backing_close(pt, i);   /* the image's file is about to stop being I's data */
	pthread_mutex_unlock(&pt->lock);
	return split;
}

int pt_open(struct sfs_fs *fs, struct sfs_inode *i)
{
	struct sfs_pt *pt = &fs->pt;
	bool start;
	int id, fd;

	if (pt->dev < 0 || !backable(i))
		return 0;       /* never installed, the session is over, or not an image file */
	/* A backing file of running opens, or one kept while the data is still the
	 * image's, is joined (an inode has none otherwise).  Without one, a first
	 * open registers one if it may: pt_image and pt->on never come back. */
	pthread_mutex_lock(&pt->lock);
	id = join(pt, i);
	start = id == 0 && i->pt_image && pt->on;
	pthread_mutex_unlock(&pt->lock);
	if (!start)
		return id;

	/* The file is opened outside the lock and registered under it, unless another
	 * first open has been quicker; the kernel keeps its own reference. */
	fd = ov_reopen(fs, i, SFS_LOWER, O_RDONLY | O_CLOEXEC);
	pthread_mutex_lock(&pt->lock);
	if (i->pt_id == 0 && fd < 0)
		i->pt_image = false;    /* no file to back it: a normal open, for good */
	else if (i->pt_id == 0 && i->pt_image && pt->on)
		backing_open(pt, i, fd);
	id = join(pt, i);
	pthread_mutex_unlock(&pt->lock);
	if (fd >= 0)
		close(fd);
	return id;
}

void pt_release(struct sfs_pt *pt, struct sfs_inode *i)
{
	pthread_mutex_lock(&pt->lock);
	if (i->pt_opens > 0 && --i->pt_opens == 0) {
		/* Kept for the next open while the data is still the image's. */
		if (i->pt_image)
			idle_add(pt, i);
		else
			backing_close(pt, i);
	}
	pthread_mutex_unlock(&pt->lock);
}

void pt_forget(void *arg, struct sfs_inode *i)
{
	struct sfs_pt *pt = arg;

	if (!backable(i))
		return;
	pthread_mutex_lock(&pt->lock);
	backing_close(pt, i);
	pthread_mutex_unlock(&pt->lock);
}

void pt_stop(struct sfs_pt *pt)
{
	pthread_mutex_lock(&pt->lock);
	pt->dev = -1;
	pt->on = false;
	pthread_mutex_unlock(&pt->lock);
}

int pt_reply_open(fuse_req_t req, uint64_t fh, int id)
{
	struct fuse_open_out arg = {
		.fh = fh,
		.open_flags = SFS_FOPEN_PASSTHROUGH | FOPEN_NOFLUSH,
		.padding = (uint32_t)id,        /* backing_id since 7.40 */
	};

	return fuse_reply_buf(req, (const char *)&arg, sizeof(arg));
}
