/* mount.c — the life of one slimfs mount: input checks, layers (the image through
 * private mounts), trace, FUSE session, daemonizing, the loop, and teardown.
 *
 * Invariants:
 *  - Every check that can fail runs before anything is mounted, so a failure leaves
 *    nothing mounted and prints one line.
 *  - Without -f the process forks FIRST (before any thread or lock exists: the trace
 *    writer and verifier run threads, the trace holds an flock) and the parent only
 *    waits for the daemon's word: one byte once mounted, or the daemon's exit status.
 *  - Teardown order: unmount, halt the verifier, free what the kernel left open,
 *    remove a private upper, and close the trace (which releases its lock: once the
 *    lock is free, the run is complete in every respect); only then release the
 *    verifier's fanotify group, whose close waits for the kernel (10-30 ms).
 *  - The trace gets its run row only after the checks, the layers and the FUSE
 *    session (mount options) succeeded; only the mount itself can still fail after.
 *  - The image is reached through two private, read-only mounts of LOWERDIR that no
 *    mount table shows (with or without the verifier): one the workload's reads go
 *    through, which the verifier marks, and one copy-ups read through, so the trace
 *    holds what the workload did and nothing the copy did.
 *  - Once daemonized, the trace writer's errors go to syslog (stderr is /dev/null).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>
#include <linux/mount.h>

#include "../common/cleanup.h"
#include "devio.h"
#include "fs.h"
#include "loop.h"
#include "ops.h"
#include "slimfs.h"
#include "verify.h"

/* Entries and attributes stay valid this long (s): only the mount changes the tree,
 * and every change goes through the kernel, which updates its caches itself. */
#define SFS_TIMEOUT 3600.0

#define SFS_MOUNT_OPTS "allow_other,default_permissions,fsname=slimfs,subtype=slimfs"

/* ---- the private mounts of LOWERDIR ----------------------------------------- */

static int mount_make_private_rdonly(int tree_fd)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY,
		.propagation = MS_PRIVATE,
	};

	return syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE,
		       &attr, sizeof(attr));
}

/* The pre-5.2 way: bind LOWERDIR onto a fresh temporary directory, make it private and
 * read-only, hold its root with an O_PATH fd and detach it; the mount lives on through
 * the fd, attached nowhere. */
int lower_private_mount_bind(const char *lowerdir, int *root_fd, struct sfs_err *err)
{
	char dir[] = "/tmp/slimfs-lower.XXXXXX";
	_cleanup_close_ int fd = -1;
	int ret = -1;

	if (!mkdtemp(dir))
		return sfs_fail(err, errno, "mkdtemp %s", dir);
	if (mount(lowerdir, dir, NULL, MS_BIND | MS_REC, NULL) < 0) {
		ret = sfs_fail(err, errno, "bind mount %s", lowerdir);
		goto out_rmdir;
	}
	if (mount(NULL, dir, NULL, MS_PRIVATE | MS_REC, NULL) < 0 ||
	    mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		ret = sfs_fail(err, errno, "make bind mount of %s private and read-only",
			       lowerdir);
		goto out_umount;
	}
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = sfs_fail(err, errno, "open bind mount of %s", lowerdir);
		goto out_umount;
	}
	ret = 0;
out_umount:
	if (umount2(dir, MNT_DETACH) < 0 && ret == 0)
		ret = sfs_fail(err, errno, "detach bind mount of %s", lowerdir);
out_rmdir:
	rmdir(dir);
	if (ret == 0)
		*root_fd = steal_fd(&fd);
	return ret;
}

int lower_private_mount(const char *lowerdir, int *root_fd, struct sfs_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* AT_RECURSIVE: the workload must see what a user sees at LOWERDIR, mounts
	 * below it included (only the top mount is verified, though). */
	fd = syscall(SYS_open_tree, AT_FDCWD, lowerdir,
		     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd < 0 && errno == ENOSYS) {
		if (lower_private_mount_bind(lowerdir, &fd, err) < 0)
			return -1;
	} else if (fd < 0) {
		return sfs_fail(err, errno, "private mount of %s", lowerdir);
	} else if (mount_make_private_rdonly(fd) < 0) {
		int e = errno;

		/* Before 5.12 there is no mount_setattr: take the old road. */
		if (e != ENOSYS)
			return sfs_fail(err, e, "make private mount of %s read-only", lowerdir);
		close(steal_fd(&fd));
		if (lower_private_mount_bind(lowerdir, &fd, err) < 0)
			return -1;
	}
	if (fstat(fd, &st) < 0)
		return sfs_fail(err, errno, "stat %s", lowerdir);
	if (!S_ISDIR(st.st_mode))
		return sfs_fail(err, ENOTDIR, "%s", lowerdir);
	*root_fd = steal_fd(&fd);
	return 0;
}

/* Fork; the parent waits for the child's byte (mounted: exit 0) or its exit status.
 * Returns the write end of the pipe in the child. */
static int fork_daemon(struct sfs_err *err)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return sfs_fail(err, errno, "pipe");
	pid = fork();
	if (pid < 0)
		return sfs_fail(err, errno, "fork");
	if (pid > 0) {
		char c;
		ssize_t n;
		int st;

		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
			_exit(1);
		_exit(WEXITSTATUS(st) ? WEXITSTATUS(st) : 1);
	}
	close(p[0]);
	return p[1];
}

/* The mount is up: leave the terminal and session, tell the parent (always: it
 * waits for this byte or for our exit).  From now on what must be said goes to
 * syslog (*DETACHED). */
static void detach(int notify, atomic_bool *detached)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	openlog("slimfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(detached, true);
	setsid();
	if (chdir("/") < 0) {
		/* "/" always exists; staying in the old directory is harmless */
	}
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	while (write(notify, "", 1) < 0 && errno == EINTR)
		;
	close(notify);
}

static int check_lowerdir(const char *lowerdir, struct sfs_err *err)
{
	struct stat st;

	if (stat(lowerdir, &st) < 0)
		return sfs_fail(err, errno, "lower directory %s", lowerdir);
	if (!S_ISDIR(st.st_mode))
		return sfs_fail(err, ENOTDIR, "lower directory %s", lowerdir);
	return 0;
}

static int check_mountpoint(const char *prog, const char *mnt, struct sfs_err *err)
{
	struct statx stx;

	/* FORCE_SYNC: the root's attributes may still be cached, and only a request
	 * that reaches the (dead) connection says ENOTCONN. */
	if (statx(AT_FDCWD, mnt, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx) < 0 &&
	    errno == ENOTCONN) {
		/* A FUSE mount whose daemon died (kill -9): take it away and go on. */
		if (umount2(mnt, MNT_DETACH) < 0)
			return sfs_fail(err, errno, "mount point %s: cannot remove dead mount", mnt);
		fprintf(stderr, "%s: notice: removed the dead mount on %s\n", prog, mnt);
	}
	if (statx(AT_FDCWD, mnt, 0, STATX_BASIC_STATS, &stx) < 0)
		return sfs_fail(err, errno, "mount point %s", mnt);
	if (!S_ISDIR(stx.stx_mode))
		return sfs_fail(err, ENOTDIR, "mount point %s", mnt);
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return sfs_fail(err, EBUSY, "mount point %s is already a mount point", mnt);
	return 0;
}

static bool dir_is_empty(int fd)
{
	int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	struct dirent *de;

	if (!dir) {
		if (d >= 0)
			close(d);
		return false;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
			return false;
	return true;
}

/* Can the file system of the upper directory FD hold what the overlay writes: a
 * whiteout (character device 0/0) and a trusted xattr on a directory?  overlayfs
 * (refuses whiteouts) and NFS (no trusted xattrs) cannot; tmpfs, ext4, xfs, btrfs can. */
static int probe_upper(int fd, const char *path, struct sfs_err *err)
{
	char name[64], proc[OV_PROC_MAX], v = 0;
	struct stat st;
	int r = 0, d;

	snprintf(name, sizeof(name), ".slimfs-probe.%d", (int)getpid());
	if (ov_make_whiteout(fd, name) < 0 || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !ov_is_whiteout(&st))
		r = sfs_fail(err, errno, "upper directory %s: its file system cannot hold whiteouts "
			     "(use tmpfs, ext4, xfs or btrfs)", path);
	unlinkat(fd, name, 0);
	if (r < 0)
		return r;
	if (mkdirat(fd, name, 0700) < 0)
		return sfs_fail(err, errno, "upper directory %s", path);
	d = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ov_proc_path(proc, d);
	if (d < 0 || ov_set_opaque(d) < 0 || getxattr(proc, OV_OPAQUE_XATTR, &v, 1) != 1 || v != 'y')
		r = sfs_fail(err, errno, "upper directory %s: its file system cannot hold trusted "
			     "xattrs (use tmpfs, ext4, xfs or btrfs)", path);
	if (d >= 0)
		close(d);
	unlinkat(fd, name, AT_REMOVEDIR);
	return r;
}

/* The upper layer: --upper DIR (made if missing) or a private temporary directory,
 * whose path is returned in *TMP so it can be removed at the end. */
static int open_upper(const struct slimfs_opts *o, char **tmp, struct sfs_err *err)
{
	const char *base = getenv("TMPDIR");
	char *path = NULL;
	int fd;

	*tmp = NULL;
	if (o->upper) {
		if (mkdir(o->upper, 0755) < 0 && errno != EEXIST)
			return sfs_fail(err, errno, "upper directory %s", o->upper);
		fd = open(o->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return sfs_fail(err, errno, "upper directory %s", o->upper);
		if (probe_upper(fd, o->upper, err) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	if (asprintf(&path, "%s/slimfs-upper.XXXXXX", base && *base ? base : "/tmp") < 0)
		return sfs_fail(err, ENOMEM, "upper directory");
	if (!mkdtemp(path)) {
		sfs_fail(err, errno, "upper directory %s", path);
		free(path);
		return -1;
	}
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || probe_upper(fd, path, err) < 0) {
		if (fd < 0)
			sfs_fail(err, errno, "upper directory %s", path);
		else
			close(fd);
		rmdir(path);
		free(path);
		return -1;
	}
	*tmp = path;
	return fd;
}

/* LOWERDIR through two private mounts (the workload's, which the verifier marks, and
 * the copy-ups'), or plainly when that is refused: the root of the first, and the
 * copy-ups' in *COPY. */
static int open_lower(const struct slimfs_opts *o, bool *private_mount, int *copy)
{
	struct sfs_err verr = { 0 };
	int fd = -1;

	*private_mount = false;
	if (lower_private_mount(o->lowerdir, &fd, &verr) == 0) {
		if (lower_private_mount(o->lowerdir, copy, &verr) == 0) {
			*private_mount = true;
			return fd;
		}
		close(fd);
	}
	if (o->verify)
		sfs_warn(o->prog, "fanotify verifier off: %s", verr.msg);
	fd = open(o->lowerdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	*copy = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return fd;
}

/* How many O_PATH fds the inode table may keep open (inode.h).  The soft fd limit is
 * raised to the hard one first (that is free); the cache takes at most a quarter of
 * it, leaving the rest to the workload's open files, the verifier's event fds and
 * the trace.  SLIMFS_FD_CACHE=N overrides it (tests use a small N to make every
 * reopen path run). */
static size_t fd_cache_size(void)
{
	const char *env = getenv("SLIMFS_FD_CACHE");
	struct rlimit rl;
	size_t n = SFS_MAX_FDS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < n)
			n = rl.rlim_cur / 4;
	}
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (*end == '\0' && v > 0)
			n = v;
	}
	return n ? n : 1;
}

struct daemon {
	struct sfs_fs fs;
	struct fuse_session *se;
	struct verifier *verifier;
	char *tmp_upper;
	bool mounted;
	atomic_bool detached;           /* daemonized: messages go to syslog */
};

/* The trace writer's report of a failed flush (store/trace.h): to stderr while there
 * is one to read it, to syslog once daemonized. */
static void writer_log(void *arg, const char *msg)
{
	struct daemon *d = arg;

	if (atomic_load(&d->detached))
		syslog(LOG_ERR, "trace writer: %s", msg);
	else
		fprintf(stderr, "slimfs: trace writer: %s\n", msg);
}

static void teardown(struct daemon *d, struct sfs_err *err)
{
	struct sfs_err cerr = { 0 };

	if (d->se) {
		pt_stop(&d->fs.pt);
		if (d->mounted)
			fuse_session_unmount(d->se);
		fuse_remove_signal_handlers(d->se);
		fuse_session_destroy(d->se);
	}
	/* Every event of the run is recorded once the verifier thread has stopped; its
	 * fanotify group is released after the trace (verifier_stop). */
	verifier_halt(d->verifier);
	if (d->fs.handles.next)
		sfs_handles_free_all(&d->fs);
	if (d->fs.it.buckets)
		itable_destroy(&d->fs.it);
	if (d->fs.upper_root >= 0) {
		if (d->tmp_upper)
			ov_rm_contents(d->fs.upper_root);
		close(d->fs.upper_root);
	}
	if (d->tmp_upper) {
		rmdir(d->tmp_upper);
		free(d->tmp_upper);
	}
	if (d->fs.lower_root >= 0)
		close(d->fs.lower_root);
	if (d->fs.copy_root >= 0)
		close(d->fs.copy_root);
	hl_free(d->fs.hardlinks);
	/* Last: closing the trace releases its lock, and whoever waits on that lock
	 * takes the run as finished, private upper directory included. */
	if (d->fs.trace && trace_writer_close(d->fs.trace, &cerr) < 0 && err && !err->msg[0])
		*err = cerr;
	verifier_stop(d->verifier);
	pthread_mutex_destroy(&d->fs.handles_lock);
	for (unsigned k = 0; k < SFS_DIRLOCKS; k++)
		pthread_rwlock_destroy(&d->fs.dirlocks[k]);
	pt_destroy(&d->fs.pt);
	if (atomic_load(&d->detached))
		closelog();
}

/* The FUSE session, before anything is written: bad mount options fail here, before
 * the trace gets a run row. */
static int new_session(struct daemon *d, const struct slimfs_opts *o, struct sfs_err *err)
{
	_cleanup_free_ char *mopts = NULL;
	char *argv[4];
	int argc = 0;

	if (asprintf(&mopts, "%s%s%s", SFS_MOUNT_OPTS, o->fuse_opts ? "," : "",
		     o->fuse_opts ? o->fuse_opts : "") < 0)
		return sfs_fail(err, ENOMEM, "mount options");
	argv[argc++] = (char *)o->prog;
	argv[argc++] = "-o";
	argv[argc++] = mopts;
	if (o->debug)
		argv[argc++] = "-d";
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	d->se = fuse_session_new(&args, &sfs_ops, sizeof(sfs_ops), &d->fs);
	fuse_opt_free_args(&args);
	if (!d->se)
		return sfs_fail(err, 0, "cannot start a FUSE session (mount options: %s)", mopts);
	if (fuse_set_signal_handlers(d->se) < 0)
		return sfs_fail(err, 0, "cannot install signal handlers");
	return 0;
}

/* Whether the image's file system is itself stacked on another (overlayfs: a
 * container engine's image mount), which FUSE passthrough must be told at INIT. */
static bool lower_is_stacked(int lower_root)
{
	struct statfs sf;

	return fstatfs(lower_root, &sf) == 0 && sf.f_type == OVERLAYFS_SUPER_MAGIC;
}

/* The ring has served its first request: the run is recorded as served by it. */
static void ring_served(void *trace)
{
	trace_mark_transport(trace, TRANSPORT_IO_URING);
}

/* Whether the ring serves (--io-uring=MODE, ring.h): on warns when it cannot; auto
 * is silent, but for the one hint line when only the kernel's switch is missing. */
static void choose_transport(struct daemon *d, const struct slimfs_opts *o)
{
	const char *why;

	if (o->io_uring == SLIMFS_URING_OFF)
		return;
	why = ring_init(&d->fs.ring, d->se, o->prog);
	if (why && o->io_uring == SLIMFS_URING_ON)
		sfs_warn(o->prog, "FUSE over io_uring off: %s", why);
	else if (why == ring_switch_off)
		ring_hint(o->prog);
	d->fs.ring.quiet = o->io_uring == SLIMFS_URING_AUTO;
	d->fs.ring.on_served = ring_served;
	d->fs.ring.on_served_arg = d->fs.trace;
}

/* What libfuse 3.14 cannot do (devio.h): ask the kernel for passthrough and the ring,
 * hide what --hide-cap hides of the kernel's INIT, tell the loop of each reply. */
static void wrap_session(struct daemon *d, const struct slimfs_opts *o)
{
	choose_transport(d, o);
	d->fs.io.hide_caps = o->hide_caps;
	if (devio_install(d->se) < 0) {
		sfs_warn(o->prog, "FUSE passthrough and io_uring off: cannot wrap the session's I/O");
		d->fs.ring.want = false;
		return;
	}
	if (o->passthrough) {
		pt_enable(&d->fs.pt, d->se, lower_is_stacked(d->fs.lower_root));
		d->fs.it.freeing = pt_forget;   /* inodes drop their backing files */
		d->fs.it.freeing_arg = &d->fs.pt;
	}
}

static int serve(struct daemon *d, const struct slimfs_opts *o, int notify, struct sfs_err *err)
{
	int r;

	if (fuse_session_mount(d->se, o->mountpoint) < 0)
		return sfs_fail(err, 0, "cannot mount on %s", o->mountpoint);
	d->mounted = true;
	wrap_session(d, o);
	if (o->ready_fd >= 0) {
		if (write(o->ready_fd, "", 1) < 0)
			sfs_warn(o->prog, "ready fd %d: %s", o->ready_fd, strerror(errno));
		close(o->ready_fd);
	}
	if (notify >= 0)
		detach(notify, &d->detached);
	/* /dev/fuse serves until the ring has served (ring_served) */
	trace_mark_transport(d->fs.trace, TRANSPORT_DEV_FUSE);
	r = sfs_loop(d->se, o->spin_us);
	ring_stop(&d->fs.ring);
	if (r < 0)
		return sfs_fail(err, -r, "serving %s", o->mountpoint);
	return 0;
}

/* Directory locks that let a writer in before new readers (a copy-up's link-in is not
 * held up by a stream of lookups in its directory). */
static void dirlocks_init(struct sfs_fs *fs)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (unsigned k = 0; k < SFS_DIRLOCKS; k++)
		pthread_rwlock_init(&fs->dirlocks[k], &a);
	pthread_rwlockattr_destroy(&a);
}

int slimfs_run(const struct slimfs_opts *o, struct sfs_err *err)
{
	struct daemon d = { .fs = { .lower_root = -1, .copy_root = -1, .upper_root = -1 } };
	_cleanup_free_ char *lower_abs = NULL;
	bool private_mount;
	struct stat lst;
	int notify = -1, r = -1;

	pthread_mutex_init(&d.fs.handles_lock, NULL);
	dirlocks_init(&d.fs);
	pt_init(&d.fs.pt);
	d.fs.io.pt = &d.fs.pt;
	d.fs.io.ring = &d.fs.ring;
	d.fs.handles.prev = d.fs.handles.next = &d.fs.handles;
	d.fs.hardlinks = hl_new();
	if (!d.fs.hardlinks) {
		sfs_fail(err, ENOMEM, "hardlink index");
		goto out;
	}
	if (!o->foreground && (notify = fork_daemon(err)) < 0)
		goto out;
	if (check_lowerdir(o->lowerdir, err) < 0 ||
	    check_mountpoint(o->prog, o->mountpoint, err) < 0)
		goto out;
	lower_abs = realpath(o->lowerdir, NULL);
	if (!lower_abs) {
		sfs_fail(err, errno, "lower directory %s", o->lowerdir);
		goto out;
	}
	d.fs.upper_root = open_upper(o, &d.tmp_upper, err);
	if (d.fs.upper_root < 0)
		goto out;
	d.fs.lower_root = open_lower(o, &private_mount, &d.fs.copy_root);
	if (d.fs.lower_root < 0 || d.fs.copy_root < 0 || fstat(d.fs.lower_root, &lst) < 0) {
		sfs_fail(err, errno, "lower directory %s", o->lowerdir);
		goto out;
	}

	if (new_session(&d, o, err) < 0)
		goto out;

	struct trace_run_info info = {
		.lowerdir = lower_abs,
		.command = o->command,
		.verifier = o->verify && private_mount,
		.image = o->image,
		.manifest_digest = o->manifest_digest,
		.config_digest = o->config_digest,
	};
	if (trace_writer_open(&d.fs.trace, o->trace, &info, err) < 0) {
		d.fs.trace = NULL;
		goto out;
	}
	trace_writer_set_log(d.fs.trace, writer_log, &d);
	d.fs.timeout = SFS_TIMEOUT;
	/* An empty upper root joins the root inode at the first change (copy-up), so
	 * lookups in "/" skip the upper layer until then. */
	if (itable_init(&d.fs.it, d.fs.lower_root,
			dir_is_empty(d.fs.upper_root) ? -1 : d.fs.upper_root, &lst,
			d.fs.upper_root, fd_cache_size()) < 0) {
		sfs_fail(err, ENOMEM, "inode table");
		goto out;
	}
	if (info.verifier) {
		struct verifier_opts vo = { .unlimited_queue = o->verify_unlimited };
		struct sfs_err verr = { 0 };

		if (verifier_start(&d.verifier, d.fs.lower_root, d.fs.trace, &vo, &verr) < 0) {
			d.verifier = NULL;
			trace_mark_unverified(d.fs.trace);
			sfs_warn(o->prog, "fanotify verifier off: %s", verr.msg);
		}
	}
	/* Modes from the kernel already carry the caller's umask. */
	umask(0);
	r = serve(&d, o, notify, err);
out:
	teardown(&d, r < 0 ? NULL : err);
	if (r == 0 && err->msg[0])
		r = -1;
	return r;
}
