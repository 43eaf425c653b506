/* devio.c — the session's /dev/fuse I/O (devio.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devio.h"
#include "loop.h"
#include "passthrough.h"
#include "ring.h"
#include "slimfs.h"

/* fuse_init_out from 7.40: max_stack_depth took the first unused word. */
#define INIT_OUT_FLAGS2       offsetof(struct fuse_init_out, flags2)
#define INIT_OUT_STACK_DEPTH  (INIT_OUT_FLAGS2 + 4)
/* fuse_init_in since 7.36: flags2 after flags (Debian 12's <linux/fuse.h> has it). */
#define INIT_IN_FLAGS2        offsetof(struct fuse_init_in, flags2)

/* The capabilities `slimfs --hide-cap` can hide: each INIT flag the daemon asks for
 * or relies on (ops.c's init, passthrough.h, ring.h).  The rest the daemon turns off
 * itself (writeback cache, READDIRPLUS, ...) or does not depend on. */
static const struct {
	const char *name;
	uint64_t flags;
} caps[] = {
	{ "passthrough", SFS_FUSE_PASSTHROUGH },
	{ "uring", SFS_FUSE_OVER_IO_URING },
	{ "splice", FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ },
	{ "acl", FUSE_POSIX_ACL },
	{ "symlinks", FUSE_CACHE_SYMLINKS },
	{ "o_trunc", FUSE_ATOMIC_O_TRUNC },
	{ "dirops", FUSE_PARALLEL_DIROPS },
	{ "async_read", FUSE_ASYNC_READ },
	{ "max_pages", FUSE_MAX_PAGES },
};

int slimfs_parse_caps(const char *list, uint64_t *mask, struct sfs_err *err)
{
	const char *p = list;

	*mask = 0;
	for (;;) {
		size_t n = strcspn(p, ","), k;

		for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++)
			if (strlen(caps[k].name) == n && strncmp(p, caps[k].name, n) == 0)
				break;
		if (k == sizeof(caps) / sizeof(caps[0]))
			return sfs_fail(err, 0, "unknown capability '%.*s' (known: passthrough, "
					"uring, splice, acl, symlinks, o_trunc, dirops, async_read, "
					"max_pages)", (int)n, p);
		*mask |= caps[k].flags;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* The INIT request in BUF (N bytes): remember what it offers, less what is hidden,
 * which is taken out of it before libfuse reads it. */
static void read_init(struct devio *io, char *buf, ssize_t n)
{
	const struct fuse_in_header *in = (const void *)buf;
	char *arg = buf + sizeof(*in);
	uint32_t flags, flags2 = 0;

	if (n < (ssize_t)(sizeof(*in) + INIT_IN_FLAGS2) || in->opcode != FUSE_INIT)
		return;
	memcpy(&flags, arg + offsetof(struct fuse_init_in, flags), 4);
	flags &= ~(uint32_t)io->hide_caps;
	memcpy(arg + offsetof(struct fuse_init_in, flags), &flags, 4);
	if ((flags & FUSE_INIT_EXT) && n >= (ssize_t)(sizeof(*in) + INIT_IN_FLAGS2 + 4)) {
		memcpy(&flags2, arg + INIT_IN_FLAGS2, 4);
		flags2 &= ~(uint32_t)(io->hide_caps >> 32);
		memcpy(arg + INIT_IN_FLAGS2, &flags2, 4);
	}
	io->kernel_caps = flags | (uint64_t)flags2 << 32;
}

/* (The callbacks get the session's userdata, which starts with the struct devio.)  The
 * first request is INIT: the kernel sends nothing else until it is answered. */
static ssize_t dev_read(int fd, void *buf, size_t len, void *userdata)
{
	struct devio *io = userdata;
	ssize_t n = read(fd, buf, len);

	if (n > 0 && !atomic_load_explicit(&io->init_read, memory_order_relaxed) &&
	    !atomic_exchange(&io->init_read, true))
		read_init(io, buf, n);
	return n;
}

/* Add IO's flags to the INIT reply libfuse built, those the kernel offered; what it
 * did not offer is off for the session.  FUSE_PASSTHROUGH and FUSE_OVER_IO_URING are
 * flags2 bits; max_stack_depth says how deep passthrough's backing files may be
 * stacked (the kernel checks each at BACKING_OPEN). */
static void patch_init(struct devio *io, struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t want;
	unsigned char *arg;
	uint32_t flags, flags2;

	if (!(io->kernel_caps & SFS_FUSE_PASSTHROUGH))
		pt_stop(io->pt);        /* no backing file will ever be registered */
	if (!(io->kernel_caps & SFS_FUSE_OVER_IO_URING))
		ring_not_offered(io->ring);
	want = (io->pt->on ? SFS_FUSE_PASSTHROUGH : 0) | (io->ring->want ? SFS_FUSE_OVER_IO_URING : 0);
	if (out->error != 0 || count < 2 || iov[1].iov_len < INIT_OUT_STACK_DEPTH + 4) {
		io->ring->want = false; /* not a reply the ring can follow */
		return;
	}
	arg = iov[1].iov_base;
	memcpy(&flags, arg + offsetof(struct fuse_init_out, flags), 4);
	memcpy(&flags2, arg + INIT_OUT_FLAGS2, 4);
	if (!(flags & FUSE_INIT_EXT))
		flags2 = 0;     /* libfuse did not use flags2: nothing of its to keep */
	flags |= FUSE_INIT_EXT;
	flags2 |= (uint32_t)(want >> 32);
	memcpy(arg + offsetof(struct fuse_init_out, flags), &flags, 4);
	memcpy(arg + INIT_OUT_FLAGS2, &flags2, 4);
	if (io->pt->on)
		memcpy(arg + INIT_OUT_STACK_DEPTH, &io->pt->depth, 4);
}

/* A ring's result as libfuse wants a system call's: bytes, or -1 with errno. */
static ssize_t ret_errno(ssize_t r)
{
	if (r >= 0)
		return r;
	errno = (int)-r;
	return -1;
}

/* (The callbacks get the session's userdata, which starts with the struct devio.)  The
 * first reply is
 * claimed as INIT before it is written: once the kernel has it, other requests follow
 * at once, and their replies must go out as they are. */
static ssize_t dev_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct devio *io = userdata;
	const struct fuse_out_header *out = iov[0].iov_base;
	ssize_t r = ring_reply(iov, count);

	if (r != 0)
		return ret_errno(r);
	loop_replying();
	if (atomic_load_explicit(&io->init_done, memory_order_relaxed) || count < 1 ||
	    iov[0].iov_len < sizeof(*out) || atomic_exchange(&io->init_done, true))
		return writev(fd, iov, count);
	patch_init(io, iov, count);
	r = writev(fd, iov, count);
	/* The kernel has taken the reply: the ring may register now. */
	if (r > 0 && out->error == 0)
		ring_start(io->ring);
	return r;
}

static ssize_t dev_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			       unsigned int flags, void *userdata)
{
	ssize_t r = ring_splice_reply(fdin, len);

	(void)userdata;
	if (r != 0)
		return ret_errno(r);
	loop_replying();
	return splice(fdin, offin, fdout, offout, len, flags);
}

int devio_install(struct fuse_session *se)
{
	const struct fuse_custom_io io = {
		.read = dev_read, .writev = dev_writev, .splice_send = dev_splice_send,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0 ? 0 : -EINVAL;
}
