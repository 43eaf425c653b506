/* image.c — resolution inside the image root (see image.h). */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

int image_open(struct image *im, const char *dir, struct sfs_err *err)
{
	memset(im, 0, sizeof *im);
	im->parentfd = -1;
	im->rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (im->rootfd < 0)
		return sfs_fail(err, errno, "image %s", dir);
	im->dir = strdup(dir);
	if (im->dir == NULL) {
		close(im->rootfd);
		return sfs_fail(err, ENOMEM, "image %s", dir);
	}
	return 0;
}

void image_close(struct image *im)
{
	if (im->parentfd >= 0)
		close(im->parentfd);
	if (im->rootfd >= 0)
		close(im->rootfd);
	free(im->dir);
	free(im->parent);
	im->parentfd = im->rootfd = -1;
	im->dir = im->parent = NULL;
	im->parentcap = 0;
}

#define NO_LINKS (RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)

/* The directory PATH (absolute, clean, LEN bytes) below ROOTFD, resolved inside it
 * without any symlink: an O_PATH fd or -1 with errno.  A path longer than PATH_MAX is
 * opened a part at a time, each part below the directory the one before reached. */
static int open_dir_in_root(int rootfd, char *path, size_t len)
{
	int fd = -1;
	size_t at = 0;

	while (at < len) {
		size_t end = len, n;
		char saved;
		int next;

		if (end - at >= PATH_MAX) {     /* the last '/' that keeps the part short */
			end = at + PATH_MAX - 1;
			while (end > at && path[end] != '/')
				end--;
			if (end == at) {
				errno = ENAMETOOLONG;   /* a name longer than PATH_MAX */
				break;
			}
		}
		n = end;
		saved = path[n];
		path[n] = '\0';
		if (fd < 0)
			next = open_in_root(rootfd, path + at, O_PATH | O_DIRECTORY, NO_LINKS);
		else    /* (RESOLVE_IN_ROOT below a directory of the image: the same rules) */
			next = open_in_root(fd, path + at + 1, O_PATH | O_DIRECTORY, NO_LINKS);
		path[n] = saved;
		if (fd >= 0) {
			int e = errno;

			close(fd);
			errno = e;
		}
		fd = next;
		if (fd < 0)
			return -1;
		at = end;
	}
	return fd;
}

int image_parent(struct image *im, const char *path, size_t len, struct sfs_err *err)
{
	size_t plen, nlen;
	int fd;

	if (len <= 1) {
		im->name[0] = '\0';
		return im->rootfd;
	}
	plen = len - 1;
	while (path[plen] != '/')
		plen--;
	nlen = len - plen - 1;
	if (nlen > NAME_MAX) {
		errno = ENAMETOOLONG;
		return sfs_fail(err, errno, "%.*s", (int)len, path);
	}
	memcpy(im->name, path + plen + 1, nlen);
	im->name[nlen] = '\0';
	if (plen == 0)
		return im->rootfd;
	if (im->parentfd >= 0 && im->parentlen == plen && memcmp(im->parent, path, plen) == 0)
		return im->parentfd;
	if (im->parentfd >= 0)
		close(im->parentfd);
	im->parentfd = -1;
	if (plen + 1 > im->parentcap) {
		char *p = realloc(im->parent, plen + 1);

		if (!p) {
			errno = ENOMEM;
			return sfs_fail(err, ENOMEM, "%.*s", (int)len, path);
		}
		im->parent = p;
		im->parentcap = plen + 1;
	}
	memcpy(im->parent, path, plen);
	im->parent[plen] = '\0';
	fd = open_dir_in_root(im->rootfd, im->parent, plen);
	if (fd < 0) {
		int e = errno;

		sfs_fail(err, e, "%s", im->parent);
		errno = e;
		return -1;
	}
	im->parentfd = fd;
	im->parentlen = plen;
	return fd;
}

static bool is_absent(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV;
}

int image_lstat(struct image *im, const char *path, size_t len, struct stat *st,
		struct sfs_err *err)
{
	int dfd = image_parent(im, path, len, err);

	if (dfd < 0)
		return is_absent(errno) ? 1 : -1;
	if (fstatat(dfd, im->name, st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0) {
		if (is_absent(errno))
			return 1;
		return sfs_fail(err, errno, "%.*s", (int)len, path);
	}
	return 0;
}

struct walk {
	image_walk_cb cb;
	image_walk_want want;     /* NULL: every entry is stat-ed */
	void *ctx;
	dev_t dev;
	char *path;               /* any length: grown as the walk goes deeper */
	size_t cap;
};

/* Readdir's d_ino is the entry's st_ino on these (overlayfs, FUSE and network
 * file systems may differ: there every entry is stat-ed). */
static bool dino_is_stino(int rootfd)
{
	struct statfs sf;

	if (fstatfs(rootfd, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case EXT4_SUPER_MAGIC:    /* ext2 and ext3 share it */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
		return true;
	default:
		return false;
	}
}

/* Enter directory NAME of DFD (path w->path[0..LEN)) if it is on the image's file
 * system: only its fd is stat-ed, for st_dev. */
static int walk_dir(struct walk *w, int dfd, size_t len, struct sfs_err *err);

static int enter(struct walk *w, int dfd, const char *name, size_t len, struct sfs_err *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return sfs_fail(err, errno, "%s", w->path);
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return sfs_fail(err, e, "%s", w->path);
	}
	if (st.st_dev != w->dev) {
		close(fd);
		return 0;
	}
	return walk_dir(w, fd, len, err);
}

static int walk_dir(struct walk *w, int dfd, size_t len, struct sfs_err *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	d = fdopendir(dfd);
	if (d == NULL) {
		int e = errno;

		close(dfd);
		return sfs_fail(err, e, "%.*s", (int)(len ? len : 1), len ? w->path : "/");
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		size_t nlen = strlen(de->d_name), plen = len + 1 + nlen;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (plen >= w->cap) {
			size_t cap = w->cap * 2 > plen ? w->cap * 2 : plen + 1;
			char *p = realloc(w->path, cap);

			if (!p)
				return sfs_fail(err, ENOMEM, "%.*s/%s", (int)len, w->path, de->d_name);
			w->path = p;
			w->cap = cap;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, nlen + 1);
		if (w->want && de->d_type != DT_UNKNOWN && !w->want(w->ctx, de->d_ino)) {
			if (de->d_type == DT_DIR && enter(w, dirfd(d), de->d_name, plen, err) < 0)
				return -1;
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return sfs_fail(err, errno, "%s", w->path);
		}
		if (w->cb(w->ctx, w->path, plen, &st, err) < 0)
			return -1;
		if (S_ISDIR(st.st_mode) && st.st_dev == w->dev) {
			int fd = openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0)
				return sfs_fail(err, errno, "%s", w->path);
			if (walk_dir(w, fd, plen, err) < 0)
				return -1;
		}
	}
	if (errno != 0)
		return sfs_fail(err, errno, "%.*s", (int)(len ? len : 1), len ? w->path : "/");
	return 0;
}

int image_walk(struct image *im, image_walk_want want, image_walk_cb cb, void *ctx,
	       struct sfs_err *err)
{
	_cleanup_free_ struct walk *w = calloc(1, sizeof *w);
	_cleanup_free_ char *path = malloc(PATH_MAX);
	struct stat st;
	int fd;

	if (w == NULL || path == NULL)
		return sfs_fail(err, ENOMEM, "walking %s", im->dir);
	w->path = path;         /* (grown by walk_dir: freed through w->path) */
	w->cap = PATH_MAX;
	path = NULL;
	w->cb = cb;
	w->want = want && dino_is_stino(im->rootfd) ? want : NULL;
	w->ctx = ctx;
	if (fstat(im->rootfd, &st) < 0 ||
	    (fd = openat(im->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = errno;

		free(w->path);
		return sfs_fail(err, e, "%s", im->dir);
	}
	w->dev = st.st_dev;
	if (walk_dir(w, fd, 0, err) < 0) {
		free(w->path);
		return sfs_wrap(err, "walking image %s", im->dir);
	}
	free(w->path);
	return 0;
}
