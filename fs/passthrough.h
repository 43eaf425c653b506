/* passthrough.h — FUSE passthrough (kernel 6.9+): the kernel reads image files itself.
 *
 * A read-only open of an image (lower) file is answered with a backing file: the
 * kernel then serves read, splice and mmap from the daemon's own lower file, and no
 * READ request reaches the daemon.  Such an open is recorded as `passthrough`, which
 * is read evidence: the reads it stands for cannot be seen, and keeping a file that
 * was opened to be read is the safe side.  The fanotify verifier, which watches the
 * mount the backing files live on, still confirms the physical reads (verify_read).
 *
 * libfuse 3.14 has no API for it.  The INIT reply gets FUSE_PASSTHROUGH and
 * max_stack_depth from the session's I/O wrapper (devio.h); backing files are
 * registered with FUSE_DEV_IOC_BACKING_OPEN; the open reply is built here.
 *
 * The kernel's rule (fs/fuse/iomode.c): while an inode has a passthrough open, every
 * other open of it must be a passthrough open with the same backing file, or it fails
 * with EIO; and a passthrough open cannot start while a normal open is live.  So:
 *  - Each inode has at most one backing id, shared by all its passthrough opens and
 *    counted.  Registration happens under the lock, so two first opens of one file
 *    cannot disagree.
 *  - Passthrough starts only on an inode whose data is the image file's: its data was
 *    never copied up (fs/copyup.h: a metadata-only copy, made by chmod, utimes or
 *    xattrs, leaves the data as it was, so such an inode keeps passthrough whatever
 *    layer shows its metadata) and nothing has claimed it for writing.  Whoever
 *    decides on a normal open either joins a running passthrough or has seen the data
 *    copied or claimed (or passthrough off), and none of these ever reverts.
 *  - After the last close the backing id is kept, so the next open of the file costs
 *    no registration; at most PT_KEEP idle ids are kept (the kernel holds a file for
 *    each), the oldest closed first, and an inode's id goes when it is forgotten.
 *  - An open that would change the data (write access, O_TRUNC, truncate by path)
 *    claims the inode and copies its data up (pt_copy_up_data).  If passthrough opens
 *    still read the image file, the inode cannot be given another backing file: the
 *    open "splits" it instead.  The file is copied up, the inode leaves the table (its
 *    old opens keep reading the image, as under overlayfs before 4.19), and the open
 *    fails with ESTALE, which makes the kernel walk the path again with revalidation
 *    (do_filp_open, retry_estale): the lookup then finds the upper copy, a new inode,
 *    and the open succeeds on it.  A walk that cannot revalidate (a write-open of
 *    /proc/self/fd/N of the held file) gets the ESTALE.
 *
 * The state passthrough keeps per inode (struct pt_inode, here) is made at the first
 * open or claim of an image file and freed with the inode (pt_forget).
 *
 * Locking: pt->lock guards every inode's pt state and the idle list; it is taken
 * inside the inode table's lock (pt_forget), never around it.
 */
#ifndef SLIMFS_PASSTHROUGH_H
#define SLIMFS_PASSTHROUGH_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "copyup.h"

struct sfs_fs;
struct sfs_inode;

/* FUSE_PASSTHROUGH, an INIT flags2 bit since 7.40 (Linux 6.9). */
#define SFS_FUSE_PASSTHROUGH (1ULL << 37)

/* Idle backing ids kept at most. */
#define PT_KEEP 4096

struct sfs_pt {
	pthread_mutex_t lock;
	int dev;                        /* the session's /dev/fuse, -1 when there is none:
					 * set before serving, cleared after, so
					 * requests read it without the lock */
	bool on;                        /* new passthrough opens may start */
	uint32_t depth;                 /* max_stack_depth asked for at INIT */
	struct sfs_inode *idle_head, *idle_tail;
	size_t idle;                    /* inodes on the idle list */
};

void pt_init(struct sfs_pt *pt);
void pt_destroy(struct sfs_pt *pt);

/* Allow passthrough opens on SE (after fuse_session_mount, with the session's I/O
 * wrapped, before serving: the INIT reply asks for it).  STACKED: the image lives on a
 * stacked file system (overlayfs), whose files can back ours only at stack depth 2. */
void pt_enable(struct sfs_pt *pt, struct fuse_session *se, bool stacked);

/* An open of I that will change its data (write access, O_TRUNC, truncate by path)
 * is about to proceed: claim I (it never starts passthrough again) and copy it up,
 * WHAT and LIMIT as cu_copy_up (copyup.h).  0, or -errno; -ESTALE if passthrough opens
 * still read its image file: I is split off (see above), and the kernel walks the
 * path again to the copy. */
int pt_copy_up_data(struct sfs_fs *fs, struct sfs_inode *i, enum cu_what what,
		    uint64_t limit);

/* A read-only open of I: the backing id to answer it with (I's passthrough opens
 * count one more), or 0 for a normal open.  The daemon keeps no fd of such an open. */
int pt_open(struct sfs_fs *fs, struct sfs_inode *i);

/* The passthrough open of I that pt_open answered has been released. */
void pt_release(struct sfs_pt *pt, struct sfs_inode *i);

/* I is being freed (the inode table's hook, ARG the sfs_pt): drop its backing file and
 * its state. */
void pt_forget(void *arg, struct sfs_inode *i);

/* The session is gone: no more ioctls on its /dev/fuse. */
void pt_stop(struct sfs_pt *pt);

/* Reply to an open with backing id ID: fh, FOPEN_PASSTHROUGH, and FOPEN_NOFLUSH (a
 * read-only file the daemon holds no fd of has nothing to flush, whatever layer shows
 * its metadata; locks are local). */
int pt_reply_open(fuse_req_t req, uint64_t fh, int id);

#endif
