/* ring.c — FUSE over io_uring (ring.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/error.h"
#include "ring.h"

/* Kernel ABI 7.42 (Linux 6.14), newer than Debian 12's <linux/fuse.h>. */
#define URING_IN_OUT_SZ 128
#define URING_OP_IN_SZ  128

struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;             /* the request's unique */
	uint32_t payload_sz;            /* bytes in the payload buffer, either way */
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[URING_IN_OUT_SZ];   /* fuse_in_header, then fuse_out_header */
	char op_in[URING_OP_IN_SZ];     /* the request's first argument, its op header */
	struct uring_ent_in_out ent;
};

enum { URING_CMD_REGISTER = 1, URING_CMD_COMMIT_AND_FETCH = 2 };

struct uring_cmd_req {                  /* in the SQE's command area (SQE128) */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

/* What ring_hint says: measured by bench/overhead.sh on a 2-vCPU VM, cold runs, the
 * ring against /dev/fuse in one run (docs/benchmarks.md, "Fast by default"): ls -lR
 * 11.3x native against 6.4x, tar 4.3x against 3.3x. */
#define RING_HINT "requests go through /dev/fuse: the kernel's FUSE-over-io_uring switch " \
	"is off (as root: echo Y > " RING_SWITCH "; host-wide); with it on, recording " \
	"ran metadata-heavy work ~1.8x and reads ~1.3x faster on a 2-vCPU VM " \
	"(docs/benchmarks.md)"

/* The payload buffer must hold the largest request or reply, which the kernel checks
 * at REGISTER: max_write, and max_pages pages.  libfuse 3.14 asks for 256 pages of both
 * (FUSE_MAX_MAX_PAGES).  Mapped, so pages that a thread never needs cost no memory. */
#define PAYLOAD_PAGES 256

/* One mapping per entry: the kernel's header, then room to lay the in header and the op
 * header out just before the payload, so a request reads as /dev/fuse delivers it. */
#define GAP (sizeof(struct fuse_in_header) + URING_OP_IN_SZ)

struct ring_thread {
	struct sfs_ring *r;
	unsigned qid;                   /* the CPU queue, and the CPU the thread runs on */
	pthread_t tid;
	struct io_uring uring;
	struct uring_req_header *hdr;   /* the mapping, ent_size() bytes: header, gap, payload */
	char *payload;
	struct iovec iov[2];
	bool replied;                   /* the request being served has its reply */
};

/* The unique of the request in T's entry (0 before the first: REGISTER's commit id). */
static uint64_t unique_of(const struct ring_thread *t)
{
	return t->hdr->ent.commit_id;
}

/* An entry's whole mapping: the kernel's header, the gap, the payload. */
static size_t ent_size(const struct sfs_ring *r)
{
	return sizeof(struct uring_req_header) + GAP + r->payload_sz;
}

/* The entry of the request this thread is serving, NULL outside one. */
static __thread struct ring_thread *cur;

unsigned ring_cpu_count(const char *list)
{
	const char *p = list;
	unsigned long max = 0;

	while (*p >= '0' && *p <= '9') {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (hi + 1 > max)
			max = hi + 1;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return max <= 4096 ? (unsigned)max : 0;
}

/* Number of CPU queues: the kernel has one per possible CPU. */
static unsigned possible_cpus(void)
{
	_cleanup_fclose_ FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	char buf[256];

	return f && fgets(buf, sizeof(buf), f) ? ring_cpu_count(buf) : 0;
}

/* The ring is off (reported once): WHY. */
static void ring_off(struct sfs_ring *r, const char *why)
{
	if (!atomic_exchange(&r->failed, true))
		sfs_warn(r->prog, "FUSE over io_uring off: %s", why);
}

static void prep_cmd(struct ring_thread *t, uint32_t op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->uring);
	struct uring_cmd_req *req;

	if (!sqe)
		return;         /* cannot happen: each thread has at most 2 in flight */
	memset(sqe, 0, 2 * sizeof(*sqe));       /* SQE128: the command area is the 2nd half */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fuse_session_fd(t->r->se);
	sqe->cmd_op = op;
	sqe->addr = (uintptr_t)t->iov;
	sqe->len = 2;
	io_uring_sqe_set_data(sqe, t);
	req = (struct uring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)t->qid;
	req->commit_id = unique_of(t);
}

/* The reply is in place: OUT goes to the header, N payload bytes are written. */
static void set_reply(struct ring_thread *t, const struct fuse_out_header *out, size_t n)
{
	memcpy(t->hdr->in_out, out, sizeof(*out));
	t->hdr->ent.payload_sz = (uint32_t)n;
	t->replied = true;
}

/* An error reply: the header only. */
static void reply_error(struct ring_thread *t, int error)
{
	struct fuse_out_header out = {
		.len = sizeof(out), .error = -error, .unique = unique_of(t),
	};

	set_reply(t, &out, 0);
}

/* Hand the request in T's entry to libfuse, laid out as /dev/fuse delivers it: the in
 * header and the op header go right before the payload.  The op header's size is what
 * the request's length leaves. */
static void serve_one(struct ring_thread *t)
{
	struct sfs_ring *r = t->r;
	struct fuse_in_header in;
	uint32_t psz = t->hdr->ent.payload_sz;
	size_t oplen;
	char *start;

	memcpy(&in, t->hdr->in_out, sizeof(in));
	t->replied = false;
	if (in.len < sizeof(in) + (size_t)psz || psz > r->payload_sz ||
	    (oplen = in.len - sizeof(in) - psz) > URING_OP_IN_SZ) {
		reply_error(t, EIO);
		return;
	}
	start = t->payload - oplen - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), t->hdr->op_in, oplen);
	cur = t;
	fuse_session_process_buf(r->se, &(struct fuse_buf){ .mem = start, .size = in.len });
	cur = NULL;
	if (!t->replied) {      /* a handler that did not reply before returning: a bug */
		if (!atomic_exchange(&r->warned_late, true))
			sfs_warn(r->prog, "FUSE over io_uring: request %u got no reply in time",
				 in.opcode);
		reply_error(t, EIO);
	}
}

ssize_t ring_reply(const struct iovec *iov, int count)
{
	struct ring_thread *t = cur;
	const struct fuse_out_header *out = iov[0].iov_base;
	size_t n = 0;

	if (!t || count < 1 || iov[0].iov_len != sizeof(*out) || out->unique != unique_of(t))
		return 0;
	for (int k = 1; k < count; k++) {
		if (n + iov[k].iov_len > t->r->payload_sz) {
			reply_error(t, EIO);
			return -EIO;
		}
		/* (memmove: a reply may quote the request, which the payload still holds) */
		memmove(t->payload + n, iov[k].iov_base, iov[k].iov_len);
		n += iov[k].iov_len;
	}
	set_reply(t, out, n);
	return (ssize_t)(sizeof(*out) + n);
}

/* Read exactly LEN bytes from pipe FD: 0 or a negative errno. */
static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, (char *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		got += (size_t)r;
	}
	return 0;
}

/* Read a spliced reply of LEN bytes from pipe FD: its header into OUT, the rest into
 * PAYLOAD.  libfuse has put all of it in the pipe, so one readv(2) takes it. */
static int read_reply(int fd, struct fuse_out_header *out, char *payload, size_t len)
{
	struct iovec v[2] = { { out, sizeof(*out) }, { payload, len - sizeof(*out) } };
	ssize_t n;
	int r;

	do
		n = readv(fd, v, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(*out)) {         /* a short read: the rest, part by part */
		if ((r = read_full(fd, (char *)out + n, sizeof(*out) - (size_t)n)) < 0)
			return r;
		n = sizeof(*out);
	}
	return read_full(fd, payload + ((size_t)n - sizeof(*out)), len - (size_t)n);
}

ssize_t ring_splice_reply(int pipe, size_t len)
{
	struct ring_thread *t = cur;
	struct fuse_out_header out;
	int r;

	if (!t)
		return 0;
	if (len < sizeof(out) || len - sizeof(out) > t->r->payload_sz)
		r = -EIO;
	else if ((r = read_reply(pipe, &out, t->payload, len)) == 0 && out.unique != unique_of(t))
		r = -EIO;       /* libfuse splices replies only (and notify_store, unused) */
	if (r < 0) {
		reply_error(t, EIO);
		return r;
	}
	set_reply(t, &out, len - sizeof(out));
	return (ssize_t)len;
}

/* The ring broke while the kernel relies on it: requests from this thread's CPU would
 * wait for ever, so the session ends as on SIGTERM (unmount, trace complete). */
static void broken(struct ring_thread *t, int error)
{
	sfs_warn(t->r->prog, "FUSE over io_uring failed: %s; unmounting", strerror(error));
	kill(getpid(), SIGTERM);
}

/* A request came through the ring: the first one is reported (on_served). */
static void first_served(struct sfs_ring *r)
{
	if (!atomic_load_explicit(&r->served, memory_order_relaxed) &&
	    !atomic_exchange(&r->served, true) && r->on_served)
		r->on_served(r->on_served_arg);
}

/* Serve the entry until the kernel ends it (unmount: -ENOTCONN) or the session stops. */
static void serve(struct ring_thread *t)
{
	struct sfs_ring *r = t->r;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	bool served = false, stop = false;

	prep_cmd(t, URING_CMD_REGISTER);
	sqe = io_uring_get_sqe(&t->uring);
	io_uring_prep_poll_add(sqe, r->stop, POLLIN);
	io_uring_sqe_set_data(sqe, NULL);
	while (!stop) {
		int res = io_uring_submit_and_wait(&t->uring, 1);

		if (res < 0 && res != -EINTR) {
			broken(t, -res);
			return;
		}
		while (io_uring_peek_cqe(&t->uring, &cqe) == 0) {
			void *data = io_uring_cqe_get_data(cqe);

			res = cqe->res;
			io_uring_cqe_seen(&t->uring, cqe);
			if (!data) {
				stop = true;    /* after the replies of this batch */
			} else if (res == -ENOTCONN || res == -ECANCELED || res == -ECONNABORTED) {
				return;         /* the connection is gone */
			} else if (res < 0 && !served) {
				ring_off(r, strerror(-res));
				return;
			} else if (res < 0) {
				broken(t, -res);
				return;
			} else {
				served = true;
				first_served(r);
				serve_one(t);
				prep_cmd(t, URING_CMD_COMMIT_AND_FETCH);
			}
		}
	}
	io_uring_submit(&t->uring);     /* the last replies */
}

static void *thread_main(void *arg)
{
	struct ring_thread *t = arg;
	cpu_set_t cpu;

	CPU_ZERO(&cpu);
	CPU_SET(t->qid, &cpu);
	pthread_setaffinity_np(pthread_self(), sizeof(cpu), &cpu);   /* best effort */
	pthread_setname_np(pthread_self(), "slimfs-ring");
	/* SCHED_IDLE, for where the kernel wakes the caller.  The reply wakes it while
	 * this thread still runs, so its CPU is busy and the scheduler would move the
	 * caller to the other, idle CPU: a halted vCPU to wake, and the next request on
	 * the other queue.  A CPU that runs only SCHED_IDLE threads counts as idle, so
	 * the caller stays, and preempts this thread at once.  Measured (fs/ring.h):
	 * idle host, `ls -lR /usr` cold 10.7x -> 6.2x native; both CPUs saturated by
	 * other work, the ring ~5% slower with it, still faster than /dev/fuse. */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){ 0 });
	/* The ring is only ever entered by this thread, which waits in it: completions
	 * run when it asks for them, with no interrupt of whatever it is doing.  Two
	 * entries at most are in flight: the ring entry's command and the stop poll. */
	if (io_uring_queue_init(2, &t->uring, IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
				IORING_SETUP_DEFER_TASKRUN) < 0 &&
	    io_uring_queue_init(2, &t->uring, IORING_SETUP_SQE128) < 0) {
		ring_off(t->r, "no io_uring");
		return NULL;
	}
	serve(t);
	io_uring_queue_exit(&t->uring);
	return NULL;
}

const char ring_switch_off[] = "the kernel's switch is off (echo Y > " RING_SWITCH ")";

const char *ring_init(struct sfs_ring *r, struct fuse_session *se, const char *prog)
{
	_cleanup_fclose_ FILE *f = fopen(RING_SWITCH, "re");
	int on = f ? fgetc(f) : EOF;

	if (on == EOF)
		return "this kernel has no FUSE over io_uring (no " RING_SWITCH ")";
	if (on != 'Y')
		return ring_switch_off;
	if ((r->cpus = possible_cpus()) == 0)
		return "no list of possible CPUs (/sys/devices/system/cpu/possible)";
	r->want = true;
	r->se = se;
	r->prog = prog;
	r->stop = -1;
	r->payload_sz = PAYLOAD_PAGES * (size_t)sysconf(_SC_PAGESIZE);
	return NULL;
}

void ring_not_offered(struct sfs_ring *r)
{
	if (r->want && !r->quiet)
		ring_off(r, "the kernel did not offer it at INIT");
	r->want = false;
}

void ring_hint(const char *prog)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "%s: notice: " RING_HINT "\n", prog);
}

/* Start thread N of R's set (its entry mapped): 0, or a negative errno. */
static int start_thread(struct sfs_ring *r, unsigned n)
{
	struct ring_thread *t = &r->threads[n];
	int e;

	t->r = r;
	t->qid = n / RING_THREADS;
	t->hdr = mmap(NULL, ent_size(r), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (t->hdr == MAP_FAILED)
		return -errno;
	t->payload = (char *)t->hdr + sizeof(*t->hdr) + GAP;
	t->iov[0] = (struct iovec){ t->hdr, sizeof(*t->hdr) };
	t->iov[1] = (struct iovec){ t->payload, r->payload_sz };
	if ((e = pthread_create(&t->tid, NULL, thread_main, t)) != 0) {
		munmap(t->hdr, ent_size(r));
		return -e;
	}
	return 0;
}

void ring_start(struct sfs_ring *r)
{
	unsigned want = r->cpus * RING_THREADS;
	sigset_t all, old;
	int e = 0;

	if (!r->want)
		return;
	if ((r->stop = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    !(r->threads = calloc(want, sizeof(*r->threads)))) {
		sfs_warn(r->prog, "FUSE over io_uring off: cannot set it up");
		return;
	}
	/* Signals stay with the thread that waits for the end of the session (loop.c). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (r->n < want && (e = start_thread(r, r->n)) == 0)
		r->n++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Each CPU's queue needs an entry before the kernel uses the ring. */
	if (r->n < want)
		sfs_warn(r->prog, "FUSE over io_uring: %u of %u threads (%s)%s", r->n, want,
			 strerror(-e), r->n < (r->cpus - 1) * RING_THREADS + 1 ? "; off" : "");
}

void ring_stop(struct sfs_ring *r)
{
	if (!r->want)
		return;
	if (r->stop >= 0 && eventfd_write(r->stop, 1) < 0)
		return;         /* cannot happen; the threads are left to exit() */
	for (unsigned k = 0; k < r->n; k++) {
		pthread_join(r->threads[k].tid, NULL);
		munmap(r->threads[k].hdr, ent_size(r));
	}
	free(r->threads);
	r->threads = NULL;
	r->n = 0;
	if (r->stop >= 0)
		close(r->stop);
	r->stop = -1;
}
