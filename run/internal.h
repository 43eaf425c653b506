/* internal.h — the pieces of run/ that run.h's entry points are made of.  Not
 * installed; tests use run.h.
 *
 * A struct container is everything a runtime needs to start CMD: the mount to use as
 * root and the fully resolved process (environment, user, directory, stdio).  Both
 * runtimes give CMD the same view: fresh /proc, a minimal /dev, read-only /sys, own
 * PID/UTS/IPC/mount namespaces, optionally its own network namespace, a session
 * keyring of its own, and the confinement of policy.h (capabilities, seccomp, masked
 * and read-only paths).  Both make the container die with the runner.
 */
#ifndef SLIMFS_RUN_INTERNAL_H
#define SLIMFS_RUN_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "run.h"

struct container {
	const struct run_opts *o;
	const char *root;       /* the slimfs mount point */
	char **argv;
	char **envp;            /* complete environment of CMD */
	const char *cwd;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;    /* supplementary groups (the primary among them) */
	size_t ngroups;
	int stdin_fd, stdout_fd;        /* -1: inherited */
	int stderr_fd;                  /* -1: inherited */
	pid_t daemon;                   /* the slimfs daemon serving root */
	int stop_signal;                /* forwarded to CMD as well (0: none) */
	struct service *svc;            /* a service run (service.c), else NULL */
};

/* ---- process.c: fds, signals, children, waiting, exit statuses ---- */

/* Put a copy of FROM[i] on fd TO[i] (not close-on-exec) for each i < N (N <= 8),
 * whatever the numbers are: a source that is another's target, or its own. */
int fds_place(const int *from, const int *to, size_t n);

/* In a child about to exec CMD (or runc): forwarded signals (and C's stop signal) back
 * to their defaults and unblocked, C's stdin, stdout and stderr (those given) on fds 0,
 * 1 and 2.  -1 with errno. */
int container_stdio(const struct container *c);

/* clone(2) like fork() with FLAGS (CLONE_NEW*): the child gets SIGKILL from the kernel
 * when the runner dies, and never outlives a runner that died before it could ask for
 * that.  Returns the pid in the runner, 0 in the child, -1 with errno. */
pid_t clone_guarded(unsigned long flags);

/* As pid 1 of a PID namespace: wait for CHILD, forwarding the forwarded signals (and
 * EXTRA, a service's stop signal, when not 0) to it (blocked, see run_block_signals and
 * forwarded_extra) and reaping every orphan; CHILD's exit status. */
int reap_forwarding(pid_t child, int extra);

/* *SET = the signals forwarded to CMD (INT TERM HUP QUIT) and SIGCHLD: what
 * run_block_signals blocks and the waiters take with sigwaitinfo. */
void forwarded_set(sigset_t *set);

/* Install HANDLER for each forwarded signal (not SIGCHLD). */
void forwarded_handle(void (*handler)(int));

/* Block EXTRA (a stop signal; 0: none) and give it HANDLER, as forwarded_handle does
 * for the forwarded ones. */
void forwarded_extra(int extra, void (*handler)(int));

/* Wait for CHILD, forwarding INT/TERM/HUP/QUIT to it (those sent by kill(); the
 * terminal already signals the whole foreground process group).  The signals must be
 * blocked (run_block_signals).  If DAEMON (> 0) dies first, CHILD's root file system is
 * gone: CHILD is killed (a workload that ignores ENOTCONN would never end).  Returns
 * the exit status in shell convention. */
int wait_forwarding(pid_t child, pid_t daemon);

/* True if PID, a child of ours, has exited (it is left to be reaped). */
bool child_exited(pid_t pid);

/* Shell convention: exit code, or 128+N for death by signal N. */
int exit_status(int wstatus);
/* Child PID reaped (waiting as long as it takes): its exit_status, or RUN_EXIT_ERROR. */
int wait_exit(pid_t pid);

/* fork+exec ARGV (PATH search) with stdio to /dev/null; wait. */
int run_quiet(char *const argv[]);

/* DIR/NAME if it is executable: *OUT gets the malloc'd path.  -1 if not. */
int find_exe_in(const char *dir, const char *name, char **out);
/* Search the host's PATH for NAME (no '/'); *OUT gets the malloc'd path.  -1 if absent. */
int find_in_path(const char *name, char **out);

/* ---- lookup.c (lookups in the image directory, never through the mount) ---- */

/* 0 if CMD resolves to a non-directory in ROOTFS (searched in PATH_ENV when it has no
 * '/', relative to CWD otherwise); -1 with "CMD: not found in image" if not. */
int image_find_cmd(const char *rootfs, const char *cmd, const char *path_env,
		   const char *cwd, struct sfs_err *err);


/* ---- user.c: a user resolved in the image ---- */

struct user {
	uid_t uid;
	gid_t gid;
	gid_t *groups;          /* supplementary, the primary first */
	size_t ngroups;
	char *home;             /* from passwd; NULL without an entry */
};

/* SPEC (NAME, UID, with :GROUP or :GID) through ROOTFS's /etc/passwd and /etc/group.
 * A name the image lacks fails with *STATUS RUN_EXIT_NOEXEC (as podman's). */
int image_resolve_user(const char *rootfs, const char *spec, struct user *u, int *status,
		       struct sfs_err *err);
void user_free(struct user *u);

/* ---- spec.c: the process, from the options and the image's config ---- */

struct img_config;

struct proc {
	char **argv;
	char **envp;
	char *cwd;
	bool make_cwd;          /* the image's WorkingDir is missing: make_workdir */
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
};

/* CFG may be NULL (a directory or flat tarball).  On failure *STATUS is the exit
 * status to give (RUN_EXIT_ERROR or RUN_EXIT_NOEXEC). */
int proc_build(const struct run_opts *o, const char *rootfs, const struct img_config *cfg,
	       struct proc *p, int *status, struct sfs_err *err);
const char *proc_path(const struct proc *p);     /* PATH of its environment */
void proc_free(struct proc *p);
int make_workdir(const char *root, const struct proc *p, struct sfs_err *err);

/* ---- daemon.c: the slimfs daemon as a child ---- */

struct daemon {
	pid_t pid;
	char *mnt;              /* the private mount point, removed by daemon_stop */
};

/* Make a mount point and mount slimfs there over T->rootfs; returns when mounted. */
int daemon_start(struct daemon *d, const struct run_target *t, const char *cmdline,
		 const struct run_opts *o, struct sfs_err *err);

/* Unmount, wait for the daemon to finish the trace, remove the mount point.  Safe to
 * call on a never-started or half-started daemon. */
int daemon_stop(struct daemon *d, struct sfs_err *err);

/* ---- builtin.c / mounts.c: the built-in runtime ---- */

int builtin_run(const struct container *c, int *status, struct sfs_err *err);

/* In the container's new mount namespace: mount /proc, /dev, /sys on ROOT, mask and
 * make read-only what P says, and pivot_root into it. */
int container_mount_root(const char *root, const struct policy *p, struct sfs_err *err);

/* ---- seccomp.c: policy.h's seccomp rules, for each runtime ---- */

/* Load the filter into this process (nothing under --privileged).  Needs
 * CAP_SYS_ADMIN: call before dropping capabilities. */
int seccomp_apply(const struct policy *p, struct sfs_err *err);

/* The OCI linux.seccomp object (jansson; NULL on allocation failure). */
struct json_t;
struct json_t *seccomp_oci(const struct policy *p);

/* Everything of the confinement that is not a mount (bounding set, seccomp, user and
 * groups, capabilities, fds above 2 close-on-exec); just before exec. */
int container_confine(const struct container *c, struct sfs_err *err);

/* ---- service.c / probe.c: a service run ---- */

/* CLOCK_MONOTONIC in milliseconds. */
long now_ms(void);
/* Sleep up to MS, waking early when a child changes state (SIGCHLD blocked). */
void nap(long ms);
/* The server's output LOG, its last MAX lines (0: all), each as "server| LINE" on
 * stderr. */
void log_dump(int log, size_t max);

struct service {
	const struct svc_opts *o;
	int log;                /* memfd: the server's stdout and stderr */
	int out;                /* the steps' stdout (-1: ours) */
	int stop_signal;
	int server_status;      /* after the stop */
};

/* SIGTERM, TERM, 15 -> the number; -1 if NAME is none, or SIGSTOP (a stopped server
 * would never exit).  SIGKILL is accepted: the stop then sends it at once. */
int signal_parse(const char *name);

/* The runtime's wait for a service: TOP is the runtime's child (the builtin init or
 * runc's reaper, both forward the stop signal to CMD).  Waits until ready, runs the
 * steps, stops the server.  *STATUS: the first failing step's status, else 0.  -1 with
 * ERR (the server exited or never got ready, its last lines in the message) once
 * nothing of the container runs any more. */
int service_drive(const struct container *c, pid_t top, bool runc, int *status,
		  struct sfs_err *err);

/* A TCP connection to 127.0.0.1:PORT made in the network namespace NETFD (-1: ours);
 * the fd, or -1. */
int probe_connect(int netfd, int port, int timeout_ms);
/* GET PATH on 127.0.0.1:PORT; one line "GET URL STATUS sha256:... N bytes" on OUT.
 * 0 for any HTTP response, 1 (and a line on stderr) when there was none. */
int probe_http(int netfd, int port, const char *path, int out, int timeout_ms);
/* sh -c CMD on the host (in NETFD's network namespace when >= 0), ENV added to ours,
 * stdout on OUT (-1: ours, -2: /dev/null); its exit status.  Still running after
 * TIMEOUT_MS (0: no limit), it is killed with all it started, and the status is
 * RUN_EXIT_TIMEOUT (with WHAT set, after a line on stderr naming WHAT). */
int probe_host(const char *cmd, int netfd, char *const *env, int out, int timeout_ms,
	       const char *what);
/* sh -c CMD inside the container of process PID (its namespaces, C's user, groups,
 * environment, directory and confinement), stdout on OUT; its exit status, and
 * TIMEOUT_MS and WHAT as for probe_host. */
int probe_exec(const struct container *c, pid_t pid, const char *cmd, int out, int timeout_ms,
	       const char *what);

/* ---- runc.c: the runc runtime ---- */

int runc_check(struct sfs_err *err);
int runc_run(const struct container *c, int *status, struct sfs_err *err);

#endif
