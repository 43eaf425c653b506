/* mounts.c — the file system view of the built-in runtime, set up in the container's
 * own mount namespace: fresh /proc, a minimal /dev, read-only /sys on the slimfs mount,
 * the masked and read-only paths of policy.h, then pivot_root into it.
 *
 * /dev is a tmpfs mounted nodev: the only device nodes that work in it are the
 * bind mounts of null zero full random urandom tty (and devpts), so a node the
 * workload makes (with --cap-add MKNOD) opens nothing.  --privileged drops nodev.
 * /sys is a fresh read-only sysfs, which has no submounts; where the kernel refuses a
 * new sysfs, the host's is bound, read-only all the way down (mount_setattr
 * AT_RECURSIVE), so none of its submounts stays writable.
 *
 * Mount points are names from the image, so they are opened with
 * openat2(RESOLVE_IN_ROOT) on the mount's root and mounted on through
 * /proc/self/fd/N: an image whose /dev is a symlink to / cannot make us mount over the
 * host.  The /dev tmpfs gets the mode and times of the image's /dev, so `ls -l /`
 * prints the same in an image and in its lean copy.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"

/* Open directory NAME (one component) under ROOTFD, making it if it is missing. */
static int open_dir_in(int rootfd, const char *name, int flags, struct sfs_err *err)
{
	int fd = open_in_root(rootfd, name, flags | O_DIRECTORY, 0);

	if (fd < 0 && errno == ENOENT && mkdirat(rootfd, name, 0755) == 0)
		fd = open_in_root(rootfd, name, flags | O_DIRECTORY, 0);
	if (fd < 0)
		return sfs_fail(err, errno, "/%s in the image", name);
	return fd;
}

static int mount_on_fd(const char *src, int fd, const char *type, unsigned long flags,
		       const char *data, const char *what, struct sfs_err *err)
{
	char target[64];

	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	if (mount(src, target, type, flags, data) < 0)
		return sfs_fail(err, errno, "cannot mount %s", what);
	return 0;
}

static int mount_in(int rootfd, const char *name, const char *src, const char *type,
		    unsigned long flags, const char *data, struct sfs_err *err)
{
	_cleanup_close_ int fd = open_dir_in(rootfd, name, O_PATH, err);

	if (fd < 0)
		return -1;
	return mount_on_fd(src, fd, type, flags, data, name, err);
}

static int setup_dev(int rootfd, bool privileged, struct sfs_err *err)
{
	static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
	};
	_cleanup_close_ int mp = open_dir_in(rootfd, "dev", O_PATH, err);
	_cleanup_close_ int dev = -1;
	struct stat image_dev;
	struct timespec times[2];

	if (mp < 0)
		return -1;
	if (fstat(mp, &image_dev) < 0)
		return sfs_fail(err, errno, "/dev in the image");
	if (mount_on_fd("tmpfs", mp, "tmpfs",
			MS_NOSUID | MS_NOEXEC | MS_STRICTATIME | (privileged ? 0 : MS_NODEV),
			"mode=755,size=65536k", "dev", err) < 0)
		return -1;
	dev = open_dir_in(rootfd, "dev", O_RDONLY, err);   /* now the tmpfs */
	if (dev < 0)
		return -1;
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		_cleanup_close_ int f = openat(dev, devices[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		char src[32];

		snprintf(src, sizeof src, "/dev/%s", devices[i]);
		if (f < 0)
			return sfs_fail(err, errno, "/dev/%s", devices[i]);
		if (mount_on_fd(src, f, NULL, MS_BIND, NULL, src, err) < 0)
			return -1;
	}
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
	    mkdirat(dev, "mqueue", 0755) < 0)
		return sfs_fail(err, errno, "cannot make directories in /dev");
	if (mount_in(dev, "pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620,gid=5", err) < 0 ||
	    mount_in(dev, "shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     "mode=1777,size=65536k", err) < 0 ||
	    mount_in(dev, "mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			return sfs_fail(err, errno, "/dev/%s", links[i][1]);
	/* last: every step above changed the directory's times */
	times[0] = image_dev.st_atim;
	times[1] = image_dev.st_mtim;
	if (fchmod(dev, image_dev.st_mode & 07777) < 0 || futimens(dev, times) < 0)
		return sfs_fail(err, errno, "/dev");
	return 0;
}

/* A copy of the tree at SRC (fd or, if SRCFD < 0, the path SRC) with ATTR set on
 * every mount of it, put on TARGET (an fd). */
static int bind_tree(int srcfd, const char *src, int target, uint64_t attr,
		     const char *what, struct sfs_err *err)
{
	struct mount_attr a = { .attr_set = attr };
	_cleanup_close_ int tree = srcfd >= 0
		? open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE)
		: open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

	if (tree < 0)
		return sfs_fail(err, errno, "cannot bind %s", what);
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
		return sfs_fail(err, errno, "cannot make %s read-only", what);
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return sfs_fail(err, errno, "cannot mount %s", what);
	return 0;
}

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

static int setup_sys(int rootfd, bool privileged, struct sfs_err *err)
{
	const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (privileged ? 0 : MS_RDONLY);
	_cleanup_close_ int fd = open_dir_in(rootfd, "sys", O_PATH, err);

	if (fd < 0)
		return -1;
	if (mount_on_fd("sysfs", fd, "sysfs", flags, NULL, "sys", NULL) == 0)
		return 0;
	/* sysfs refuses a new instance in some setups: bind the host's, read-only down
	 * to its last submount */
	return bind_tree(-1, "/sys", fd, privileged ? 0 : RO_ATTRS, "/sys", err);
}

/* policy.h's masked and read-only paths, on the fresh /proc and /sys. */
static int setup_masks(int rootfd, struct sfs_err *err)
{
	for (const char *const *p = policy_masked_paths; *p; p++) {
		_cleanup_close_ int fd = open_in_root(rootfd, *p, O_PATH | O_NOFOLLOW, 0);
		struct stat st;

		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st) < 0)
			return sfs_fail(err, errno, "%s", *p);
		if (S_ISDIR(st.st_mode)) {
			if (mount_on_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
					NULL, *p, err) < 0)
				return -1;
		} else if (mount_on_fd("/dev/null", fd, NULL, MS_BIND, NULL, *p, err) < 0) {
			return -1;
		}
	}
	for (const char *const *p = policy_readonly_paths; *p; p++) {
		_cleanup_close_ int fd = open_in_root(rootfd, *p, O_PATH | O_NOFOLLOW, 0);

		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			return sfs_fail(err, errno, "%s", *p);
		if (bind_tree(fd, NULL, fd, RO_ATTRS, *p, err) < 0)
			return -1;
	}
	return 0;
}

int container_mount_root(const char *root, const struct policy *p, struct sfs_err *err)
{
	_cleanup_close_ int rootfd = -1;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sfs_fail(err, errno, "cannot make mounts private");
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return sfs_fail(err, errno, "%s", root);
	if (mount_in(rootfd, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0 ||
	    setup_dev(rootfd, p->privileged, err) < 0 || setup_sys(rootfd, p->privileged, err) < 0 ||
	    (!p->privileged && setup_masks(rootfd, err) < 0))
		return -1;
	/* pivot_root(".", "."): the old root ends up stacked on the new one, and
	 * detaching it leaves only the image. */
	if (fchdir(rootfd) < 0)
		return sfs_fail(err, errno, "%s", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sfs_fail(err, errno, "pivot_root into %s", root);
	if (umount2(".", MNT_DETACH) < 0)
		return sfs_fail(err, errno, "cannot detach the old root");
	if (chdir("/") < 0)
		return sfs_fail(err, errno, "/");
	return 0;
}
