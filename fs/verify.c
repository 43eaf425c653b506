/* verify.c — the fanotify verifier: a thread that records which lower files were
 * physically opened, read and executed through the daemon's private mount of LOWERDIR.
 *
 * Invariants:
 *  - The marked mount is the private, read-only one the daemon reads the image through
 *    for the workload (lower_private_mount, fs/mount.c), attached to no mount table:
 *    no other process reaches files through it, so every event on it is an access the
 *    daemon made for the workload (the daemon's own O_PATH opens make no event, and
 *    copy-ups read through another mount, fs/copyup.h).
 *  - On a detached mount, /proc/self/fd/N of an event's fd reads as the path from the
 *    mount's root ("/usr/lib/x"), which is the path inside the container.  The root's
 *    own reading is taken once at start and stripped, so a mount that does read as a
 *    longer path (the bind-mount fallback on some kernels) maps the same way.
 *  - Every event fd is closed; reads take at most VERIFY_READ_BUF bytes of events at a
 *    time so the fds the kernel opens for one read stay well below RLIMIT_NOFILE.
 *  - A lost event (queue overflow, or an event the kernel could not hand over) marks
 *    the run incomplete with trace_mark_overflow; nothing is ever guessed.
 *  - Only the verifier thread touches the (dev, ino) -> node cache: no lock.  It only
 *    holds files with one name, so a cached node is always the name that was used.
 *
 * What the kernel can and cannot tell (tested on 6.x):
 *  - FAN_OPEN_EXEC comes only from execve/the ELF loader opening the file.  A FUSE
 *    daemon serving an exec opens the lower file with open(2), which drops the exec
 *    flag, so through the daemon an exec shows as verify_open + verify_read; the daemon
 *    records the exec intent itself.  verify_exec appears when a binary is executed
 *    straight from the private mount.
 *  - splice(2) from a lower file raises FAN_ACCESS like read(2) does.
 *  - mmap page faults raise nothing; the daemon reads with read/pread/splice.
 *  - Only the top mount of LOWERDIR is marked: files on mounts below it are served
 *    but not verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "verify.h"

#define VERIFY_READ_BUF 4096    /* ~170 events, so ~170 fds open at once at most */
#define VERIFY_CACHE_SIZE 4096  /* power of two */

/* Events the verifier listens to.  Directories are left out (no FAN_ONDIR): the
 * recorder sees every opendir/readdir itself and a directory's content is never
 * evidence that a file is needed. */
#define VERIFY_MASK (FAN_OPEN | FAN_ACCESS | FAN_OPEN_EXEC)

struct cache_ent {
	dev_t dev;
	ino_t ino;          /* 0: empty slot (no file on Linux has inode 0 here) */
	uint32_t node;
	uint32_t ops;       /* bit (1 << op) for every op already recorded */
};

struct verifier {
	bool running;                   /* the thread runs (verifier_halt not yet done) */
	int fan;
	int stop_fd;                    /* eventfd: written once by verifier_halt */
	pthread_t thread;
	struct trace_writer *w;
	char *prefix;                   /* how the root reads in /proc; "" for "/" */
	size_t prefix_len;
	bool ignore_marks;              /* still worth trying FAN_MARK_IGNORED_MASK */
	struct cache_ent cache[VERIFY_CACHE_SIZE];
};

/* ---- the verifier thread --------------------------------------------------- */

/* readlink of /proc/self/fd/FD into BUF; -1 if it does not fit or fails. */
static ssize_t fd_path(int fd, char *buf, size_t size)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, size);
	if (n < 0)
		return -1;
	if ((size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return n;
}

static struct cache_ent *cache_slot(struct verifier *v, const struct stat *st)
{
	uint64_t h = ((uint64_t)st->st_ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)st->st_dev;

	return &v->cache[(h >> 32) & (VERIFY_CACHE_SIZE - 1)];
}

/* Node of the file behind event fd FD, or 0 if it cannot be named inside the lower
 * root (deleted meanwhile, name too long, outside the root). */
static uint32_t event_node(struct verifier *v, int fd, const struct stat *st)
{
	char path[PATH_MAX + 16];
	const char *rel;
	ssize_t n;

	n = fd_path(fd, path, sizeof(path));
	if (n < 0)
		return 0;
	if (strncmp(path, v->prefix, v->prefix_len) != 0)
		return 0;
	rel = path + v->prefix_len;
	if (*rel != '/' && *rel != '\0')
		return 0;
	/* A file unlinked after the event reads as "... (deleted)": not a lower path. */
	if (st->st_nlink == 0)
		return 0;
	return trace_node_path(v->w, *rel ? rel : "/");
}

/* Once a file with a single name has been opened and read, the kernel need not tell
 * us about it again: an ignore mark on its inode stops its FAN_OPEN / FAN_ACCESS
 * events (FAN_ACCESS fires on every read) at the source.  Files with several names
 * keep reporting, each name must be seen.  Best effort: past the mark limit
 * (fs.fanotify.max_user_marks, ENOSPC) or on an old kernel we just get more events. */
static void maybe_ignore(struct verifier *v, int fd, struct cache_ent *e)
{
	const uint32_t both = (1u << OP_VERIFY_OPEN) | (1u << OP_VERIFY_READ);

	if (!v->ignore_marks || (e->ops & both) != both)
		return;
	if (fanotify_mark(v->fan, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK,
			  FAN_OPEN | FAN_ACCESS, fd, NULL) < 0)
		v->ignore_marks = false;        /* do not pay a failing call per event */
}

static void record(struct verifier *v, struct cache_ent *e, uint32_t node, enum trace_op op)
{
	if (e) {
		if (e->ops & (1u << op))
			return;
		e->ops |= 1u << op;
	}
	trace_record(v->w, node, op);
}

static void handle_event(struct verifier *v, const struct fanotify_event_metadata *m)
{
	struct cache_ent *e = NULL;
	struct stat st;
	uint32_t node;

	if (fstat(m->fd, &st) < 0)
		return;
	if (st.st_nlink == 1 && !S_ISDIR(st.st_mode)) {
		e = cache_slot(v, &st);
		if (e->ino != st.st_ino || e->dev != st.st_dev) {
			node = event_node(v, m->fd, &st);
			if (!node)
				return;
			*e = (struct cache_ent){ .dev = st.st_dev, .ino = st.st_ino, .node = node };
		}
		node = e->node;
	} else {
		node = event_node(v, m->fd, &st);
		if (!node)
			return;
	}
	if (m->mask & FAN_OPEN)
		record(v, e, node, OP_VERIFY_OPEN);
	if (m->mask & FAN_ACCESS)
		record(v, e, node, OP_VERIFY_READ);
	if (m->mask & FAN_OPEN_EXEC)
		record(v, e, node, OP_VERIFY_EXEC);
	if (e)
		maybe_ignore(v, m->fd, e);
}

/* Read and record what is queued now.  Returns when the queue is empty. */
static void drain(struct verifier *v)
{
	/* fanotify_event_metadata needs its natural alignment. */
	char buf[VERIFY_READ_BUF] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	const struct fanotify_event_metadata *m;
	ssize_t len;

	for (;;) {
		len = read(v->fan, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The kernel dequeued an event it could not hand over (no fd
			 * left, ...): it is lost. */
			trace_mark_overflow(v->w);
			continue;
		}
		if (len == 0)
			return;
		for (m = (void *)buf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->vers != FANOTIFY_METADATA_VERSION) {
				trace_mark_overflow(v->w);
				return;
			}
			if (m->mask & FAN_Q_OVERFLOW)
				trace_mark_overflow(v->w);
			if (m->fd >= 0) {
				handle_event(v, m);
				close(m->fd);
			}
		}
	}
}

static void *verifier_main(void *arg)
{
	struct verifier *v = arg;
	struct pollfd fds[2] = {
		{ .fd = v->fan, .events = POLLIN },
		{ .fd = v->stop_fd, .events = POLLIN },
	};

	pthread_setname_np(pthread_self(), "slimfs-verify");
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			trace_mark_overflow(v->w);
			break;
		}
		if (fds[0].revents)
			drain(v);
		if (fds[1].revents) {
			/* Every access made before the stop is already queued. */
			drain(v);
			break;
		}
	}
	return NULL;
}

static void verifier_free(struct verifier *v)
{
	if (v->fan >= 0)
		close(v->fan);
	if (v->stop_fd >= 0)
		close(v->stop_fd);
	free(v->prefix);
	free(v);
}

int verifier_start(struct verifier **out, int root_fd, struct trace_writer *w,
		   const struct verifier_opts *opts, struct sfs_err *err)
{
	unsigned int flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
	char path[PATH_MAX + 16];
	sigset_t all, old;
	struct verifier *v;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return sfs_fail(err, ENOMEM, "verifier");
	v->fan = v->stop_fd = -1;
	v->w = w;
	v->ignore_marks = true;

	if (!opts || opts->unlimited_queue)
		flags |= FAN_UNLIMITED_QUEUE;
	v->fan = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (v->fan < 0) {
		ret = sfs_fail(err, errno, "fanotify_init");
		goto fail;
	}
	/* root_fd is O_PATH, which fanotify_mark's plain fd argument refuses: name the
	 * root as "." relative to it. */
	if (fanotify_mark(v->fan, FAN_MARK_ADD | FAN_MARK_MOUNT, VERIFY_MASK, root_fd, ".") < 0) {
		ret = sfs_fail(err, errno, "fanotify_mark on the lower mount");
		goto fail;
	}
	if (fd_path(root_fd, path, sizeof(path)) < 0) {
		ret = sfs_fail(err, errno, "read the lower root's path in /proc/self/fd");
		goto fail;
	}
	v->prefix = strdup(strcmp(path, "/") == 0 ? "" : path);
	if (!v->prefix) {
		ret = sfs_fail(err, ENOMEM, "verifier");
		goto fail;
	}
	v->prefix_len = strlen(v->prefix);
	v->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->stop_fd < 0) {
		ret = sfs_fail(err, errno, "eventfd");
		goto fail;
	}
	/* The thread takes no signals: libfuse relies on SIGTERM/SIGINT interrupting
	 * its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&v->thread, NULL, verifier_main, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		ret = sfs_fail(err, ret, "start the verifier thread");
		goto fail;
	}
	v->running = true;
	*out = v;
	return 0;
fail:
	verifier_free(v);
	return ret;
}

void verifier_halt(struct verifier *v)
{
	uint64_t one = 1;

	if (!v || !v->running)
		return;
	while (write(v->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(v->thread, NULL);
	v->running = false;
}

void verifier_stop(struct verifier *v)
{
	if (!v)
		return;
	verifier_halt(v);
	verifier_free(v);
}
