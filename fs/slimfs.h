/* slimfs.h — the recording overlay daemon as a library: slimfs_run mounts LOWERDIR
 * (read-only image) with a private upper layer on MOUNTPOINT, records every access
 * into the trace, and returns when the file system is unmounted.
 */
#ifndef SLIMFS_SLIMFS_H
#define SLIMFS_SLIMFS_H

#include <stdbool.h>

#include "../common/error.h"

struct slimfs_opts {
	const char *prog;               /* for messages */
	const char *lowerdir, *mountpoint;
	const char *trace;              /* trace file (created if missing) */
	const char *upper;              /* upper directory, or NULL for a private temporary one */
	const char *command;            /* workload command line for the run row */
	const char *fuse_opts;          /* extra comma-separated mount options, or NULL */
	bool foreground;                /* -f: do not daemonize */
	bool debug;                     /* libfuse debug output (implies foreground use) */
	bool verify;                    /* start the fanotify verifier when possible */
	bool verify_unlimited;          /* unlimited fanotify queue */
	int ready_fd;                   /* -1, or an fd that gets one byte once mounted */
	unsigned spin_us;               /* poll for requests this long after each (loop.h) */
	bool passthrough;               /* FUSE passthrough for image reads (passthrough.h) */
	bool io_uring;                  /* FUSE over io_uring (ring.h) */
};

/* Check the input, open the trace, mount, serve until unmounted, finish the trace.
 * Without opts->foreground the calling process exits with status 0 once the mount is
 * up (or with the daemon's status if it failed before); the daemon returns from this
 * call.  Returns 0, or -1 with ERR filled (nothing is mounted then). */
int slimfs_run(const struct slimfs_opts *opts, struct sfs_err *err);

#endif
