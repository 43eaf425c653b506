/* run.h — slimfs-run as a library: one recorded run of a command in a container whose
 * root filesystem is a slimfs mount of an image, and the --check comparison.
 *
 * The flow of one run (run_session): resolve the image (a directory, or a tarball
 * unpacked once into a digest-keyed cache), make sure CMD exists in it, mount slimfs
 * over it on a private temporary mount point, run CMD with the built-in runtime or
 * with runc, unmount, wait for the daemon (the trace is complete then), remove the
 * mount point.  The runner works in its own private mount namespace (run_isolate),
 * so whatever happens to it, no mount it made is ever visible on the host.
 *
 * Exit statuses: CMD's own (128+N when it was killed by signal N); RUN_EXIT_NOTFOUND
 * when CMD is not in the image; RUN_EXIT_ERROR for every failure of the runner; for a
 * service, the first failing probe's, RUN_EXIT_TIMEOUT for one killed at its timeout.
 */
#ifndef SLIMFS_RUN_H
#define SLIMFS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/error.h"
#include "../common/util.h"
#include "policy.h"

#define RUN_EXIT_TIMEOUT 124      /* a probe still running after --probe-timeout */
#define RUN_EXIT_ERROR 125
#define RUN_EXIT_NOEXEC 126
#define RUN_EXIT_NOTFOUND 127

#define RUN_DEFAULT_TRACE "slimfs-trace.db"
#define RUN_DEFAULT_HOSTNAME "slimfs"
#define RUN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUN_STATE_DIR "/run/slimfs"           /* mount points, OCI bundles */
#define RUN_CACHE_DIR SFS_CACHE_DIR           /* images/<sha256>/rootfs: unpacked tarballs */

enum run_runtime { RUNTIME_BUILTIN, RUNTIME_RUNC };

struct img;
struct img_config;

/* A service run (service.c): the container's own command is a server; once it is
 * ready the steps run in order, then it is stopped.  On when any of --wait-port,
 * --wait-cmd, --probe, --http-probe, --exec is given. */
enum svc_step_kind { SVC_PROBE, SVC_HTTP, SVC_EXEC };

struct svc_step {
	enum svc_step_kind kind;
	const char *arg;          /* the command (sh -c), or the HTTP path */
};

#define SVC_MAX_PORTS 32

struct svc_opts {
	bool on;
	int ports[SVC_MAX_PORTS]; /* --wait-port, or (none given) the image's ExposedPorts */
	size_t nports;
	const char *wait_cmd;     /* --wait-cmd, or NULL */
	int wait_timeout;         /* seconds (--wait-timeout, default 60) */
	int stop_timeout;         /* seconds (--stop-timeout, default 10) */
	int probe_timeout;        /* seconds for each --probe, --exec (--probe-timeout,
				   * default 300; 0: none) */
	const struct svc_step *steps;
	size_t nsteps;
};

#define SVC_DEFAULT_WAIT_TIMEOUT 60
#define SVC_DEFAULT_STOP_TIMEOUT 10
#define SVC_DEFAULT_PROBE_TIMEOUT 300

/* What the user asked for; the same for every run of one invocation (--check runs
 * CMD twice with exactly these). */
struct run_opts {
	enum run_runtime runtime;
	char **argv;              /* -- CMD [ARG...] (NULL-terminated), or NULL: none given */
	char **entrypoint;        /* --entrypoint words (may be none), or NULL: not given */
	char **env;               /* --env K=V, NULL-terminated (may be empty) */
	const char *workdir;      /* --workdir, or NULL: the image's WorkingDir, else "/" */
	const char *user;         /* --user NAME|UID[:GROUP|GID], or NULL: the image's, else root */
	bool net_none;            /* own network namespace with only lo */
	const char *hostname;
	bool no_verify;           /* slimfs --no-verify */
	bool no_passthrough;      /* slimfs --no-passthrough */
	const char *io_uring;     /* slimfs --io-uring=on|off|auto; NULL: the daemon's default */
	struct policy policy;     /* confinement (--privileged, --cap-add, --cap-drop) */
	const char *platform;     /* --platform os/arch[/variant]: picks from an image index */
	struct svc_opts svc;      /* a service run (all zero: a plain run) */
};

/* Where one run records and what its CMD sees as stdin/stdout (-1: inherited). */
struct run_target {
	const char *rootfs;       /* absolute path of the image directory */
	const struct img_config *config;  /* the image config the process follows, or NULL */
	const struct img *img;    /* the image recorded in the run row, or NULL */
	const char *image;        /* that image as the user gave it */
	const char *trace;        /* trace file (absolute) */
	const char *upper;        /* slimfs --upper, or NULL for the daemon's default */
	int stdin_fd, stdout_fd;
	int *server_status;       /* service runs: the server's exit status, or NULL */
};

/* Make sure fds 0, 1 and 2 are open (on /dev/null where they are not), so no file
 * the runner opens later lands on them.  Call first thing. */
int run_std_fds(struct sfs_err *err);

/* Enter a private mount namespace (mounts made after this never reach the host). */
int run_isolate(struct sfs_err *err);

/* The runner's bounding set: what "all capabilities" can mean for the container. */
uint64_t run_available_caps(void);

/* A forwarded signal (INT TERM HUP QUIT) waiting for the runner, or 0.  Long stages
 * (unpacking, mounting) stop at it; the runner then exits with 128+N. */
int run_pending_signal(void);

/* Block the signals the runner forwards (INT TERM HUP QUIT) and SIGCHLD; children
 * restore the mask they inherited with run_unblock_signals. */
void run_block_signals(void);
void run_unblock_signals(void);

/* Resolve ROOTFS (directory or tarball) into an absolute image directory in *DIR
 * (malloc'd).  Tarballs are unpacked once into CACHE/images/<sha256>/rootfs, CACHE
 * being sfs_cache_dir(); images/ and its entries are root-only (0700). */
int image_resolve(const char *rootfs, char **dir, struct sfs_err *err);

/* ROOTFS as given, resolved (resolve.c): a container image (image/img.h; IMG set, DIR
 * its cached rootfs), else a directory or a flat tarball (image_resolve; IMG NULL). */
struct run_image {
	char *dir;                /* absolute path of the image directory */
	struct img *img;          /* the image and its config, or NULL */
};

/* PLATFORM ("os/arch[/variant]", NULL: the host's) picks from a multi-platform image. */
int run_resolve(const char *arg, const char *platform, struct run_image *ri,
		struct sfs_err *err);
/* Only images: 1 and RI filled when ARG is one, 0 when it is not, -1 on error. */
int run_resolve_image(const char *arg, const char *platform, struct run_image *ri,
		      struct sfs_err *err);
void run_image_free(struct run_image *ri);

/* Unpack tarball FILE into a new directory under PARENT; *DIR gets its path. */
int image_unpack_tmp(const char *file, const char *parent, char **dir, struct sfs_err *err);

/* Record one run in T of the process O and T->config make (spec.c: as podman run makes
 * it).  *STATUS gets the exit status to return (CMD's, or RUN_EXIT_NOTFOUND /
 * RUN_EXIT_NOEXEC / RUN_EXIT_ERROR on failure, with ERR filled). */
int run_session(const struct run_opts *o, const struct run_target *t, int *status,
		struct sfs_err *err);

/* --check: run O in ROOTFS and in LEAN, each through slimfs with a throwaway trace,
 * each with its own image config (a LEAN that is no image takes ROOTFS's), compare
 * exit status and stdout; print a diff and a summary line on stdout.
 * *STATUS: 0 when both agree, 1 when not, RUN_EXIT_ERROR on failure. */
int run_check(const struct run_opts *o, const char *rootfs, const char *lean, int *status,
	      struct sfs_err *err);

#endif
