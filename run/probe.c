/* probe.c — what a service run does to the server once it is ready: TCP connections
 * (readiness), the built-in HTTP probe, commands on the host (--probe, --wait-cmd) and
 * commands inside the container (--exec).
 *
 * Under --net none the server's port exists only in the container's network
 * namespace: a socket is made there (the runner enters the namespace for the socket()
 * call only and returns at once; a socket stays in the namespace it was made in), and
 * a host command is a child that enters it before exec.  --exec enters every namespace
 * of the container's process (mount, PID, UTS, IPC, network) through its pidfd, forks
 * once more so the command is inside the PID namespace, and confines itself as the
 * container's command did (container_confine: same user, groups, capabilities,
 * seccomp), with the container's environment and working directory: what `podman exec`
 * gives.  Every child dies with the runner (clone_guarded) and leads a process group
 * that its command's own children join; a command killed (a signal to the runner, its
 * timeout) is killed with its whole group, so none outlives the call.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image/img.h"

#define HTTP_MAX_RESPONSE (64u << 20)

extern char **environ;

/* A TCP socket of the network namespace NETFD (-1: ours). */
static int ns_socket(int netfd)
{
	_cleanup_close_ int self = -1;
	int s, saved;

	if (netfd < 0)
		return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || setns(netfd, CLONE_NEWNET) < 0)
		return -1;
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	saved = errno;
	/* the runner must never stay in the container's namespace */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	errno = saved;
	return s;
}

int probe_connect(int netfd, int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	_cleanup_close_ int s = ns_socket(netfd);
	struct pollfd p = { .fd = s, .events = POLLOUT };
	int e = 0;
	socklen_t len = sizeof e;

	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		if (errno != EINPROGRESS || poll(&p, 1, timeout_ms) != 1 ||
		    getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0)
			return -1;
	}
	if (fcntl(s, F_SETFL, 0) < 0)
		return -1;
	return steal_fd(&s);
}

/* Everything the server sends until it closes (or TIMEOUT_MS of silence). */
static int read_all(int s, char **buf, size_t *len, int timeout_ms)
{
	size_t cap = 0;

	*buf = NULL;
	*len = 0;
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (*len == cap) {
			char *nb;

			if (cap >= HTTP_MAX_RESPONSE)
				return -1;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(*buf, cap + 1);
			if (!nb)
				return -1;
			*buf = nb;
		}
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		n = read(s, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
	return 0;
}

int probe_http(int netfd, int port, const char *path, int out, int timeout_ms)
{
	_cleanup_close_ int s = probe_connect(netfd, port, timeout_ms);
	_cleanup_free_ char *req = NULL, *resp = NULL;
	char url[4200], digest[DIGEST_SIZE];
	const char *body;
	size_t len;
	int code, n;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	/* HTTP/1.0 and Connection: close: the body ends where the connection does */
	n = asprintf(&req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: slimfs-run\r\n"
		     "Accept: */*\r\nConnection: close\r\n\r\n", path, port);
	/* MSG_NOSIGNAL: a server that closes first must not SIGPIPE the runner */
	if (n < 0 || s < 0 || send(s, req, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "slimfs-run: --http-probe GET %s: no connection\n", url);
		return 1;
	}
	if (read_all(s, &resp, &len, timeout_ms) < 0) {
		fprintf(stderr, "slimfs-run: --http-probe GET %s: no complete response within %d s\n",
			url, timeout_ms / 1000);
		return 1;
	}
	body = strstr(resp, "\r\n\r\n");
	if (sscanf(resp, "HTTP/%*1d.%*1d %3d", &code) != 1 || !body) {
		fprintf(stderr, "slimfs-run: --http-probe GET %s: not an HTTP response\n", url);
		return 1;
	}
	body += 4;
	len -= (size_t)(body - resp);
	if (digest_of(body, len, digest, NULL) < 0)
		return 1;
	dprintf(out >= 0 ? out : 1, "GET %s %d %s %zu bytes\n", url, code, digest, len);
	return 0;
}

/* A new child leads its own process group, so a command and everything it started
 * (sh -c "curl ...; sleep 9") go together.  Both sides set it: whichever runs first. */
static void own_group(pid_t pid)
{
	setpgid(pid, pid);
}

/* PID's exit status; PID leads its process group.  A forwarded signal waiting for
 * the runner (kill -TERM of slimfs-run) ends the group with SIGKILL: the service run
 * then stops the server.  So does TIMEOUT_MS (0: none) running out; then, with WHAT
 * set, one line says so, and the status is RUN_EXIT_TIMEOUT. */
static int wait_child(pid_t pid, int timeout_ms, const char *what)
{
	long until = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	bool killed = false, late = false;
	int ws;

	for (;;) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid) {
			if (killed)
				kill(-pid, SIGKILL);    /* what it started, if still there */
			if (!late)
				return exit_status(ws);
			if (what)
				fprintf(stderr, "slimfs-run: %s: still running after %d s: killed\n",
					what, (timeout_ms + 999) / 1000);
			return RUN_EXIT_TIMEOUT;
		}
		if (r < 0 && errno != EINTR)
			return RUN_EXIT_ERROR;
		if (!killed && (run_pending_signal() || (until && now_ms() >= until))) {
			late = !run_pending_signal();
			kill(-pid, SIGKILL);
			killed = true;
			continue;
		}
		nap(50);
	}
}

/* In a child: stdin from /dev/null, stdout on OUT (-1: ours, -2: /dev/null). */
static int child_stdio(int out, bool quiet_err)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0 || dup2(null, 0) < 0)
		return -1;
	if (out == -2 && dup2(null, 1) < 0)
		return -1;
	if (out >= 0 && dup2(out, 1) < 0)
		return -1;
	if (quiet_err && dup2(null, 2) < 0)
		return -1;
	return 0;
}

int probe_host(const char *cmd, int netfd, char *const *env, int out, int timeout_ms,
	       const char *what)
{
	pid_t pid = clone_guarded(0);

	if (pid < 0)
		return RUN_EXIT_ERROR;
	if (pid == 0) {
		own_group(0);
		run_unblock_signals();
		if (netfd >= 0 && setns(netfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "slimfs-run: cannot enter the container's network: %s\n",
				strerror(errno));
			_exit(RUN_EXIT_ERROR);
		}
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		if (child_stdio(out, out == -2) < 0)
			_exit(RUN_EXIT_ERROR);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		fprintf(stderr, "slimfs-run: /bin/sh: %s\n", strerror(errno));
		_exit(RUN_EXIT_NOTFOUND);
	}
	own_group(pid);
	return wait_child(pid, timeout_ms, what);
}

int probe_exec(const struct container *c, pid_t pid, const char *cmd, int out, int timeout_ms,
	       const char *what)
{
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	pid_t child;

	if (c->o->net_none)
		flags |= CLONE_NEWNET;
	child = clone_guarded(0);
	if (child < 0)
		return RUN_EXIT_ERROR;
	if (child == 0) {
		struct sfs_err err = { 0 };
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		pid_t inner;

		own_group(0);   /* the command inside stays in it */
		if (pidfd < 0 || setns(pidfd, flags) < 0) {
			fprintf(stderr, "slimfs-run: --exec: cannot enter the container: %s\n",
				strerror(errno));
			_exit(RUN_EXIT_ERROR);
		}
		close(pidfd);
		inner = fork();     /* only a child is in the PID namespace */
		if (inner < 0)
			_exit(RUN_EXIT_ERROR);
		if (inner > 0)
			_exit(wait_exit(inner));
		if (child_stdio(out, false) < 0 || container_confine(c, &err) < 0) {
			fprintf(stderr, "slimfs-run: --exec: %s\n", err.msg[0] ? err.msg : "stdio");
			_exit(RUN_EXIT_ERROR);
		}
		if (chdir(c->cwd) < 0) {
			fprintf(stderr, "slimfs-run: --exec: workdir %s: %s\n", c->cwd, strerror(errno));
			_exit(RUN_EXIT_ERROR);
		}
		environ = c->envp;
		run_unblock_signals();
		execvp("sh", (char *[]){ "sh", "-c", (char *)cmd, NULL });
		fprintf(stderr, "slimfs-run: --exec: sh: %s\n", strerror(errno));
		_exit(errno == ENOENT ? RUN_EXIT_NOTFOUND : RUN_EXIT_NOEXEC);
	}
	own_group(child);
	return wait_child(child, timeout_ms, what);
}
