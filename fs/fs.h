/* fs.h — the daemon's state: what every FUSE operation of a slimfs mount reaches through
 * the session's userdata, and the directory locks that order changes of the upper layer.
 *
 * Each part has its own header and state: the inode table (inode.h), the layers and
 * the merged view (overlay.h), copy-up (copyup.h), the image's hardlinks
 * (hardlinks.h), FUSE passthrough (passthrough.h), FUSE over io_uring (ring.h), the
 * session's I/O (devio.h), the request loop (loop.h), the operations (ops.h); mount.c
 * puts them together for the life of one mount.
 *
 * Directory locks.  The kernel serialises the operations it sends on names within one
 * directory (it holds the directory's lock for create, unlink, rename, link ...; it
 * lets lookups in run side by side), but not a copy-up, which it knows nothing of: a
 * write-open, a chmod or a link of a file copies it (and its parent directories, and
 * the other names of an image hardlink) into directories the kernel holds no lock of.
 * So every change of an upper directory takes that directory's lock, for writing:
 * creating, removing and renaming names, and a copy-up linking its finished copy in;
 * a lookup or a listing takes it for reading, so that what it finds and what it enters
 * into the inode table agree with one state of the directory.  Data is never copied
 * under a directory lock (copyup.h): a copy-up of a large file holds up no other name.
 * A lock stands for a directory by the identity that never changes: its lower file's
 * if it has a lower part (which a copy-up by path, hardlinks.h, also knows), else its
 * upper one; locks are striped (SFS_DIRLOCKS of them), so two directories may share
 * one, which costs only waiting.
 *
 * Lock order: at most one directory lock is held at a time, except the two of a rename
 * and those of the directories an image hardlink's copy is linked into (copyup.c),
 * each taken in stripe order; a copy-up (which takes directory locks) runs before an
 * operation takes its own, never under one.  Then the inode table's lock (inode.h),
 * then passthrough's (passthrough.h), each held only for memory work.
 */
#ifndef SLIMFS_FS_H
#define SLIMFS_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../store/trace.h"
#include "devio.h"
#include "hardlinks.h"
#include "inode.h"
#include "passthrough.h"
#include "ring.h"

#define SFS_DIRLOCKS 256        /* a power of two */

/* Every open file and directory handle is on a list, so those the kernel never
 * released (it need not, at unmount) are freed at the end. */
struct sfs_handle {
	struct sfs_handle *prev, *next;
	bool is_dir;
};

/* The daemon's state, handed to every FUSE operation as userdata. */
struct sfs_fs {
	struct devio io;                /* first: what devio.c sees of the userdata */
	struct inode_table it;
	int lower_root;                 /* O_PATH root of LOWERDIR (the verifier's mount) */
	int copy_root;                  /* O_PATH root of LOWERDIR on a mount the verifier
					 * does not watch: copy-ups read the image there */
	int upper_root;                 /* O_PATH root of the upper directory */
	struct trace_writer *trace;
	double timeout;                 /* entry, attr and negative entry timeout (s) */
	pthread_rwlock_t dirlocks[SFS_DIRLOCKS];
	struct hl_index *hardlinks;     /* the image's hardlinks, found at first need */
	pthread_mutex_t handles_lock;
	struct sfs_handle handles;      /* list head of open handles */
	struct sfs_pt pt;               /* passthrough (passthrough.h) */
	struct sfs_ring ring;           /* FUSE over io_uring (ring.h) */
};

static inline struct sfs_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The stripe of the directory whose never-changing identity is (DEV, INO). */
static inline unsigned dirlock_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;

	return (unsigned)(h >> 40) & (SFS_DIRLOCKS - 1);
}

/* The stripe of directory inode D (see above: lower identity if it has one). */
static inline unsigned dirlock_key(const struct sfs_inode *d)
{
	return d->has_lower ? dirlock_of(d->lower_dev, d->lower_ino) : dirlock_of(d->dev, d->ino);
}

static inline void dirlock_read(struct sfs_fs *fs, unsigned k)
{
	pthread_rwlock_rdlock(&fs->dirlocks[k]);
}

static inline void dirlock_write(struct sfs_fs *fs, unsigned k)
{
	pthread_rwlock_wrlock(&fs->dirlocks[k]);
}

static inline void dirlock_unlock(struct sfs_fs *fs, unsigned k)
{
	pthread_rwlock_unlock(&fs->dirlocks[k]);
}

/* The two stripes of a rename, in order (one lock when they are the same). */
static inline void dirlock_write2(struct sfs_fs *fs, unsigned a, unsigned b)
{
	if (a > b) {
		unsigned t = a;

		a = b;
		b = t;
	}
	dirlock_write(fs, a);
	if (b != a)
		dirlock_write(fs, b);
}

static inline void dirlock_unlock2(struct sfs_fs *fs, unsigned a, unsigned b)
{
	dirlock_unlock(fs, a);
	if (b != a)
		dirlock_unlock(fs, b);
}

#endif
