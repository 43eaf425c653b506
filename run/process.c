/* process.c — process plumbing of the runner: its private mount namespace, the
 * signals it forwards, waiting for children, exit statuses.
 *
 * Invariant: from run_block_signals on, INT/TERM/HUP/QUIT and CHLD are blocked in the
 * runner and only ever taken with sigwaitinfo, so a signal can never interrupt the
 * cleanup (unmount, wait for the daemon) half way.  Every child restores the empty
 * mask before exec.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

int run_isolate(struct sfs_err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return sfs_fail(err, errno, "cannot make a private mount namespace (run as root)");
	/* Without this, mounts would still propagate back to the host's shared mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sfs_fail(err, errno, "cannot make mounts private");
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
