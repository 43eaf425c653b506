/* verify.h — the fanotify verifier: which lower files did the daemon physically
 * open, read and execute?
 *
 * The daemon reads LOWERDIR for the workload only through a private, detached bind
 * mount of it (lower_private_mount, slimfs.h), so a fanotify mark on that mount sees
 * the daemon's own accesses on behalf of the workload and nothing else on the host
 * (copy-ups read through another such mount, which is not marked).  The verifier
 * thread maps each event back to the path inside the container and records
 * OP_VERIFY_OPEN / OP_VERIFY_READ / OP_VERIFY_EXEC in the trace.  A queue overflow
 * marks the run incomplete (trace_mark_overflow).
 */
#ifndef SLIMFS_VERIFY_H
#define SLIMFS_VERIFY_H

#include <stdbool.h>

#include "../common/error.h"
#include "../store/trace.h"

struct verifier;

struct verifier_opts {
	bool unlimited_queue;   /* FAN_UNLIMITED_QUEUE (the default); false: the kernel's
				 * fs.fanotify.max_queued_events limit, so overflow can happen */
};

/* Mark the mount ROOT_FD lives on and start the verifier thread recording into W.
 * ROOT_FD stays owned by the caller. */
int verifier_start(struct verifier **out, int root_fd, struct trace_writer *w,
		   const struct verifier_opts *opts, struct sfs_err *err);

/* Drain what is queued and stop the thread (NULL is fine): after it, V records
 * nothing more, but still holds its fanotify group. */
void verifier_halt(struct verifier *v);

/* Halt V if it runs, release its fanotify group and free V (NULL is fine).  Closing
 * a group that holds marks waits for an SRCU grace period in the kernel (10-30 ms),
 * so the daemon halts V before closing the trace and frees it after, where no one
 * waits for it. */
void verifier_stop(struct verifier *v);

#endif
