/* process.c — process plumbing of the runner: its standard fds, its private mount
 * namespace, the signals it forwards, children that die with it, waiting for
 * children, exit statuses.
 *
 * Invariants: from run_block_signals on, INT/TERM/HUP/QUIT and CHLD are blocked in the
 * runner and only ever taken with sigwaitinfo (or seen pending, run_pending_signal), so
 * a signal can never interrupt the cleanup (unmount, wait for the daemon) half way.
 * Every child restores the empty mask before exec.  A child made by clone_guarded is
 * SIGKILLed by the kernel when the runner dies, whenever that happens.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

int run_std_fds(struct sfs_err *err)
{
	for (int fd = 0; fd <= 2; fd++) {
		int null;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* the lowest free number: FD itself */
		null = open("/dev/null", O_RDWR);
		if (null < 0)
			return sfs_fail(err, errno, "/dev/null");
		if (null != fd) {
			close(null);
			return sfs_fail(err, 0, "cannot open fd %d", fd);
		}
	}
	return 0;
}

int fds_place(const int *from, const int *to, size_t n)
{
	int high[8];
	int floor = 3;

	if (n > sizeof high / sizeof high[0])
		return -1;
	for (size_t i = 0; i < n; i++)
		floor = to[i] >= floor ? to[i] + 1 : floor;
	/* first out of the way of every target, so no dup2 below clobbers a source */
	for (size_t i = 0; i < n; i++) {
		high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, floor);
		if (high[i] < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (dup2(high[i], to[i]) < 0)   /* the copy on TO is not close-on-exec */
			return -1;
		close(high[i]);
	}
	return 0;
}

int container_stdio(const struct container *c)
{
	int from[3], to[3];
	size_t n = 0;

	/* handlers first: unblocked, a signal would still hit init's noop handler */
	forwarded_handle(SIG_DFL);
	forwarded_extra(c->stop_signal, SIG_DFL);
	run_unblock_signals();
	if (c->stdin_fd >= 0) {
		from[n] = c->stdin_fd;
		to[n++] = 0;
	}
	if (c->stdout_fd >= 0) {
		from[n] = c->stdout_fd;
		to[n++] = 1;
	}
	if (c->stderr_fd >= 0) {
		from[n] = c->stderr_fd;
		to[n++] = 2;
	}
	return fds_place(from, to, n);
}

uint64_t run_available_caps(void)
{
	uint64_t caps = 0;

	for (int i = 0; i < POLICY_NCAPS; i++)
		if (prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) == 1)
			caps |= POLICY_CAP(i);
	return caps;
}

pid_t clone_guarded(unsigned long flags)
{
	/* the runner's own pidfd: the child cannot name its parent by pid, which
	 * another PID namespace would hide (getppid() is 0 there) */
	int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
	pid_t pid;

	if (self < 0)
		return -1;
	/* clone(2) without a stack works like fork(), with new namespaces */
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		struct pollfd p = { .fd = self, .events = POLLIN };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* the runner may have died before the line above: then nobody kills us */
		if (poll(&p, 1, 0) != 0)
			_exit(RUN_EXIT_ERROR);
	}
	close(self);
	return pid;
}

int run_isolate(struct sfs_err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return sfs_fail(err, errno, "cannot make a private mount namespace (run as root)");
	/* Without this, mounts would still propagate back to the host's shared mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sfs_fail(err, errno, "cannot make mounts private");
	/* Mount points and bundles live on a tmpfs only this namespace sees: whatever
	 * ends the runner (SIGKILL too), none of them is left on the host. */
	if (mkdir(RUN_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return sfs_fail(err, errno, "%s", RUN_STATE_DIR);
	if (mount("slimfs-run", RUN_STATE_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700,size=4m") < 0)
		return sfs_fail(err, errno, "cannot mount a tmpfs on %s", RUN_STATE_DIR);
	return 0;
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
}

void forwarded_handle(void (*handler)(int))
{
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		signal(forwarded[i], handler);
}

void forwarded_extra(int extra, void (*handler)(int))
{
	sigset_t set;

	if (extra <= 0)
		return;
	sigemptyset(&set);
	sigaddset(&set, extra);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(extra, handler);
}

void run_block_signals(void)
{
	sigset_t set;

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

void run_unblock_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

int exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return RUN_EXIT_ERROR;
}

bool child_exited(pid_t pid)
{
	siginfo_t si = { 0 };

	return pid > 0 && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == pid;
}

int run_pending_signal(void)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return 0;
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		if (sigismember(&pending, forwarded[i]))
			return forwarded[i];
	return 0;
}

int reap_forwarding(pid_t child, int extra)
{
	sigset_t set;
	siginfo_t info;

	forwarded_set(&set);
	if (extra > 0)
		sigaddset(&set, extra);
	for (;;) {
		int wstatus;
		pid_t r;

		while ((r = waitpid(-1, &wstatus, WNOHANG)) > 0)
			if (r == child)
				return exit_status(wstatus);
		if (r < 0 && errno == ECHILD)
			return RUN_EXIT_ERROR;
		if (sigwaitinfo(&set, &info) < 0 || info.si_signo == SIGCHLD)
			continue;
		if (info.si_code != SI_KERNEL)
			kill(child, info.si_signo);
	}
}

int wait_forwarding(pid_t child, pid_t daemon)
{
	bool killed = false;
	sigset_t set;
	siginfo_t info;
	int wstatus;

	forwarded_set(&set);
	for (;;) {
		pid_t r = waitpid(child, &wstatus, WNOHANG);

		if (r == child)
			return exit_status(wstatus);
		if (r < 0 && errno != EINTR)
			return RUN_EXIT_ERROR;
		if (!killed && child_exited(daemon)) {
			kill(child, SIGKILL);
			killed = true;
			continue;
		}
		if (sigwaitinfo(&set, &info) < 0)
			continue;
		if (info.si_signo == SIGCHLD)
			continue;
		/* SI_KERNEL: the terminal sent it to the whole foreground group, the
		 * child already has it. */
		if (info.si_code != SI_KERNEL)
			kill(child, info.si_signo);
	}
}

int run_quiet(char *const argv[])
{
	int wstatus;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		run_unblock_signals();
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return -1;
	return exit_status(wstatus);
}

int wait_exit(pid_t pid)
{
	int ws;

	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return RUN_EXIT_ERROR;
	return exit_status(ws);
}

int find_exe_in(const char *dir, const char *name, char **out)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return -1;
	if (access(p, X_OK) < 0) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int find_in_path(const char *name, char **out)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	copy = strdup(path && *path ? path : RUN_DEFAULT_PATH);
	if (!copy)
		return -1;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
		if (find_exe_in(dir, name, out) == 0)
			return 0;
	return -1;
}
