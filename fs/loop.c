/* loop.c — serving requests: a pool of threads pinned per CPU, one of which may poll.
 *
 * A workload on slimfs waits for the daemon at every path it resolves, so a FUSE
 * round trip is paid thousands of times per second, one at a time.  Measured on
 * 2-vCPU VMs (docs/benchmarks.md): most of a round trip is not our code but waking a
 * daemon thread on the other, idle vCPU, whose halt costs an exit to the hypervisor,
 * and then waking the caller back on its own: a negative lookup took ~100 us when the
 * two ran on different CPUs, ~10 us when they took turns on one.  FUSE over io_uring
 * (ring.h) keeps them on one CPU by design; this loop does what /dev/fuse allows:
 *
 *  - Co-location.  The pool has LOOP_PER_CPU threads per CPU the daemon may run on,
 *    each pinned to its CPU.  /dev/fuse has one queue, and a request wakes the first
 *    thread waiting on it, in the order the threads' epoll instances were added to
 *    its wait queue; so the threads of the CPU the callers run on are kept first
 *    (steer: a woken thread looks up its caller's CPU in /proc/PID/stat, at most
 *    every STEER_NS, and moves every other CPU's threads to the back).  A caller's
 *    request then wakes a thread on its own CPU, which runs as soon as the caller
 *    sleeps.
 *  - The reply.  A thread switches itself to SCHED_IDLE just before it writes a reply
 *    (loop_replying, called by devio.c): a CPU that runs only SCHED_IDLE threads
 *    counts as idle, so the caller the reply wakes stays on this CPU and preempts the
 *    thread at once, instead of being moved to the other CPU.  A thread keeps taking
 *    requests at SCHED_IDLE while it finds them (the caller's next one is usually
 *    there when the thread runs again), and goes back to normal priority before it
 *    sleeps: a woken thread always competes as an ordinary one, so a workload that
 *    keeps every CPU busy is served as before.  Threads that slept SCHED_IDLE (tried:
 *    docs/benchmarks.md) were 20% faster on one serial workload and up to 30% slower
 *    on a parallel, CPU-bound one: their requests waited for a free CPU.
 *
 * With `spin_us` set, the thread that has just answered keeps asking the kernel for
 * the next request, without sleeping, for up to `spin_us`: a serial workload's next
 * request is usually there within microseconds and is picked up with no wakeup at all.
 * Only one thread polls at a time (the `spinning` token); the others, and the poller
 * once its window has passed, sleep in epoll_wait, each on its own epoll instance
 * registered with EPOLLEXCLUSIVE, so a request wakes exactly one of them (as libfuse's
 * blocking reads do; one shared level-triggered instance would wake them in a chain).
 * /dev/fuse is non-blocking: a woken thread that finds the request taken goes back to
 * sleep instead of blocking in read.  Polling costs at most `spin_us` of one CPU per
 * request, and nothing while the mount is idle.  It is off by default (slimfs
 * --spin-us): it pays only when a CPU is free for it.
 *
 * The session ends when the kernel says so (unmount: every reader gets ENODEV, which
 * libfuse turns into fuse_session_exit) or on SIGTERM/SIGINT/SIGHUP (libfuse's
 * handlers), and the calling thread then cancels the pool: threads are cancelled only
 * while waiting, never while answering.  Signals reach the calling thread only (every
 * other thread of the daemon blocks them), and only while it waits: it keeps them
 * blocked, checks whether the session has ended, and waits in ppoll(2) with them
 * unblocked, so one that arrives between the check and the wait is taken by the wait
 * and not missed.  A thread that leaves wakes it through an eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"
#include "loop.h"

/* Threads per CPU, and in all at least: enough for requests that block (a big
 * copy-up, fsync) not to hold up the rest. */
#define LOOP_PER_CPU 4
#define LOOP_MIN 10
#define LOOP_MAX 1024

/* How often at most a woken thread looks up its caller's CPU (a /proc read, 5-50 us
 * here).  Measured: every 1 ms follows a workload that moves between CPUs; every 10
 * ms made `ls -lR /usr` 27% slower. */
#define STEER_NS 1000000

struct worker;

struct loop {
	struct fuse_session *se;
	int64_t spin_ns;
	atomic_bool spinning;   /* some thread is polling */
	int done;               /* eventfd, written by each thread that leaves */
	atomic_int error;       /* a read error other than the end of the session */
	struct worker *w;       /* the pool */
	unsigned n;
	unsigned ncpus;         /* CPUs the pool is spread over */
	pthread_mutex_t order;  /* held while the wait queue is reordered */
	atomic_int head;        /* the CPU whose threads are woken first, -1: none yet */
	_Atomic int64_t steered;        /* when a caller's CPU was last looked up */
	atomic_bool no_idle;    /* SCHED_IDLE at the reply is not possible here */
};

struct worker {
	struct loop *l;
	struct fuse_buf buf;
	int ep;                 /* this thread's epoll instance watching /dev/fuse */
	int cpu;                /* the CPU it is pinned to, -1: not pinned */
	bool idle;              /* it runs SCHED_IDLE now */
};

/* The pool thread this is, NULL in any other thread (the ring's, the main thread). */
static __thread struct worker *self;

static void worker_cleanup(void *arg)
{
	struct worker *w = arg;

	free(w->buf.mem);
	eventfd_write(w->l->done, 1);
}

/* Poll for up to the spin window, if no other thread is polling.  True when a request
 * may be waiting. */
static bool spin(struct loop *l, int64_t since)
{
	bool expected = false;

	if (l->spin_ns == 0 || since == 0 ||
	    !atomic_compare_exchange_strong(&l->spinning, &expected, true))
		return false;
	while (now_ns(CLOCK_MONOTONIC) - since < l->spin_ns) {
		struct pollfd pfd = { .fd = fuse_session_fd(l->se), .events = POLLIN };

		if (poll(&pfd, 1, 0) != 0) {
			atomic_store(&l->spinning, false);
			return true;
		}
	}
	atomic_store(&l->spinning, false);
	return false;
}

/* Run W at SCHED_IDLE or at normal priority. */
static void set_idle(struct worker *w, bool on)
{
	if (w->idle == on || atomic_load_explicit(&w->l->no_idle, memory_order_relaxed))
		return;
	if (pthread_setschedparam(pthread_self(), on ? SCHED_IDLE : SCHED_OTHER,
				  &(struct sched_param){ 0 }) != 0) {
		atomic_store(&w->l->no_idle, true);     /* (not allowed back: stay as is) */
		return;
	}
	w->idle = on;
}

void loop_replying(void)
{
	if (self)
		set_idle(self, true);
}

/* The CPU the caller of request IN last ran on (it sleeps there, waiting for the
 * reply): field 39 of /proc/PID/stat, after the command name in parentheses.  -1 when
 * it cannot be told (a caller outside the daemon's PID namespace, gone, ...). */
static int caller_cpu(const struct fuse_in_header *in)
{
	char path[32], buf[1024], *p;
	ssize_t n;
	int fd, field = 2;

	if (in->pid == 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%u/stat", in->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')))
		return -1;
	for (p++; *p && field < 39; p++)
		if (*p == ' ')
			field++;
	return *p >= '0' && *p <= '9' ? atoi(p) : -1;
}

/* Put the threads of CPU first in /dev/fuse's wait queue: every other thread's epoll
 * instance is taken off it and added again, at its end. */
static void prefer(struct loop *l, int cpu)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	int fd = fuse_session_fd(l->se);
	bool ours = false;

	for (unsigned k = 0; k < l->n && !ours; k++)
		ours = l->w[k].cpu == cpu;
	if (!ours)
		return;         /* not a CPU the pool runs on */
	pthread_mutex_lock(&l->order);
	if (atomic_load(&l->head) != cpu) {
		for (unsigned k = 0; k < l->n; k++) {
			if (l->w[k].cpu == cpu)
				continue;
			epoll_ctl(l->w[k].ep, EPOLL_CTL_DEL, fd, NULL);
			epoll_ctl(l->w[k].ep, EPOLL_CTL_ADD, fd, &ev);
		}
		atomic_store(&l->head, cpu);
	}
	pthread_mutex_unlock(&l->order);
}

/* W was woken for the request in its buffer: if its caller runs on another CPU than
 * the one woken first, that CPU's threads go first from now on. */
static void steer(struct worker *w)
{
	struct loop *l = w->l;
	int64_t now = now_ns(CLOCK_MONOTONIC), last = atomic_load(&l->steered);
	int cpu;

	if (l->ncpus < 2 || (w->buf.flags & FUSE_BUF_IS_FD) || w->buf.size < sizeof(struct fuse_in_header) ||
	    now - last < STEER_NS || !atomic_compare_exchange_strong(&l->steered, &last, now))
		return;
	cpu = caller_cpu(w->buf.mem);
	if (cpu >= 0 && cpu != atomic_load(&l->head))
		prefer(l, cpu);
}

/* Answer requests until the session ends. */
static void serve(struct worker *w)
{
	struct loop *l = w->l;
	struct epoll_event ev;
	int64_t last = 0;   /* when this thread last answered, 0 after sleeping */
	bool woken = true;  /* the next request is the first since it slept */

	while (!fuse_session_exited(l->se)) {
		int r = fuse_session_receive_buf(l->se, &w->buf);

		if (r > 0) {
			if (woken)
				steer(w);
			woken = false;
			fuse_session_process_buf(l->se, &w->buf);
			last = l->spin_ns ? now_ns(CLOCK_MONOTONIC) : 0;
			continue;
		}
		if (r == 0)   /* unmounted, or the session ended */
			break;
		if (r != -EAGAIN && r != -EINTR) {
			atomic_store(&l->error, r);
			fuse_session_exit(l->se);
			break;
		}
		if (r == -EAGAIN && !spin(l, last)) {
			set_idle(w, false);     /* woken, it competes as an ordinary thread */
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			epoll_wait(w->ep, &ev, 1, -1);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			last = 0;
			woken = true;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	self = w;
	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			w->cpu = -1;    /* (then never preferred) */
	}
	pthread_setname_np(pthread_self(), "slimfs-fuse");
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(worker_cleanup, arg);
	serve(arg);
	pthread_cleanup_pop(1);
	return NULL;
}

static void close_all(struct worker *w, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		if (w[k].ep >= 0)
			close(w[k].ep);
}

/* The signals that end the session (libfuse's handlers for them set it exited). */
static void exit_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* Wait until the session has ended: a thread left (L->done), or a signal's handler
 * ended it.  The exit signals are blocked except inside ppoll (WAIT, the mask then). */
static void wait_end(struct loop *l, const sigset_t *wait)
{
	struct pollfd pfd = { .fd = l->done, .events = POLLIN };

	while (!fuse_session_exited(l->se)) {
		if (ppoll(&pfd, 1, NULL, wait) > 0) {
			eventfd_t v;

			eventfd_read(l->done, &v);
			if (!fuse_session_exited(l->se))
				fuse_session_exit(l->se);   /* a thread left: unmount, error */
		}
	}
}

/* The CPUs this process may run on, in CPUS (at most MAX): how many. */
static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static void *try_idle(void *arg)
{
	*(bool *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE,
					     &(struct sched_param){ 0 }) == 0 &&
		       pthread_setschedparam(pthread_self(), SCHED_OTHER,
					     &(struct sched_param){ 0 }) == 0;
	return NULL;
}

/* Can a thread go to SCHED_IDLE and come back?  Coming back needs CAP_SYS_NICE or an
 * RLIMIT_NICE of 20 (sched(7)), which a container often lacks: without it a thread
 * would stay SCHED_IDLE for good, asleep too.  Asked once, of a throwaway thread. */
static bool idle_reversible(void)
{
	sigset_t all, old;
	pthread_t t;
	bool ok = false;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);        /* signals are not its to take */
	e = pthread_create(&t, NULL, try_idle, &ok);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return false;
	pthread_join(t, NULL);
	return ok;
}

int sfs_loop(struct fuse_session *se, unsigned spin_us)
{
	struct loop l = { .se = se, .spin_ns = (int64_t)spin_us * 1000, .done = -1, .head = -1 };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	_cleanup_free_ struct worker *w = NULL;
	_cleanup_free_ pthread_t *tid = NULL;
	int cpus[LOOP_MAX / LOOP_PER_CPU];
	int fd = fuse_session_fd(se);
	unsigned n, want;
	sigset_t all, exits, old, wait;

	l.ncpus = allowed_cpus(cpus, LOOP_MAX / LOOP_PER_CPU);
	l.no_idle = !idle_reversible();
	want = l.ncpus * LOOP_PER_CPU > LOOP_MIN ? l.ncpus * LOOP_PER_CPU : LOOP_MIN;
	w = calloc(want, sizeof(*w));
	tid = calloc(want, sizeof(*tid));
	if (!w || !tid)
		return -ENOMEM;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	l.done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l.done < 0)
		return -errno;
	/* Thread k on the k-th CPU, round: each CPU's threads spread over the queue. */
	for (n = 0; n < want; n++) {
		w[n] = (struct worker){ .l = &l, .ep = epoll_create1(EPOLL_CLOEXEC),
					.cpu = l.ncpus > 1 ? cpus[n % l.ncpus] : -1 };
		if (w[n].ep < 0 || epoll_ctl(w[n].ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int e = -errno;

			close_all(w, n + 1);
			close(l.done);
			return e;
		}
	}
	l.w = w;
	l.n = want;
	pthread_mutex_init(&l.order, NULL);
	/* Signals (SIGTERM: unmount) go to this thread, in wait_end only. */
	exit_signals(&exits);
	pthread_sigmask(SIG_BLOCK, &exits, &old);
	wait = old;
	sigdelset(&wait, SIGTERM);
	sigdelset(&wait, SIGINT);
	sigdelset(&wait, SIGHUP);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (n = 0; n < want; n++)
		if (pthread_create(&tid[n], NULL, worker_main, &w[n]) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_sigmask(SIG_BLOCK, &exits, NULL);
	if (n == 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		close_all(w, want);
		close(l.done);
		pthread_mutex_destroy(&l.order);
		return -EAGAIN;
	}
	wait_end(&l, &wait);
	for (unsigned k = 0; k < n; k++)
		pthread_cancel(tid[k]);
	for (unsigned k = 0; k < n; k++)
		pthread_join(tid[k], NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close_all(w, want);
	close(l.done);
	pthread_mutex_destroy(&l.order);
	fuse_session_reset(se);
	return atomic_load(&l.error);
}
