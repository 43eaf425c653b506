/* devio.h — the session's /dev/fuse I/O, wrapped for what libfuse 3.14 does not know.
 *
 * fuse_session_custom_io routes every read and reply of the session through here:
 *  - the session's first request is INIT: what it offers is remembered, less what
 *    `slimfs --hide-cap` hides (a test mode: each capability the daemon relies on is
 *    taken out of the request before libfuse reads it, so the daemon runs as on a
 *    kernel without it, and the fallback is proven on this one);
 *  - the session's first reply answers INIT (the kernel sends no other request until
 *    it is answered, and the daemon sends no notification before): it gets the flags
 *    libfuse cannot set, if the kernel offered them, FUSE_PASSTHROUGH with
 *    max_stack_depth (passthrough.h) and FUSE_OVER_IO_URING (ring.h); once it is
 *    written, the ring starts.  What was not offered is switched off: passthrough
 *    quietly, the ring with a warning unless --io-uring=auto;
 *  - the reply of a request that came through the ring goes into its ring entry
 *    instead of /dev/fuse, written or spliced;
 *  - before a reply goes out through /dev/fuse, the request loop is told
 *    (loop_replying: its thread drops to SCHED_IDLE, loop.c).
 * It is installed on every session.
 */
#ifndef SLIMFS_DEVIO_H
#define SLIMFS_DEVIO_H

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdint.h>

struct sfs_pt;
struct sfs_ring;

/* What the wrapper needs of the daemon.  It is the first member of the session's
 * userdata (struct sfs_fs, fs.h), which is how the callbacks, which get only the
 * userdata, find it. */
struct devio {
	struct sfs_pt *pt;              /* passthrough: the INIT reply asks for it when on */
	struct sfs_ring *ring;          /* the ring: asked for when wanted, started after */
	uint64_t hide_caps;             /* INIT flags to hide (slimfs --hide-cap, for tests) */
	uint64_t kernel_caps;           /* the flags the kernel's INIT offered, less those */
	atomic_bool init_read;          /* the INIT request has come in */
	atomic_bool init_done;          /* the INIT reply has gone out */
};

/* Route SE's I/O through here (after fuse_session_mount, before serving).  SE's
 * userdata starts with a struct devio; the INIT reply asks for what it has turned on
 * by then.  0, or a negative errno. */
int devio_install(struct fuse_session *se);

#endif
