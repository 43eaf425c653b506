/* builtin.c — the built-in runtime: CMD in new mount, PID, UTS and IPC namespaces (and
 * a network namespace with only lo for --net none), rooted in the slimfs mount, and
 * confined as policy.h says.
 *
 * Process tree:  runner  ──clone(NEW*)──▶  init (pid 1)  ──fork──▶  CMD (pid 2)
 * The init sets up the mounts and a session keyring of the container's own, forks
 * CMD, forwards the signals it gets to CMD, reaps every orphan, and exits with CMD's
 * status as soon as CMD ends; the kernel then kills whatever is left in the PID
 * namespace.  The init dies with the runner (clone_guarded), and the PID namespace
 * with it.  A setup or exec failure is reported to the runner as one line through a
 * close-on-exec pipe: empty pipe = CMD started.
 *
 * CMD confines itself just before exec, in this order (each step needs what the
 * next one takes away): bounding set (needs CAP_SETPCAP), seccomp filter (needs
 * CAP_SYS_ADMIN), user and groups (CAP_SETUID, CAP_SETGID), the effective and permitted
 * sets (root keeps the policy's capabilities, another user none, as in podman), and
 * every fd above 2 marked close-on-exec.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/keyctl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
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

/* The effective, permitted and inheritable sets (the bounding set is already P's). */
static int set_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

static int drop_bounding(uint64_t keep, struct sfs_err *err)
{
	/* up to the kernel's last capability, also those newer than our table */
	for (unsigned long cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if ((cap >= POLICY_NCAPS || !(keep & POLICY_CAP(cap))) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return sfs_fail(err, errno, "cannot drop capability %lu", cap);
	return 0;
}

int container_confine(const struct container *c, struct sfs_err *err)
{
	const struct policy *p = &c->o->policy;

	if (drop_bounding(p->caps, err) < 0 || seccomp_apply(p, err) < 0)
		return -1;
	if (setgroups(c->ngroups, c->groups) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0)
		return sfs_fail(err, errno, "cannot become user %u:%u", (unsigned)c->uid,
				(unsigned)c->gid);
	/* a user other than root has lost every capability with setuid */
	if (set_caps(c->uid == 0 ? p->caps : 0) < 0)
		return sfs_fail(err, errno, "cannot set the capabilities");
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return sfs_fail(err, errno, "close_range");
	return 0;
}

/* CMD, pid 2: stdio, confinement, directory, environment, exec. */
static __attribute__((noreturn)) void exec_cmd(const struct container *c, int errfd)
{
	struct sfs_err err = { 0 };

	if (container_stdio(c) < 0) {
		sfs_fail(&err, errno, "stdio");
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if (container_confine(c, &err) < 0)
		fail_to(errfd, &err, RUN_EXIT_ERROR);
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
	pid_t cmd;

	/* CMD could not ptrace or read us anyway (we keep every capability); no one
	 * else in the container needs to either */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (sethostname(host, strlen(host)) < 0) {
		sfs_fail(&err, errno, "hostname %s", host);
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	/* the runner's session keyring is the host's: a new, empty one, as runc does */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS) {
		sfs_fail(&err, errno, "cannot make a session keyring");
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if ((c->o->net_none && loopback_up(&err) < 0) ||
	    container_mount_root(c->root, &c->o->policy, &err) < 0)
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	/* pid 1 only receives signals it has a handler for; they stay blocked and are
	 * taken with sigwaitinfo below. */
	forwarded_handle(noop_handler);
	forwarded_extra(c->stop_signal, noop_handler);
	cmd = fork();
	if (cmd < 0) {
		sfs_fail(&err, errno, "fork");
		fail_to(errfd, &err, RUN_EXIT_ERROR);
	}
	if (cmd == 0)
		exec_cmd(c, errfd);
	close(errfd);
	_exit(reap_forwarding(cmd, c->stop_signal));
}

int builtin_run(const struct container *c, int *status, struct sfs_err *err)
{
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	_cleanup_close_ int rd = -1, wr = -1;
	char msg[sizeof err->msg];
	int fds[2], ret = 0;
	ssize_t n;
	pid_t pid;

	if (c->o->net_none)
		flags |= CLONE_NEWNET;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sfs_fail(err, errno, "pipe");
	rd = fds[0];
	wr = fds[1];
	pid = clone_guarded(flags);
	if (pid < 0)
		return sfs_fail(err, errno, "cannot make the container's namespaces");
	if (pid == 0) {
		close(rd);
		init_main(c, wr);
	}
	close(steal_fd(&wr));
	if (c->svc)
		ret = service_drive(c, pid, false, status, err);
	else
		*status = wait_forwarding(pid, c->daemon);
	/* a setup failure says more than "the server exited" */
	n = read(rd, msg, sizeof msg - 1);
	if (n > 0) {
		msg[n] = '\0';
		sfs_fail(err, 0, "%s", msg);
		return -1;
	}
	return ret;
}
