/* loop.c — serving requests: a fixed pool of threads, one of which may poll.
 *
 * A workload on slimfs waits for the daemon at every path it resolves, so a FUSE
 * round trip is paid thousands of times per second, one at a time.  Measured on a
 * 2-vCPU VM (docs/benchmarks.md): most of a round trip is not our code but waking a
 * sleeping daemon thread on an idle vCPU, whose halt costs an exit to the hypervisor.
 * libfuse's own pool also hands consecutive requests to different threads (the kernel
 * wakes the thread that has slept longest), so each request finds a cold thread.
 *
 * So, with `spin_us` set, the thread that has just answered keeps asking the kernel
 * for the next request, without sleeping, for up to `spin_us`: a serial workload's next request is usually
 * there within microseconds and is picked up with no wakeup at all.  Only one thread
 * polls at a time (the `spinning` token); the others, and the poller once its window
 * has passed, sleep in epoll_wait, each on its own epoll instance registered with
 * EPOLLEXCLUSIVE, so a request wakes exactly one of them (as libfuse's blocking reads
 * do; one shared level-triggered instance would wake them in a chain).
 * /dev/fuse is non-blocking: a woken thread that finds the request taken goes back to
 * sleep instead of blocking in read.  Polling costs at most `spin_us` of one CPU per
 * request, and nothing while the mount is idle.
 *
 * Polling is off by default (slimfs --spin-us): it pays only when a CPU is free for it.
 * Measured interleaved on the 2-vCPU VM, `ls -lR /usr` on a fresh mount: idle host,
 * 845 ms without polling, 671 ms with 50 us; with a CPU hog beside the workload, 571 ms
 * without, 859 ms with (the poller takes the CPU the workload needs).  Without polling
 * this pool matched or beat libfuse's own (852 ms idle, 871 ms with the hog).
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/util.h"
#include "loop.h"

/* Enough for requests that block (a big copy-up, fsync) not to hold up the rest. */
#define LOOP_THREADS 10

struct loop {
	struct fuse_session *se;
	int64_t spin_ns;
	atomic_bool spinning;   /* some thread is polling */
	int done;               /* eventfd, written by each thread that leaves */
	atomic_int error;       /* a read error other than the end of the session */
};

struct worker {
	struct loop *l;
	struct fuse_buf buf;
	int ep;                 /* this thread's epoll instance watching /dev/fuse */
};

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

/* Answer requests until the session ends. */
static void serve(struct worker *w)
{
	struct loop *l = w->l;
	struct epoll_event ev;
	int64_t last = 0;   /* when this thread last answered, 0 after sleeping */

	while (!fuse_session_exited(l->se)) {
		int r = fuse_session_receive_buf(l->se, &w->buf);

		if (r > 0) {
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
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			epoll_wait(w->ep, &ev, 1, -1);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			last = 0;
		}
	}
}

static void *worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "slimfs-fuse");
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(worker_cleanup, arg);
	serve(arg);
	pthread_cleanup_pop(1);
	return NULL;
}

static void close_all(struct worker *w, int n)
{
	for (int k = 0; k < n; k++)
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

int sfs_loop(struct fuse_session *se, unsigned spin_us)
{
	struct loop l = { .se = se, .spin_ns = (int64_t)spin_us * 1000, .done = -1 };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	struct worker w[LOOP_THREADS];
	pthread_t tid[LOOP_THREADS];
	int fd = fuse_session_fd(se), n = 0;
	sigset_t all, exits, old, wait;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	l.done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l.done < 0)
		return -errno;
	for (n = 0; n < LOOP_THREADS; n++) {
		w[n] = (struct worker){ .l = &l, .ep = epoll_create1(EPOLL_CLOEXEC) };
		if (w[n].ep < 0 || epoll_ctl(w[n].ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int e = -errno;

			close_all(w, n + 1);
			close(l.done);
			return e;
		}
	}
	/* Signals (SIGTERM: unmount) go to this thread, in wait_end only. */
	exit_signals(&exits);
	pthread_sigmask(SIG_BLOCK, &exits, &old);
	wait = old;
	sigdelset(&wait, SIGTERM);
	sigdelset(&wait, SIGINT);
	sigdelset(&wait, SIGHUP);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (n = 0; n < LOOP_THREADS; n++)
		if (pthread_create(&tid[n], NULL, worker_main, &w[n]) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_sigmask(SIG_BLOCK, &exits, NULL);
	if (n == 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		close_all(w, LOOP_THREADS);
		close(l.done);
		return -EAGAIN;
	}
	wait_end(&l, &wait);
	for (int k = 0; k < n; k++)
		pthread_cancel(tid[k]);
	for (int k = 0; k < n; k++)
		pthread_join(tid[k], NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close_all(w, LOOP_THREADS);
	close(l.done);
	fuse_session_reset(se);
	return atomic_load(&l.error);
}
