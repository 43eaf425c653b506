/* ring.h — FUSE over io_uring (Linux 6.14+): requests without /dev/fuse reads.
 *
 * Every request the daemon answers costs the workload a round trip: the kernel queues
 * it, wakes a daemon thread, and sleeps until the reply is written.  On the 2-vCPU VM
 * this is measured (docs/benchmarks.md), most of that time is waking a daemon thread
 * on the other, idle vCPU.  With the ring, the kernel keeps one queue per CPU, and a
 * request goes to the queue of the CPU its caller runs on; each queue is served by
 * threads pinned to that CPU, so the caller and the daemon take turns on one CPU, and
 * a reply and the fetch of the next request are one system call.  The threads run
 * SCHED_IDLE, so that the caller the reply wakes stays on that CPU too (ring.c,
 * thread_main): a negative lookup from python takes 12-18 us so, 23-28 us at normal
 * priority, 32-34 us through /dev/fuse.
 *
 * libfuse 3.14 has no support for it.  The INIT reply asks for FUSE_OVER_IO_URING
 * (devio.c); once it has gone out, ring_start starts RING_THREADS threads per CPU
 * queue, each with its own io_uring and one ring entry (a header and a payload buffer
 * registered with FUSE_IO_URING_CMD_REGISTER).  A request that arrives in an entry is
 * laid out as /dev/fuse would have delivered it (in header, op header, payload: the
 * payload is not copied) and handed to libfuse's fuse_session_process_buf; the reply
 * libfuse writes is caught by the session's I/O wrapper (ring_reply, ring_splice_reply)
 * and put into the entry, which FUSE_IO_URING_CMD_COMMIT_AND_FETCH returns to the
 * kernel.  Two rules for the handlers (fs/ops*.c keep both): a request is answered by
 * the thread that took it, before the handler returns (that is how a reply finds its
 * entry); and nothing of the request (a name) is used after the reply, which is written
 * over it.  A failure of the ring after it has served ends the session as SIGTERM does:
 * the kernel would otherwise hold that CPU's requests for ever.
 *
 * The kernel switches to the ring once every CPU's queue has an entry; until then, and
 * always for FORGET and INTERRUPT, requests still come through /dev/fuse (loop.c).
 * Used by default when the kernel offers it (slimfs --io-uring=auto): the kernel's
 * switch, /sys/module/fuse/parameters/enable_uring, is host-wide and off by default,
 * and slimfs never turns it on; with it off, /dev/fuse serves (with one line on a
 * terminal saying what turning it on would save, ring_hint).
 */
#ifndef SLIMFS_RING_H
#define SLIMFS_RING_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Threads (each with one ring entry) per CPU queue: a request that blocks (a big
 * copy-up, fsync) holds up only its own thread. */
#define RING_THREADS 4

/* FUSE_OVER_IO_URING, an INIT flags2 bit since 7.42 (Linux 6.14). */
#define SFS_FUSE_OVER_IO_URING (1ULL << 41)

struct ring_thread;

struct sfs_ring {
	bool want;                      /* asked for at INIT (slimfs --io-uring) */
	bool quiet;                     /* --io-uring=auto: no warning when the kernel
					 * does not offer it at INIT */
	struct fuse_session *se;
	const char *prog;               /* for messages */
	size_t payload_sz;              /* an entry's payload buffer */
	unsigned cpus;                  /* CPU queues: one per possible CPU */
	int stop;                       /* eventfd: the session is over */
	unsigned n;                     /* threads started */
	struct ring_thread *threads;
	atomic_bool failed;             /* the kernel refused an entry (reported once) */
	atomic_bool warned_late;        /* a request without a reply (reported once) */
	atomic_bool served;             /* a request came through the ring */
	void (*on_served)(void *arg);   /* called once, at the first such request */
	void *on_served_arg;
};

/* The kernel's host-wide switch for FUSE over io_uring. */
#define RING_SWITCH "/sys/module/fuse/parameters/enable_uring"

/* Why the ring is off when the kernel has it but its switch is off (ring_init). */
extern const char ring_switch_off[];

/* Serve SE's requests through the ring: the INIT reply will ask for it.  NULL, or
 * why the kernel will not (the ring stays off): ring_switch_off, or another reason
 * (this kernel has no ring, no CPU list). */
const char *ring_init(struct sfs_ring *r, struct fuse_session *se, const char *prog);

/* The kernel's INIT request did not offer the ring (its switch went off since
 * ring_init, or a test hid it): the ring stays off, with a warning unless quiet. */
void ring_not_offered(struct sfs_ring *r);

/* The one line --io-uring=auto prints when the switch is off, on a terminal only: how
 * to turn it on, and what it saves, measured (docs/benchmarks.md). */
void ring_hint(const char *prog);

/* The INIT reply has been written: start the threads, which register their entries.
 * A refusal (the kernel's switch off) is reported once, and /dev/fuse goes on serving. */
void ring_start(struct sfs_ring *r);

/* The session is over: stop and join the threads. */
void ring_stop(struct sfs_ring *r);

/* The number of CPU queues for a possible-CPU list ("0-3,8-11": 12), as the kernel
 * makes one per possible CPU; 0 if LIST is not one. */
unsigned ring_cpu_count(const char *list);

/* For the session's I/O wrapper: the reply IOV, if it is the one of the request this
 * thread is serving from the ring, is put into its entry.  The reply's length, a
 * negative errno, or 0 if it is not a ring request's reply (nothing done). */
ssize_t ring_reply(const struct iovec *iov, int count);

/* The same for a reply libfuse spliced into pipe PIPE (LEN bytes). */
ssize_t ring_splice_reply(int pipe, size_t len);

#endif
