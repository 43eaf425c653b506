/* overlay.c — layer resolution, copy-up, whiteouts and merged listings (overlay.h).
 *
 * Invariants: the lower layer is only ever opened O_PATH or O_RDONLY, and only through
 * *at() calls relative to fds below lower_root with O_NOFOLLOW, so no symlink of the
 * image is ever followed here; the kernel follows symlinks itself, through the mount.
 * A copy-up either completes (data, owner, mode, xattrs, times) or leaves nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"
#include "overlay.h"

void ov_proc_path(char buf[OV_PROC_MAX], int fd)
{
	snprintf(buf, OV_PROC_MAX, "/proc/self/fd/%d", fd);
}

static bool is_opaque(int fd)
{
	char path[OV_PROC_MAX], v = 0;

	ov_proc_path(path, fd);
	return getxattr(path, OV_OPAQUE_XATTR, &v, 1) == 1 && v == 'y';
}

int ov_set_opaque(int fd)
{
	char path[OV_PROC_MAX];

	ov_proc_path(path, fd);
	return setxattr(path, OV_OPAQUE_XATTR, "y", 1, 0) < 0 ? -errno : 0;
}

void ov_entry_release(struct ov_entry *e)
{
	if (e->upper_fd >= 0)
		close(e->upper_fd);
	if (e->lower_fd >= 0)
		close(e->lower_fd);
	e->upper_fd = e->lower_fd = -1;
}

/* Open NAME in DIR as O_PATH and stat it.  fd or -errno. */
int ov_open_stat(int dir, const char *name, struct stat *st)
{
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* ov_resolve with P's fds at hand: PU upper, PL lower (-1 where P does not live). */
static int resolve_in(int pu, int pl, const char *name, struct ov_entry *e)
{
	int fd;

	e->upper_fd = e->lower_fd = -1;
	if (pu >= 0) {
		fd = ov_open_stat(pu, name, &e->upper_st);
		if (fd >= 0) {
			if (ov_is_whiteout(&e->upper_st)) {
				close(fd);
				return -ENOENT;
			}
			e->upper_fd = fd;
			/* Only a non-opaque upper directory lets a lower one show through. */
			if (!S_ISDIR(e->upper_st.st_mode) || pl < 0 || is_opaque(fd))
				return 0;
		} else if (fd != -ENOENT) {
			return fd;
		}
	}
	if (pl < 0)
		return e->upper_fd >= 0 ? 0 : -ENOENT;
	fd = ov_open_stat(pl, name, &e->lower_st);
	if (fd < 0)
		return e->upper_fd >= 0 ? 0 : fd;
	if (e->upper_fd >= 0 && !S_ISDIR(e->lower_st.st_mode)) {
		close(fd);      /* an upper directory over a lower file: upper wins */
		return 0;
	}
	e->lower_fd = fd;
	return 0;
}

int ov_get_fds(struct sfs_fs *fs, struct sfs_inode *i, int *u, int *l)
{
	*u = *l = -1;
	if (inode_has_upper(i)) {
		*u = inode_get_fd(&fs->it, i, SFS_UPPER);
		if (*u < 0)
			return *u;
	}
	if (i->has_lower) {
		*l = inode_get_fd(&fs->it, i, SFS_LOWER);
		if (*l < 0) {
			int r = *l;

			ov_put_fds(fs, i, *u, -1);
			*u = *l = -1;
			return r;
		}
	}
	return 0;
}

void ov_put_fds(struct sfs_fs *fs, struct sfs_inode *i, int u, int l)
{
	if (u >= 0)
		inode_put_fd(&fs->it, i, SFS_UPPER);
	if (l >= 0)
		inode_put_fd(&fs->it, i, SFS_LOWER);
}

int ov_resolve(struct sfs_fs *fs, struct sfs_inode *p, const char *name, struct ov_entry *e)
{
	int pu, pl, r;

	e->upper_fd = e->lower_fd = -1;
	r = ov_get_fds(fs, p, &pu, &pl);
	if (r < 0)
		return r;
	r = resolve_in(pu, pl, name, e);
	ov_put_fds(fs, p, pu, pl);
	return r;
}

int ov_reopen(struct sfs_fs *fs, struct sfs_inode *i, enum sfs_layer l, int flags)
{
	char path[OV_PROC_MAX];
	int pfd = inode_get_fd(&fs->it, i, l), fd;

	if (pfd < 0)
		return pfd;
	ov_proc_path(path, pfd);
	fd = open(path, flags);
	if (fd < 0)
		fd = -errno;
	inode_put_fd(&fs->it, i, l);
	return fd;
}

bool ov_lower_has(struct sfs_fs *fs, struct sfs_inode *p, const char *name,
		  const struct ov_entry *e)
{
	struct stat st;
	bool r;
	int pl;

	if (e->lower_fd >= 0)
		return true;
	if (!p->has_lower)
		return false;
	pl = inode_get_fd(&fs->it, p, SFS_LOWER);
	if (pl < 0)
		return false;
	r = fstatat(pl, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	inode_put_fd(&fs->it, p, SFS_LOWER);
	return r;
}

int ov_drop_whiteout(int udir, const char *name)
{
	struct stat st;

	if (fstatat(udir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!ov_is_whiteout(&st))
		return 0;
	return unlinkat(udir, name, 0) < 0 ? -errno : 1;
}

int ov_make_whiteout(int udir, const char *name)
{
	return mknodat(udir, name, S_IFCHR | 0, makedev(0, 0)) < 0 ? -errno : 0;
}

/* Copy every xattr of SRC to DST (both /proc paths) except the overlay's own. */
static int copy_xattrs(const char *src, const char *dst)
{
	ssize_t len = listxattr(src, NULL, 0);
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ char *val = NULL;
	size_t vcap = 0;

	if (len < 0)
		return (errno == ENOTSUP || errno == ENODATA) ? 0 : -errno;
	if (len == 0)
		return 0;
	names = malloc(len);
	if (!names)
		return -ENOMEM;
	len = listxattr(src, names, len);
	if (len < 0)
		return -errno;
	for (char *n = names; n < names + len; n += strlen(n) + 1) {
		ssize_t vl;

		if (ov_private_xattr(n))
			continue;
		vl = getxattr(src, n, NULL, 0);
		if (vl < 0)
			return -errno;
		if ((size_t)vl > vcap) {
			char *nv = realloc(val, vl);

			if (!nv)
				return -ENOMEM;
			val = nv;
			vcap = vl;
		}
		vl = getxattr(src, n, val, vl);
		if (vl < 0)
			return -errno;
		if (setxattr(dst, n, val, vl, 0) < 0 && errno != ENOTSUP)
			return -errno;
	}
	return 0;
}

uint64_t ov_origin_ino(int fd)
{
	char path[OV_PROC_MAX];
	uint64_t ino;

	ov_proc_path(path, fd);
	return getxattr(path, OV_ORIGIN_XATTR, &ino, sizeof(ino)) == sizeof(ino) ? ino : 0;
}

/* Give the upper file behind FD the owner, mode, xattrs and times of the lower file
 * (LOWER_FD, ST; not a symlink).  Owner first: chown clears set-id bits and file
 * capabilities. */
static int copy_meta_fd(int lower_fd, const struct stat *st, int fd)
{
	char src[OV_PROC_MAX], dst[OV_PROC_MAX];
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	int r;

	if (fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	ov_proc_path(src, lower_fd);
	ov_proc_path(dst, fd);
	if (chmod(dst, st->st_mode & 07777) < 0)
		return -errno;
	r = copy_xattrs(src, dst);
	if (r < 0)
		return r;
	if (!S_ISDIR(st->st_mode)) {
		uint64_t ino = st->st_ino;

		if (setxattr(dst, OV_ORIGIN_XATTR, &ino, sizeof(ino), 0) < 0)
			return -errno;
	}
	return utimensat(AT_FDCWD, dst, times, 0) < 0 ? -errno : 0;
}

/* The same for the entry UDIR/NAME (a symlink gets owner and times only). */
static int copy_meta(int lower_fd, const struct stat *st, int udir, const char *name)
{
	_cleanup_close_ int fd = openat(udir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fd < 0)
		return -errno;
	if (!S_ISLNK(st->st_mode))
		return copy_meta_fd(lower_fd, st, fd);
	if (fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return utimensat(udir, name, times, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int copy_data(int in, int out, off_t size)
{
	char buf[65536];

	while (size > 0) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, size, 0);

		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
			      errno == ENOSYS))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		size -= n;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		while (w < n) {
			ssize_t k = write(out, buf + w, n - w);

			if (k < 0)
				return -errno;
			w += k;
		}
	}
}

/* A regular file: data and metadata into an unnamed file, linked in only when
 * complete, so no one ever sees a partial copy. */
static int copy_up_reg(int lower_fd, const struct stat *st, int udir, const char *name)
{
	char src[OV_PROC_MAX], tmp[OV_PROC_MAX];
	_cleanup_close_ int in = -1, out = -1;
	int r;

	ov_proc_path(src, lower_fd);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = openat(udir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r = copy_data(in, out, st->st_size);
	if (r == 0)
		r = copy_meta_fd(lower_fd, st, out);
	if (r < 0)
		return r;
	ov_proc_path(tmp, out);
	if (linkat(out, "", udir, name, AT_EMPTY_PATH) < 0 &&
	    linkat(AT_FDCWD, tmp, udir, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

int ov_copy_up_entry(int lower_fd, const struct stat *st, int udir, const char *name)
{
	char target[PATH_MAX];
	ssize_t n;
	int r;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return copy_up_reg(lower_fd, st, udir, name);
	case S_IFDIR:
		r = mkdirat(udir, name, 0700) < 0 ? -errno : 0;
		break;
	case S_IFLNK:
		n = readlinkat(lower_fd, "", target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		r = symlinkat(target, udir, name) < 0 ? -errno : 0;
		break;
	default:
		r = mknodat(udir, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0 ? -errno : 0;
		break;
	}
	if (r < 0)
		return r;
	r = copy_meta(lower_fd, st, udir, name);
	if (r < 0)
		unlinkat(udir, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
	return r;
}

/* ov_copy_up with I's lower fd LFD at hand. */
static int copy_up_from(struct sfs_fs *fs, struct sfs_inode *i, int lfd)
{
	struct sfs_inode *parent;
	_cleanup_free_ char *name = NULL;
	struct stat st, ust;
	int pu, fd, r;

	if (fstat(lfd, &st) < 0)
		return -errno;
	if (i == &fs->it.root) {
		/* The upper root exists from the start; it takes the image root's looks. */
		r = copy_meta(lfd, &st, fs->upper_root, ".");
		if (r < 0)
			return r;
		inode_set_upper(&fs->it, i, fs->upper_root);
		return 0;
	}
	parent = itable_parent(&fs->it, i, &name);
	if (!parent || !name) {
		itable_unref(&fs->it, parent);
		return -EIO;
	}
	pu = r = ov_upper_dir(fs, parent);
	if (r >= 0) {
		r = ov_copy_up_entry(lfd, &st, pu, name);
		if (r == 0) {
			fd = r = ov_open_stat(pu, name, &ust);
			if (fd >= 0) {
				itable_rekey(&fs->it, i, ust.st_dev, ust.st_ino);
				inode_set_upper(&fs->it, i, fd);
				r = 0;
			}
		}
		inode_put_fd(&fs->it, parent, SFS_UPPER);
	}
	itable_unref(&fs->it, parent);
	return r;
}

int ov_copy_up(struct sfs_fs *fs, struct sfs_inode *i)
{
	int lfd, r;

	if (inode_has_upper(i))
		return 0;
	if (!i->has_lower)
		return -EIO;    /* an inode lives in at least one layer */
	lfd = inode_get_fd(&fs->it, i, SFS_LOWER);
	if (lfd < 0)
		return lfd;
	r = copy_up_from(fs, i, lfd);
	inode_put_fd(&fs->it, i, SFS_LOWER);
	return r;
}

int ov_upper_dir(struct sfs_fs *fs, struct sfs_inode *i)
{
	int r = ov_copy_up(fs, i);

	return r < 0 ? r : inode_get_fd(&fs->it, i, SFS_UPPER);
}

static DIR *dir_at(int fd)
{
	int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;

	if (d < 0)
		return NULL;
	dir = fdopendir(d);
	if (!dir)
		close(d);
	return dir;
}

static bool dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Is entry D of directory DIR a whiteout? */
static bool dirent_whiteout(DIR *dir, const struct dirent *d)
{
	struct stat st;

	if (d->d_type != DT_CHR && d->d_type != DT_UNKNOWN)
		return false;
	return fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       ov_is_whiteout(&st);
}

struct strvec {
	char **v;
	size_t n, cap;
};

static int strvec_add(struct strvec *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n] = strdup(name);
	return s->v[s->n++] ? 0 : -ENOMEM;
}

static void strvec_free(struct strvec *s)
{
	for (size_t k = 0; k < s->n; k++)
		free(s->v[k]);
	free(s->v);
}

static bool strvec_has(const struct strvec *s, const char *name)
{
	return s->n && bsearch(&name, s->v, s->n, sizeof(char *), cmp_str);
}

struct dvec {
	struct ov_dirent *v;
	size_t n, cap;
};

static int dvec_add(struct dvec *d, const char *name, uint64_t ino, unsigned char type)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct ov_dirent *nv = realloc(d->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n].name = strdup(name);
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	return d->v[d->n++].name ? 0 : -ENOMEM;
}

void ov_list_free(struct ov_dirent *d, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(d[k].name);
	free(d);
}

/* ov_list with I's fds at hand: U upper, L lower (-1 where I does not live). */
static int list_in(int u, int l, struct ov_dirent **out, size_t *n)
{
	struct strvec seen = { 0 };     /* upper names and whiteouts: hide these below */
	struct dvec d = { 0 };
	struct dirent *de;
	int r = 0;

	if (u >= 0) {
		_cleanup_closedir_ DIR *dir = dir_at(u);

		if (!dir)
			return -errno;
		while ((errno = 0, de = readdir(dir))) {
			if (l >= 0 && (r = strvec_add(&seen, de->d_name)) < 0)
				goto out;
			if (dirent_whiteout(dir, de))
				continue;
			r = dvec_add(&d, de->d_name, dot(de->d_name) ? de->d_ino :
				     de->d_ino | SFS_UPPER_INO_BIT, de->d_type);
			if (r < 0)
				goto out;
		}
		if (errno) {
			r = -errno;
			goto out;
		}
		if (seen.n)
			qsort(seen.v, seen.n, sizeof(char *), cmp_str);
	}
	if (l >= 0) {
		_cleanup_closedir_ DIR *dir = dir_at(l);

		if (!dir) {
			r = -errno;
			goto out;
		}
		while ((errno = 0, de = readdir(dir))) {
			if (u >= 0 && (dot(de->d_name) || strvec_has(&seen, de->d_name)))
				continue;
			r = dvec_add(&d, de->d_name, de->d_ino, de->d_type);
			if (r < 0)
				goto out;
		}
		if (errno)
			r = -errno;
	}
out:
	strvec_free(&seen);
	if (r < 0) {
		ov_list_free(d.v, d.n);
		return r;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

int ov_list(struct sfs_fs *fs, struct sfs_inode *i, struct ov_dirent **out, size_t *n)
{
	int u, l, r = ov_get_fds(fs, i, &u, &l);

	if (r < 0)
		return r;
	r = list_in(u, l, out, n);
	ov_put_fds(fs, i, u, l);
	return r;
}

int ov_dir_empty(const struct ov_entry *e)
{
	struct strvec wh = { 0 };
	struct dirent *de;
	int r = 1;

	if (e->upper_fd >= 0) {
		_cleanup_closedir_ DIR *dir = dir_at(e->upper_fd);

		if (!dir)
			return -errno;
		while (r == 1 && (de = readdir(dir))) {
			if (dot(de->d_name))
				continue;
			if (!dirent_whiteout(dir, de))
				r = 0;
			else if (strvec_add(&wh, de->d_name) < 0)
				r = -ENOMEM;
		}
		if (wh.n)
			qsort(wh.v, wh.n, sizeof(char *), cmp_str);
	}
	if (r == 1 && e->lower_fd >= 0) {
		_cleanup_closedir_ DIR *dir = dir_at(e->lower_fd);

		if (!dir)
			r = -errno;
		while (r == 1 && (de = readdir(dir)))
			if (!dot(de->d_name) && !strvec_has(&wh, de->d_name))
				r = 0;
	}
	strvec_free(&wh);
	return r;
}

int ov_clear_whiteouts(int dirfd_)
{
	_cleanup_closedir_ DIR *dir = dir_at(dirfd_);
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (dirent_whiteout(dir, de) && unlinkat(dirfd(dir), de->d_name, 0) < 0)
			return -errno;
	return 0;
}

int ov_rm_contents(int dirfd_)
{
	_cleanup_closedir_ DIR *dir = dir_at(dirfd_);
	struct dirent *de;
	int r = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		struct stat st;

		if (dot(de->d_name))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd(dir), de->d_name,
							 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				ov_rm_contents(sub);
			if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0)
				r = -errno;
		} else if (unlinkat(dirfd(dir), de->d_name, 0) < 0) {
			r = -errno;
		}
	}
	return r;
}
