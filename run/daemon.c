/* daemon.c — the slimfs daemon as a child of the runner.
 *
 * `slimfs -f --ready-fd 3 --trace T --command CMD [--upper U] [--image REF
 *  --manifest-digest D --config-digest D] [--no-verify] [--no-passthrough]
 *  [--io-uring=MODE] [-o suid] ROOTFS MNT`
 * runs in the foreground in its own process group (a ^C on the terminal is for CMD,
 * not for the recorder), with SIGTERM as its parent-death signal so a killed runner
 * never leaves it behind, and writes one byte to fd 3 once the mount is up.  The mount
 * is nosuid (FUSE's default: the image's setuid and file-capability binaries raise
 * nothing) unless --privileged asks for everything (-o suid).
 *
 * Invariants: daemon_stop returns only after the daemon has exited, i.e. after the
 * trace is complete and closed, and removes the mount point it made.  A forwarded
 * signal that arrives while the daemon mounts ends the wait: the daemon is stopped
 * (SIGTERM: it unmounts what it mounted) and daemon_start fails, the signal left
 * pending for the caller (run_pending_signal).
 */
#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image/img.h"

#define DAEMON_STOP_TIMEOUT_MS 30000

/* Next to us in the build tree (build/run/slimfs-run -> build/fs/slimfs), next to us
 * when installed, else on PATH. */
static int find_daemon(char **out)
{
	static const char *const near[] = { "../fs/slimfs", "slimfs" };
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n > 0) {
		const char *dir;

		exe[n] = '\0';
		dir = dirname(exe);
		for (size_t i = 0; i < sizeof near / sizeof near[0]; i++)
			if (find_exe_in(dir, near[i], out) == 0)
				return 0;
	}
	return find_in_path("slimfs", out);
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait for the daemon's ready byte on RD: 1 when it came, 0 when the pipe closed
 * without it (the daemon failed), -1 when a forwarded signal came first. */
static int wait_ready(int rd)
{
	sigset_t set;
	_cleanup_close_ int sfd = -1;
	char byte;
	ssize_t n;

	forwarded_set(&set);
	sigdelset(&set, SIGCHLD);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = { { .fd = rd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

		if (run_pending_signal())
			return -1;
		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return 0;
		if (p[0].revents) {
			while ((n = read(rd, &byte, 1)) < 0 && errno == EINTR)
				;
			return n == 1;
		}
		/* a signal: seen pending at the top (signalfd does not consume it) */
	}
}

int daemon_start(struct daemon *d, const struct run_target *t, const char *cmdline,
		 const struct run_opts *o, struct sfs_err *err)
{
	_cleanup_free_ char *exe = NULL, *uring = NULL;
	_cleanup_close_ int rd = -1, wr = -1;
	const char *argv[28];   /* 23 at most, and the NULL */
	int fds[2], argc = 0, wstatus, ready;
	pid_t parent = getpid();

	d->pid = -1;
	d->mnt = NULL;
	if (find_daemon(&exe) < 0)
		return sfs_fail(err, 0, "slimfs: daemon not found (next to slimfs-run or on PATH)");
	if (mkdir(RUN_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return sfs_fail(err, errno, "%s", RUN_STATE_DIR);
	d->mnt = strdup(RUN_STATE_DIR "/mnt-XXXXXX");
	if (!d->mnt)
		return sfs_fail(err, ENOMEM, "mount point");
	if (!mkdtemp(d->mnt)) {
		sfs_fail(err, errno, "cannot make a mount point in %s", RUN_STATE_DIR);
		free(steal_pointer(&d->mnt));
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sfs_fail(err, errno, "pipe");
	rd = fds[0];
	wr = fds[1];

	argv[argc++] = exe;
	argv[argc++] = "-f";
	argv[argc++] = "--ready-fd";
	argv[argc++] = "3";
	argv[argc++] = "--trace";
	argv[argc++] = t->trace;
	argv[argc++] = "--command";
	argv[argc++] = cmdline;
	if (t->upper) {
		argv[argc++] = "--upper";
		argv[argc++] = t->upper;
	}
	if (t->img) {
		argv[argc++] = "--image";
		argv[argc++] = t->image;
		argv[argc++] = "--manifest-digest";
		argv[argc++] = t->img->manifest_digest;
		argv[argc++] = "--config-digest";
		argv[argc++] = t->img->config_digest;
	}
	if (o->no_verify)
		argv[argc++] = "--no-verify";
	if (o->no_passthrough)
		argv[argc++] = "--no-passthrough";
	if (o->io_uring) {
		if (asprintf(&uring, "--io-uring=%s", o->io_uring) < 0)
			return sfs_fail(err, ENOMEM, "daemon arguments");
		argv[argc++] = uring;
	}
	if (o->policy.privileged) {
		argv[argc++] = "-o";
		argv[argc++] = "suid";
	}
	argv[argc++] = t->rootfs;
	argv[argc++] = d->mnt;
	assert(argc < (int)(sizeof(argv) / sizeof(argv[0])));
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return sfs_fail(err, errno, "fork");
	if (d->pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* stdin is CMD's; stdout may be captured (--check): the daemon gets neither */
		int from[] = { null, 2, wr }, to[] = { 0, 1, 3 };

		run_unblock_signals();
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (null < 0 || fds_place(from, to, 3) < 0)
			_exit(1);
		execv(exe, (char *const *)argv);
		fprintf(stderr, "slimfs-run: %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(steal_fd(&wr));
	ready = wait_ready(rd);
	if (ready == 1)
		return 0;
	if (ready < 0) {
		/* interrupted: the daemon unmounts on SIGTERM, whatever it got to */
		kill(d->pid, SIGTERM);
		return sfs_fail(err, 0, "interrupted by signal %d while mounting %s",
				run_pending_signal(), t->rootfs);
	}
	/* no ready byte: the daemon failed (and said why on stderr) */
	while (waitpid(d->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	d->pid = -1;
	return sfs_fail(err, 0, "slimfs could not mount %s (daemon exit status %d)", t->rootfs,
			exit_status(wstatus));
}

int daemon_stop(struct daemon *d, struct sfs_err *err)
{
	int ret = 0, wstatus = 0;

	if (d->pid > 0) {
		long waited = 0;

		if (umount2(d->mnt, 0) < 0 && errno != EINVAL)
			umount2(d->mnt, MNT_DETACH);
		/* The daemon ends when the last mount of its file system is gone; the
		 * container's copy goes with its mount namespace, a moment later. */
		for (;;) {
			pid_t r = waitpid(d->pid, &wstatus, WNOHANG);

			if (r == d->pid || (r < 0 && errno != EINTR))
				break;
			if (waited == DAEMON_STOP_TIMEOUT_MS)
				kill(d->pid, SIGTERM);
			if (waited == DAEMON_STOP_TIMEOUT_MS + 5000)
				kill(d->pid, SIGKILL);
			msleep(10);
			waited += 10;
		}
		if (waited > DAEMON_STOP_TIMEOUT_MS || exit_status(wstatus) != 0)
			ret = sfs_fail(err, 0, "slimfs daemon ended badly (exit status %d): the trace may be incomplete",
				       exit_status(wstatus));
		d->pid = -1;
	}
	if (d->mnt) {
		if (rmdir(d->mnt) < 0 && errno != ENOENT && ret == 0)
			ret = sfs_fail(err, errno, "%s", d->mnt);
		free(steal_pointer(&d->mnt));
	}
	return ret;
}
