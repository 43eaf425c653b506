/* overlay.c — layer resolution, whiteouts, opaque directories and merged listings
 * (overlay.h).
 *
 * Invariants: the lower layer is only ever opened O_PATH or O_RDONLY, and only through
 * *at() calls relative to fds below lower_root with O_NOFOLLOW, so no symlink of the
 * image is ever followed here; the kernel follows symlinks itself, through the mount.
 * The inode numbers of a listing are computed by ov_shown_ino's rules, entry by entry,
 * so that readdir and stat agree.
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

bool ov_is_opaque(int fd)
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

static bool has_xattr(int fd, const char *name)
{
	char path[OV_PROC_MAX];

	ov_proc_path(path, fd);
	return getxattr(path, name, NULL, 0) >= 0;
}

/* E's upper part is a file (not a directory): what a copy-up recorded on it, and for
 * a metadata-only copy the lower file that holds its data (PL/NAME, the image file it
 * was copied from).  0 or -errno. */
static int upper_file(int pl, const char *name, struct ov_entry *e)
{
	int fd;

	if (S_ISLNK(e->upper_st.st_mode))
		return 0;               /* no xattrs on symlinks */
	e->origin = ov_origin_ino(e->upper_fd);
	if (!e->origin || pl < 0 || !S_ISREG(e->upper_st.st_mode) ||
	    !has_xattr(e->upper_fd, OV_METACOPY_XATTR))
		return 0;
	e->metacopy = true;
	fd = ov_open_stat(pl, name, &e->lower_st);
	if (fd < 0 || !S_ISREG(e->lower_st.st_mode) || e->lower_st.st_ino != e->origin) {
		if (fd >= 0)
			close(fd);
		return -EIO;            /* a metadata-only copy without its data */
	}
	e->lower_fd = fd;
	return 0;
}

/* ov_resolve with P's fds at hand: PU upper, PL lower (-1 where P does not live). */
static int resolve_in(int pu, int pl, const char *name, struct ov_entry *e)
{
	int fd, r;

	e->upper_fd = e->lower_fd = -1;
	e->origin = 0;
	e->metacopy = false;
	if (pu >= 0) {
		fd = ov_open_stat(pu, name, &e->upper_st);
		if (fd >= 0) {
			if (ov_is_whiteout(&e->upper_st)) {
				close(fd);
				return -ENOENT;
			}
			e->upper_fd = fd;
			if (!S_ISDIR(e->upper_st.st_mode)) {
				r = upper_file(pl, name, e);
				if (r < 0)
					ov_entry_release(e);
				return r;
			}
			/* Only a non-opaque upper directory lets a lower one show through. */
			if (pl < 0 || ov_is_opaque(fd))
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

uint64_t ov_shown_ino(const struct ov_entry *e, bool made)
{
	if (e->upper_fd < 0)
		return e->lower_st.st_ino;
	if (e->lower_fd >= 0)           /* a merged directory, a metadata-only copy */
		return e->lower_st.st_ino;
	if (!made && e->origin)
		return e->origin;
	return e->upper_st.st_ino | SFS_UPPER_INO_BIT;
}

int ov_get_fds(struct inode_table *t, struct sfs_inode *i, int *u, int *l)
{
	*u = *l = -1;
	if (inode_has_upper(i)) {
		*u = inode_get_fd(t, i, SFS_UPPER);
		if (*u < 0)
			return *u;
	}
	if (i->has_lower) {
		*l = inode_get_fd(t, i, SFS_LOWER);
		if (*l < 0) {
			int r = *l;

			ov_put_fds(t, i, *u, -1);
			*u = *l = -1;
			return r;
		}
	}
	return 0;
}

void ov_put_fds(struct inode_table *t, struct sfs_inode *i, int u, int l)
{
	if (u >= 0)
		inode_put_fd(t, i, SFS_UPPER);
	if (l >= 0)
		inode_put_fd(t, i, SFS_LOWER);
}

int ov_resolve(struct inode_table *t, struct sfs_inode *p, const char *name,
	       struct ov_entry *e)
{
	int pu, pl, r;

	e->upper_fd = e->lower_fd = -1;
	r = ov_get_fds(t, p, &pu, &pl);
	if (r < 0)
		return r;
	r = resolve_in(pu, pl, name, e);
	ov_put_fds(t, p, pu, pl);
	return r;
}

int ov_reopen(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l, int flags)
{
	char path[OV_PROC_MAX];
	int pfd = inode_get_fd(t, i, l), fd;

	if (pfd < 0)
		return pfd;
	ov_proc_path(path, pfd);
	fd = open(path, flags);
	if (fd < 0)
		fd = -errno;
	inode_put_fd(t, i, l);
	return fd;
}

bool ov_lower_has(struct inode_table *t, struct sfs_inode *p, const char *name,
		  const struct ov_entry *e)
{
	struct stat st;
	bool r;
	int pl;

	if (e->lower_fd >= 0)
		return true;
	if (!p->has_lower)
		return false;
	pl = inode_get_fd(t, p, SFS_LOWER);
	if (pl < 0)
		return false;
	r = fstatat(pl, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	inode_put_fd(t, p, SFS_LOWER);
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

uint64_t ov_origin_ino(int fd)
{
	char path[OV_PROC_MAX];
	uint64_t ino;

	ov_proc_path(path, fd);
	return getxattr(path, OV_ORIGIN_XATTR, &ino, sizeof(ino)) == sizeof(ino) ? ino : 0;
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

static int strvec_add(struct ov_names *s, const char *name)
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

static void strvec_free(struct ov_names *s)
{
	for (size_t k = 0; k < s->n; k++)
		free(s->v[k]);
	free(s->v);
}

static bool strvec_has(const struct ov_names *s, const char *name)
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

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct ov_dirent *)a)->name, ((const struct ov_dirent *)b)->name);
}

/* Read directory FD's entries (without "." and "..") into D, whiteouts included. */
static int read_dir(int fd, struct dvec *d)
{
	_cleanup_closedir_ DIR *dir = dir_at(fd);
	struct dirent *de;
	int r;

	if (!dir)
		return -errno;
	while ((errno = 0, de = readdir(dir))) {
		if (dot(de->d_name))
			continue;
		r = dvec_add(d, de->d_name, de->d_ino, de->d_type);
		if (r < 0)
			return r;
	}
	return errno ? -errno : 0;
}

/* The type of entry NAME of directory U, learnt by stat where readdir did not say. */
static unsigned char entry_type(int u, const struct ov_dirent *e, struct stat *st, bool *whiteout)
{
	*whiteout = false;
	if (e->type != DT_CHR && e->type != DT_UNKNOWN)
		return e->type;
	if (fstatat(u, e->name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return e->type;
	*whiteout = ov_is_whiteout(st);
	return IFTODT(st->st_mode);
}

/* The number stat shows for upper entry E of directory U (the /proc path of U is
 * UPATH), LOWER the lower entry of that name or NULL (ov_shown_ino's rules). */
static uint64_t upper_entry_ino(const char *upath, const struct ov_dirent *e,
				unsigned char type, const struct ov_dirent *lower)
{
	char path[OV_PROC_MAX + NAME_MAX + 1], v = 0;
	uint64_t ino = 0;

	snprintf(path, sizeof(path), "%s/%s", upath, e->name);
	if (type == DT_DIR) {
		if (lower && lower->type == DT_DIR &&
		    !(lgetxattr(path, OV_OPAQUE_XATTR, &v, 1) == 1 && v == 'y'))
			return lower->ino;      /* merged */
	} else if (type != DT_LNK &&
		   lgetxattr(path, OV_ORIGIN_XATTR, &ino, sizeof(ino)) == sizeof(ino) && ino) {
		return ino;                     /* copied up (a metadata-only copy too) */
	}
	return e->ino | SFS_UPPER_INO_BIT;
}

/* ov_list with I's fds at hand: U upper, L lower (-1 where I does not live), and the
 * numbers of I and of its parent. */
static int list_in(int u, int l, uint64_t self, uint64_t parent, struct ov_dirent **out,
		   size_t *n)
{
	struct dvec lower = { 0 }, upper = { 0 }, d = { 0 };
	char upath[OV_PROC_MAX];
	int r;

	if ((r = dvec_add(&d, ".", self, DT_DIR)) < 0 ||
	    (r = dvec_add(&d, "..", parent, DT_DIR)) < 0)
		goto out;
	if (l >= 0) {
		r = read_dir(l, &lower);
		if (r < 0)
			goto out;
		if (u >= 0 && lower.n)
			qsort(lower.v, lower.n, sizeof(*lower.v), cmp_dirent);
	}
	if (u >= 0) {
		r = read_dir(u, &upper);
		if (r < 0)
			goto out;
		ov_proc_path(upath, u);
	}
	for (size_t k = 0; k < upper.n; k++) {
		struct ov_dirent *e = &upper.v[k], *below = NULL;
		unsigned char type;
		struct stat st;
		bool whiteout;

		if (lower.n)
			below = bsearch(e, lower.v, lower.n, sizeof(*lower.v), cmp_dirent);
		type = entry_type(u, e, &st, &whiteout);
		if (!whiteout)
			r = dvec_add(&d, e->name, upper_entry_ino(upath, e, type, below), type);
		/* The lower entry is hidden, by this one or by the whiteout (Linux never
		 * lists DT_WHT itself, so it marks one here). */
		if (below)
			below->type = DT_WHT;
		if (r < 0)
			goto out;
	}
	for (size_t k = 0; k < lower.n; k++) {
		if (lower.v[k].type == DT_WHT)
			continue;
		r = dvec_add(&d, lower.v[k].name, lower.v[k].ino, lower.v[k].type);
		if (r < 0)
			goto out;
	}
out:
	ov_list_free(lower.v, lower.n);
	ov_list_free(upper.v, upper.n);
	if (r < 0) {
		ov_list_free(d.v, d.n);
		return r;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

int ov_list(struct inode_table *t, struct sfs_inode *i, struct ov_dirent **out, size_t *n)
{
	_cleanup_free_ char *name = NULL;
	struct sfs_inode *p = itable_parent(t, i, &name);
	uint64_t parent = p ? p->shown_ino : i->shown_ino;
	int u, l, r;

	itable_unref(t, p);
	r = ov_get_fds(t, i, &u, &l);
	if (r < 0)
		return r;
	r = list_in(u, l, i->shown_ino, parent, out, n);
	ov_put_fds(t, i, u, l);
	return r;
}

int ov_dir_empty(const struct ov_entry *e)
{
	struct ov_names wh = { 0 };
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

int ov_clear_whiteouts(int dirfd_, struct ov_names *cleared)
{
	_cleanup_closedir_ DIR *dir = dir_at(dirfd_);
	struct dirent *de;
	int r = 0;

	if (!dir)
		return -errno;
	while (r == 0 && (de = readdir(dir))) {
		if (!dirent_whiteout(dir, de))
			continue;
		r = strvec_add(cleared, de->d_name);
		if (r == 0 && unlinkat(dirfd(dir), de->d_name, 0) < 0) {
			r = -errno;
			free(cleared->v[--cleared->n]);
		}
	}
	if (r < 0)
		ov_cleared_end(dirfd_, cleared, true);
	return r;
}

void ov_cleared_end(int dirfd, struct ov_names *cleared, bool put)
{
	for (size_t k = 0; put && k < cleared->n; k++)
		ov_make_whiteout(dirfd, cleared->v[k]);
	strvec_free(cleared);
	*cleared = (struct ov_names){ 0 };
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
