/* builtin.c — the built-in runtime: CMD in new mount, PID, UTS and IPC namespaces (and
 * a network namespace with only lo for --net none), rooted in the slimfs mount.
 *
 * Process tree:  runner  ──clone(NEW*)──▶  init (pid 1)  ──fork──▶  CMD (pid 2)
 * The init sets up the mounts, forks CMD, forwards the signals it gets to CMD, reaps
 * every orphan, and exits with CMD's status as soon as CMD ends; the kernel then kills
 * whatever is left in the PID namespace.  A setup or exec failure is reported to the
 * runner as one line through a close-on-exec pipe: empty pipe = CMD started.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

extern char **environ;

static void noop_handler(int sig)
{
	(void)sig;
}

/* Report ERR through FD and end this process with STATUS. */
static __attribute__((noreturn)) void fail_to(int fd, const struct sfs_err *err, int status)
{
	size_t len = strlen(err->msg);

	if (write(fd, err->msg, len) != (ssize_t)len)
		_exit(status);
	_exit(status);
}

static int loopback_up(struct sfs_err *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return sfs_fail(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return sfs_fail(err, errno, "lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return sfs_fail(err, errno, "cannot bring lo up");
	return 0;
}

/* CMD, pid 2: stdio, user, directory, environment, exec. */
static __attribute__((noreturn)) void exec_cmd(const struct container *c, int errfd)
{
	struct sfs_err err = { 0 };

	/* handlers first: unblocked, a signal would still hit init's noop handler */
	forwarded_handle(SIG_DFL);
	run_unblock_signals();
	if ((c->stdin_fd >= 0 && dup2(c->stdin_fd, 0) < 0) ||
	    (c->stdout_fd >= 0 && dup2(c->stdout_fd, 1) < 0)) {
		sfs_fail(&err, errno, "stdio");
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if (c->o->has_user) {
		if (setgroups(0, NULL) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0) {
			sfs_fail(&err, errno, "cannot become user %u:%u", (unsigned)c->uid,
				 (unsigned)c->gid);
			fail_to(errfd, &err, RUN_EXIT_ERROR);
		}
	}
	if (chdir(c->cwd) < 0) {
		sfs_fail(&err, errno, "workdir %s", c->cwd);
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	/* execvp searches the PATH of the current environment: CMD's */
	environ = c->envp;
	execvp(c->argv[0], c->argv);
	if (errno == ENOENT || errno == ENOTDIR) {
		sfs_fail(&err, 0, "%s: not found in image", c->argv[0]);
		fail_to(errfd, &err, RUN_EXIT_NOTFOUND);
	}
	sfs_fail(&err, errno, "%s", c->argv[0]);
	fail_to(errfd, &err, RUN_EXIT_NOEXEC);
}

/* pid 1 of the container. */
static __attribute__((noreturn)) void init_main(const struct container *c, int errfd)
{
	struct sfs_err err = { 0 };
	const char *host = c->o->hostname ? c->o->hostname : RUN_DEFAULT_HOSTNAME;
	sigset_t set;
	siginfo_t info;
	pid_t cmd;

	if (sethostname(host, strlen(host)) < 0) {
		sfs_fail(&err, errno, "hostname %s", host);
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if ((c->o->net_none && loopback_up(&err) < 0) || container_mount_root(c->root, &err) < 0)
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	/* pid 1 only receives signals it has a handler for; they stay blocked and are
	 * taken with sigwaitinfo below. */
	forwarded_handle(noop_handler);
	cmd = fork();
	if (cmd < 0) {
		sfs_fail(&err, errno, "fork");
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if (cmd == 0)
		exec_cmd(c, errfd);
	close(errfd);
	forwarded_set(&set);
	for (;;) {
		int wstatus;
		pid_t r;

		while ((r = waitpid(-1, &wstatus, WNOHANG)) > 0)
			if (r == cmd)
				_exit(exit_status(wstatus));
		if (sigwaitinfo(&set, &info) < 0 || info.si_signo == SIGCHLD)
			continue;
		if (info.si_code != SI_KERNEL)
			kill(cmd, info.si_signo);
	}
}

int builtin_run(const struct container *c, int *status, struct sfs_err *err)
{
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	_cleanup_close_ int rd = -1, wr = -1;
	char msg[sizeof err->msg];
	int fds[2];
	ssize_t n;
	pid_t pid;

	if (c->o->net_none)
		flags |= CLONE_NEWNET;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sfs_fail(err, errno, "pipe");
	rd = fds[0];
	wr = fds[1];
	/* clone(2) without a stack works like fork(), with new namespaces */
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return sfs_fail(err, errno, "cannot make the container's namespaces");
	if (pid == 0) {
		close(rd);
		init_main(c, wr);
	}
	close(steal_fd(&wr));
	*status = wait_forwarding(pid, c->daemon);
	n = read(rd, msg, sizeof msg - 1);
	if (n > 0) {
		msg[n] = '\0';
		sfs_fail(err, 0, "%s", msg);
		return -1;
	}
	return 0;
}
