/* loop.h — the request loop (loop.c). */
#ifndef SLIMFS_LOOP_H
#define SLIMFS_LOOP_H

#include <fuse_lowlevel.h>

/* Serve requests until the session ends (unmount or signal) with a pool of threads
 * pinned per CPU, in which the thread that answered last polls for up to spin_us (0:
 * never polls).  Returns 0, or a negative errno. */
int sfs_loop(struct fuse_session *se, unsigned spin_us);

/* A reply is about to go out through /dev/fuse (devio.c): a pool thread switches to
 * SCHED_IDLE, so that the caller it wakes stays on its CPU.  Nothing in any other
 * thread. */
void loop_replying(void);

#endif
