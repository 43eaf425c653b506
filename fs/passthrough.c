/* passthrough.c — FUSE passthrough for image files (passthrough.h): the per-inode
 * state, the backing ids, and the split of an inode written while it is read. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "copyup.h"
#include "fs.h"
#include "overlay.h"
#include "passthrough.h"

/* Kernel ABI 7.40 (Linux 6.9), newer than Debian 12's <linux/fuse.h>. */
#define SFS_FOPEN_PASSTHROUGH   (1U << 7)

struct sfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define SFS_DEV_IOC_BACKING_OPEN  _IOW(229, 1, struct sfs_backing_map)
#define SFS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* What passthrough knows of one image file (struct sfs_inode.pt), under pt->lock. */
struct pt_inode {
	bool claimed;                   /* opened to change the data: never starts again */
	bool idle;                      /* on the list of kept, unused backing files */
	int id;                         /* backing id, 0 if none */
	uint32_t opens;                 /* passthrough opens not yet released */
	struct sfs_inode *prev, *next;  /* the idle list, oldest first */
};

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
	if (!i->pt->idle)
		return;
	*(i->pt->prev ? &i->pt->prev->pt->next : &pt->idle_head) = i->pt->next;
	*(i->pt->next ? &i->pt->next->pt->prev : &pt->idle_tail) = i->pt->prev;
	i->pt->prev = i->pt->next = NULL;
	i->pt->idle = false;
	pt->idle--;
}

static void backing_close(struct sfs_pt *pt, struct sfs_inode *i)
{
	uint32_t id = (uint32_t)i->pt->id;

	idle_del(pt, i);
	if (id > 0 && pt->dev >= 0)
		ioctl(pt->dev, SFS_DEV_IOC_BACKING_CLOSE, &id);
	i->pt->id = 0;
}

static void idle_add(struct sfs_pt *pt, struct sfs_inode *i)
{
	i->pt->prev = pt->idle_tail;
	i->pt->next = NULL;
	*(pt->idle_tail ? &pt->idle_tail->pt->next : &pt->idle_head) = i;
	pt->idle_tail = i;
	i->pt->idle = true;
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
		i->pt->id = id;
	} else {
		fprintf(stderr, "slimfs: FUSE passthrough off: %s\n", strerror(errno));
		pt->on = false;
	}
}

/* I's state, made if I has none yet; NULL on out-of-memory. */
static struct pt_inode *state(struct sfs_inode *i)
{
	if (!i->pt)
		i->pt = calloc(1, sizeof(*i->pt));
	return i->pt;
}

/* Join I's backing file, if it has one. */
static int join(struct sfs_pt *pt, struct sfs_inode *i)
{
	if (!i->pt || i->pt->id == 0)
		return 0;
	idle_del(pt, i);
	i->pt->opens++;
	return i->pt->id;
}

/* Whether I can ever have a backing file: an image file, regular.  Neither changes, so
 * the opens, claims and forgets of every other inode (directories, symlinks, files the
 * mount made) take no lock. */
static bool backable(const struct sfs_inode *i)
{
	return i->has_lower && S_ISREG(i->type);
}

/* Is I's data the image file's, so a backing file may start?  (Lock held.) */
static bool image_data(struct sfs_inode *i)
{
	return !(i->pt && i->pt->claimed) && !atomic_load(&i->upper_data);
}

/* Claim I for a change of its data: 1 if it must be split (passthrough opens still
 * read the image), 0 if not, -ENOMEM. */
static int claim_write(struct sfs_pt *pt, struct sfs_inode *i)
{
	int split = 0;

	if (pt->dev < 0 || !backable(i))
		return 0;
	pthread_mutex_lock(&pt->lock);
	if (!state(i)) {
		split = -ENOMEM;
	} else {
		i->pt->claimed = true;
		split = i->pt->opens > 0;
		if (!split)
			backing_close(pt, i);   /* the image's file is about to stop being I's data */
	}
	pthread_mutex_unlock(&pt->lock);
	return split;
}

int pt_copy_up_data(struct sfs_fs *fs, struct sfs_inode *i, enum cu_what what,
		    uint64_t limit)
{
	int split = claim_write(&fs->pt, i), r;

	if (split < 0)
		return split;
	r = cu_copy_up(fs, i, what, limit);
	if (r == 0 && split) {
		itable_detach(&fs->it, i);
		r = -ESTALE;    /* the kernel walks the path again, to the upper copy */
	}
	return r;
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
	 * open registers one if it may: a claim, copied data and pt->on never come back. */
	pthread_mutex_lock(&pt->lock);
	id = join(pt, i);
	start = id == 0 && image_data(i) && pt->on;
	pthread_mutex_unlock(&pt->lock);
	if (!start)
		return id;

	/* The file is opened outside the lock and registered under it, unless another
	 * first open has been quicker; the kernel keeps its own reference. */
	fd = ov_reopen(&fs->it, i, SFS_LOWER, O_RDONLY | O_CLOEXEC);
	pthread_mutex_lock(&pt->lock);
	if (!state(i))
		;               /* out of memory: a normal open */
	else if (i->pt->id == 0 && fd < 0)
		i->pt->claimed = true;  /* no file to back it: a normal open, for good */
	else if (i->pt->id == 0 && image_data(i) && pt->on)
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
	if (i->pt && i->pt->opens > 0 && --i->pt->opens == 0) {
		/* Kept for the next open while the data is still the image's. */
		if (image_data(i))
			idle_add(pt, i);
		else
			backing_close(pt, i);
	}
	pthread_mutex_unlock(&pt->lock);
}

void pt_forget(void *arg, struct sfs_inode *i)
{
	struct sfs_pt *pt = arg;

	if (!i->pt)     /* never opened nor claimed: no one else can be giving it one */
		return;
	pthread_mutex_lock(&pt->lock);
	backing_close(pt, i);
	free(i->pt);
	i->pt = NULL;
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
