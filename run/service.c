/* service.c — a service run: the container's command is a server.  The runtime starts
 * it as usual; service_drive then takes the runtime's place as the waiter:
 *
 *   ready?   until every --wait-port accepts a TCP connection on 127.0.0.1 and
 *            --wait-cmd exits 0 (at most --wait-timeout seconds), watching the server
 *            and the slimfs daemon: a server that exits first is an error, and so is
 *            one that never gets ready;
 *   steps    --probe, --http-probe and --exec in the order given (probe.c); the first
 *            failing one gives the run's exit status;
 *   stop     the stop signal (the image's StopSignal, else SIGTERM) through the
 *            runtime's forwarding, --stop-timeout seconds, then SIGKILL.
 *
 * The mount stays up until the server is gone, so its shutdown path is recorded too.
 * Invariant: whatever happens, service_drive returns only once TOP (the builtin init or
 * runc's reaper) has been reaped, so the caller's unmount never races the server.
 * With --net none the waits and probes happen in the container's network namespace:
 * the builtin init is in it from the start; under runc it is the first process of
 * the container's own PID namespace below the reaper (found by its NSpid).
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define SVC_POLL_MS 100
#define SVC_TAIL_LINES 10
#define SVC_KILL_WAIT_MS 5000

int signal_parse(const char *name)
{
	const char *s = name;
	char *end;
	long n = -1;

	if (!s || !*s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno || *end)
			return -1;
	} else {
		if (strncasecmp(s, "SIG", 3) == 0)
			s += 3;
		for (int i = 1; i < SIGRTMIN; i++) {
			const char *a = sigabbrev_np(i);

			if (a && strcasecmp(a, s) == 0)
				n = i;
		}
	}
	if (n <= 0 || n >= SIGRTMIN || n == SIGSTOP)
		return -1;
	return (int)n;
}

long now_ms(void)
{
	return (long)(now_ns(CLOCK_MONOTONIC) / 1000000);
}

void nap(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigtimedwait(&set, NULL, &ts);
}

void log_dump(int log, size_t max)
{
	off_t size = lseek(log, 0, SEEK_END);
	_cleanup_free_ char *buf = NULL;
	size_t lines = 0;
	char *start, *p;
	ssize_t n;

	if (size <= 0 || !(buf = malloc((size_t)size + 1)))
		return;
	n = pread(log, buf, (size_t)size, 0);
	if (n <= 0)
		return;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	start = buf;
	for (p = buf + n; max && p > buf; p--)
		if (p[-1] == '\n' && ++lines == max) {
			start = p;
			break;
		}
	fflush(stderr);
	for (char *line = start, *nl; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fprintf(stderr, "server| %s\n", line);
	}
	fflush(stderr);
}

/* NSpid of PID: the number of PID namespaces it is in, and its pid in the last. */
static int nspid(pid_t pid, int *depth, long *last)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "NSpid:", 6) == 0) {
			char *p = line + 6, *end;

			*depth = 0;
			for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
				(*depth)++;
				*last = v;
				p = end;
			}
			return 0;
		}
	return -1;
}

/* Append the children of every thread of PID to Q (a thread's children are listed
 * with that thread: runc's are spread over its threads). */
static void children_of(pid_t pid, pid_t *q, size_t *tail, size_t max)
{
	char path[64];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		_cleanup_fclose_ FILE *f = NULL;
		char file[320];
		long child;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "/proc/%d/task/%s/children", (int)pid, e->d_name);
		f = fopen(file, "re");
		while (f && *tail < max && fscanf(f, "%ld", &child) == 1)
			q[(*tail)++] = (pid_t)child;
	}
}

/* The process below TOP that is pid 1 of a PID namespace one deeper than TOP's (runc's
 * container), or -1 while there is none. */
static pid_t find_container(pid_t top)
{
	pid_t queue[256];
	size_t head = 0, tail = 0;
	int top_depth, d;
	long last;

	if (nspid(top, &top_depth, &last) < 0)
		return -1;
	queue[tail++] = top;
	while (head < tail) {
		pid_t p = queue[head++];

		if (p != top && nspid(p, &d, &last) == 0 && d == top_depth + 1 && last == 1)
			return p;
		children_of(p, queue, &tail, sizeof queue / sizeof queue[0]);
	}
	return -1;
}

struct drive {
	const struct container *c;
	struct service *s;
	pid_t top;
	bool runc;
	pid_t cpid;             /* the container's first process, or -1 not yet known */
	int netfd;              /* its network namespace (--net none), or -1 */
	char port_env[32], ports_env[SVC_MAX_PORTS * 7 + 16];
	char *env[4];
	long until;             /* the end of the wait for readiness (now_ms) */
};

/* Know the container's process (and its network namespace under --net none). */
static int locate(struct drive *d)
{
	char path[64];

	if (d->cpid < 0)
		d->cpid = d->runc ? find_container(d->top) : d->top;
	if (d->cpid < 0)
		return -1;
	if (d->c->o->net_none && d->netfd < 0) {
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)d->cpid);
		d->netfd = open(path, O_RDONLY | O_CLOEXEC);
		if (d->netfd < 0)
			return -1;
	}
	return 0;
}

static bool ready(struct drive *d)
{
	const struct svc_opts *o = d->s->o;
	long left;

	if (locate(d) < 0)
		return false;
	for (size_t i = 0; i < o->nports; i++) {
		int fd = probe_connect(d->netfd, o->ports[i], 500);

		if (fd < 0)
			return false;
		close(fd);
	}
	/* a --wait-cmd that hangs is killed when the wait's time is up */
	left = d->until - now_ms();
	return !o->wait_cmd ||
	       probe_host(o->wait_cmd, d->netfd, d->env, -2, (int)(left > 0 ? left : 1), NULL) == 0;
}

/* SIGKILL the container and reap TOP.  Under runc the container's process first, so
 * runc sees it die and `runc delete` still runs; the reaper if that does not end it. */
static int kill_hard(struct drive *d)
{
	int ws;

	if (d->runc && d->cpid > 0) {
		long until = now_ms() + SVC_KILL_WAIT_MS;

		kill(d->cpid, SIGKILL);
		while (now_ms() < until) {
			if (waitpid(d->top, &ws, WNOHANG) == d->top)
				return exit_status(ws);
			nap(SVC_POLL_MS);
		}
	}
	kill(d->top, SIGKILL);
	return wait_exit(d->top);
}

/* The stop signal, STOP_TIMEOUT seconds, SIGKILL; the server's exit status. */
static int stop(struct drive *d)
{
	const struct svc_opts *o = d->s->o;
	int sig = d->s->stop_signal, ws;
	long until = now_ms() + o->stop_timeout * 1000L;

	if (sig != SIGKILL) {
		fprintf(stderr, "slimfs-run: stopping the server with SIG%s\n", sigabbrev_np(sig));
		kill(d->top, sig);
		for (;;) {
			if (waitpid(d->top, &ws, WNOHANG) == d->top)
				return exit_status(ws);
			if (now_ms() >= until)
				break;
			nap(SVC_POLL_MS);
		}
		fprintf(stderr, "slimfs-run: the server did not stop within %d s: SIGKILL\n",
			o->stop_timeout);
	} else {
		fprintf(stderr, "slimfs-run: stopping the server with SIGKILL\n");
	}
	return kill_hard(d);
}

/* Trouble before or during the steps: end the container (gracefully when it still
 * runs), say what happened with the server's last lines above the message. */
static void abort_run(struct drive *d, bool graceful, int *status)
{
	*status = RUN_EXIT_ERROR;
	if (graceful)
		stop(d);
	else
		kill_hard(d);
	log_dump(d->s->log, SVC_TAIL_LINES);
}

static void describe_wait(const struct svc_opts *o, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < o->nports && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%sport %d", i ? ", " : "",
					o->ports[i]);
	if (o->wait_cmd && len < size)
		snprintf(buf + len, size - len, "%s--wait-cmd %s", len ? ", " : "", o->wait_cmd);
}

static int run_steps(struct drive *d)
{
	const struct svc_opts *o = d->s->o;
	int first = 0, limit = o->probe_timeout * 1000;

	for (size_t i = 0; i < o->nsteps; i++) {
		const struct svc_step *st = &o->steps[i];
		char what[256];
		int r = 0;

		if (run_pending_signal())
			break;
		snprintf(what, sizeof what, "%s %s", st->kind == SVC_PROBE ? "--probe" :
			 st->kind == SVC_HTTP ? "--http-probe" : "--exec", st->arg);
		switch (st->kind) {
		case SVC_PROBE:
			r = probe_host(st->arg, d->netfd, d->env, d->s->out, limit, what);
			break;
		case SVC_HTTP:
			for (size_t p = 0; p < o->nports; p++)
				if (probe_http(d->netfd, o->ports[p], st->arg, d->s->out, 10000) != 0)
					r = 1;
			break;
		case SVC_EXEC:
			r = probe_exec(d->c, d->cpid, st->arg, d->s->out, limit, what);
			break;
		}
		if (r != 0)
			fprintf(stderr, "slimfs-run: %s: exit status %d\n", what, r);
		if (r != 0 && !first)
			first = r;
	}
	return first;
}

int service_drive(const struct container *c, pid_t top, bool runc, int *status,
		  struct sfs_err *err)
{
	struct service *s = c->svc;
	const struct svc_opts *o = s->o;
	struct drive d = { .c = c, .s = s, .top = top, .runc = runc, .cpid = -1, .netfd = -1 };
	long start = now_ms(), until = start + o->wait_timeout * 1000L;

	d.until = until;
	char what[512];
	size_t n = 0;
	int ws, ret = -1;

	d.env[n++] = "SLIMFS_HOST=127.0.0.1";
	if (o->nports) {
		size_t len = (size_t)snprintf(d.ports_env, sizeof d.ports_env, "SLIMFS_PORTS=");

		snprintf(d.port_env, sizeof d.port_env, "SLIMFS_PORT=%d", o->ports[0]);
		d.env[n++] = d.port_env;
		for (size_t i = 0; i < o->nports && len < sizeof d.ports_env; i++)
			len += (size_t)snprintf(d.ports_env + len, sizeof d.ports_env - len, "%s%d",
						i ? " " : "", o->ports[i]);
		d.env[n++] = d.ports_env;
	}
	d.env[n] = NULL;
	describe_wait(o, what, sizeof what);
	for (;;) {
		if (waitpid(top, &ws, WNOHANG) == top) {
			*status = RUN_EXIT_ERROR;
			log_dump(s->log, SVC_TAIL_LINES);
			sfs_fail(err, 0, "the server (%s) exited with status %d before it was ready (%s)%s",
				 c->argv[0], exit_status(ws), what,
				 lseek(s->log, 0, SEEK_END) > 0 ? "; its last lines are above" : "");
			goto out;
		}
		if (child_exited(c->daemon)) {
			abort_run(&d, false, status);
			sfs_fail(err, 0, "the slimfs daemon died while the server was starting");
			goto out;
		}
		if (run_pending_signal()) {
			abort_run(&d, true, status);
			sfs_fail(err, 0, "interrupted by signal %d", run_pending_signal());
			goto out;
		}
		if (ready(&d))
			break;
		if (now_ms() >= until) {
			abort_run(&d, false, status);
			sfs_fail(err, 0, "the server (%s) was not ready within %d s (%s); it was killed%s",
				 c->argv[0], o->wait_timeout, what,
				 lseek(s->log, 0, SEEK_END) > 0 ? "; its last lines are above" : "");
			goto out;
		}
		nap(SVC_POLL_MS);
	}
	fprintf(stderr, "slimfs-run: the server is ready (%s) after %.1f s\n", what,
		(double)(now_ms() - start) / 1000.0);
	*status = run_steps(&d);
	if (waitpid(top, &ws, WNOHANG) == top) {
		s->server_status = exit_status(ws);
		fprintf(stderr, "slimfs-run: warning: the server exited with status %d during the probes\n",
			s->server_status);
	} else if (child_exited(c->daemon)) {
		abort_run(&d, false, status);
		sfs_fail(err, 0, "the slimfs daemon died during the probes");
		goto out;
	} else {
		s->server_status = stop(&d);
	}
	fprintf(stderr, "slimfs-run: the server exited with status %d\n", s->server_status);
	if (run_pending_signal()) {
		sfs_fail(err, 0, "interrupted by signal %d", run_pending_signal());
		*status = RUN_EXIT_ERROR;
		goto out;
	}
	ret = 0;
out:
	if (d.netfd >= 0)
		close(d.netfd);
	return ret;
}
