/* slimfs.h — the recording overlay daemon as a library: slimfs_run mounts LOWERDIR
 * (read-only image) with a private upper layer on MOUNTPOINT, records every access
 * into the trace, and returns when the file system is unmounted.
 */
#ifndef SLIMFS_SLIMFS_H
#define SLIMFS_SLIMFS_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"

/* How requests reach the daemon (--io-uring=MODE; ring.h). */
enum slimfs_uring {
	SLIMFS_URING_AUTO = 0,          /* the ring when the kernel's switch is on, silently
					 * /dev/fuse otherwise (with a hint on a terminal) */
	SLIMFS_URING_ON,                /* the ring; a warning when it is unavailable */
	SLIMFS_URING_OFF,               /* /dev/fuse */
};

struct slimfs_opts {
	const char *prog;               /* for messages */
	const char *lowerdir, *mountpoint;
	const char *trace;              /* trace file (created if missing) */
	const char *upper;              /* upper directory, or NULL for a private temporary one */
	const char *command;            /* workload command line for the run row */
	const char *image;              /* the run row's image columns, or NULL (trace.h) */
	const char *manifest_digest, *config_digest;
	const char *fuse_opts;          /* extra comma-separated mount options, or NULL */
	bool foreground;                /* -f: do not daemonize */
	bool debug;                     /* libfuse debug output (implies foreground use) */
	bool verify;                    /* start the fanotify verifier when possible */
	bool verify_unlimited;          /* unlimited fanotify queue */
	int ready_fd;                   /* -1, or an fd that gets one byte once mounted */
	unsigned spin_us;               /* poll for requests this long after each (loop.h) */
	bool passthrough;               /* FUSE passthrough for image reads (passthrough.h) */
	enum slimfs_uring io_uring;     /* FUSE over io_uring (ring.h) */
	uint64_t hide_caps;             /* for tests: INIT capabilities the daemon acts as
					 * if the kernel lacked (slimfs_parse_caps) */
};

/* Open LOWERDIR through a private bind mount that is attached nowhere (no entry
 * appears in any mount table) and return an O_PATH|O_DIRECTORY fd of its root in
 * *ROOT_FD.  The daemon reads the image through such mounts only: one for the
 * workload, which the fanotify verifier marks, and one for copy-ups (fs/copyup.h).
 * Needs CAP_SYS_ADMIN; without it, fails with err->code == EPERM and the caller falls
 * back to a plain open of LOWERDIR with the verifier off. */
int lower_private_mount(const char *lowerdir, int *root_fd, struct sfs_err *err);

/* The same through the old mount API (bind onto a temporary directory, make private
 * and read-only, detach); lower_private_mount falls back to it on kernels without
 * open_tree/mount_setattr.  Exposed so that tests cover both roads. */
int lower_private_mount_bind(const char *lowerdir, int *root_fd, struct sfs_err *err);

/* The INIT capabilities named in LIST ("passthrough,uring"; devio.h lists them) as
 * the mask slimfs_opts.hide_caps takes: 0, or -1 with the first unknown name in ERR. */
int slimfs_parse_caps(const char *list, uint64_t *mask, struct sfs_err *err);

/* Check the input, open the trace, mount, serve until unmounted, finish the trace.
 * Without opts->foreground the calling process exits with status 0 once the mount is
 * up (or with the daemon's status if it failed before); the daemon returns from this
 * call.  Returns 0, or -1 with ERR filled (nothing is mounted then). */
int slimfs_run(const struct slimfs_opts *opts, struct sfs_err *err);

#endif
