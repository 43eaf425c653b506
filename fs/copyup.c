/* copyup.c — copy-up (copyup.h).
 *
 * Invariants: the image is read only through fs->copy_root (copy-ups) and fs->lower_root
 * (O_PATH fds, metadata), never written; a name is linked into an upper directory only
 * under that directory's lock, after a check that the name is free; every file is
 * complete (data, or the OV_METACOPY_XATTR that says where its data is; owner, mode,
 * xattrs, times) before it gets a name; a copy gets all its names at once, and its
 * inode learns of it (itable_set_upper) under the locks of all the directories it was
 * linked into, so a lookup of any of its names sees either the image file and the
 * old inode state, or the whole copy and the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "copyup.h"
#include "fs.h"
#include "overlay.h"

#define COPY_CHUNK (1 << 20)
#define CAPS_XATTR "security.capability"

/* ---- metadata ---------------------------------------------------------------- */

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

/* Give the upper file behind FD the owner, mode, xattrs and times of the lower file
 * (LOWER_FD, ST; not a symlink), and a non-directory its image inode number.  Owner
 * first: chown clears set-id bits and file capabilities. */
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

/* The times of upper directory DIR, to put back after a copy-up linked a name into it
 * (the workload changed nothing there). */
struct dir_times {
	int fd;
	struct timespec t[2];
};

static void times_save(struct dir_times *d, int dir)
{
	struct stat st;

	d->fd = fstat(dir, &st) == 0 ? dir : -1;
	d->t[0] = st.st_atim;
	d->t[1] = st.st_mtim;
}

static void times_restore(const struct dir_times *d)
{
	char path[OV_PROC_MAX];

	if (d->fd < 0)
		return;
	ov_proc_path(path, d->fd);
	utimensat(AT_FDCWD, path, d->t, 0);     /* cosmetic: the copy stands without */
}

/* ---- data ---------------------------------------------------------------------- */

/* Copy LEN bytes at offset 0 of IN to the same offsets of OUT.  Holes are left holes
 * (SEEK_DATA/SEEK_HOLE), so a sparse image file stays as small; OUT's size is not
 * set here. */
static int copy_data(int in, int out, uint64_t len)
{
	_cleanup_free_ char *buf = NULL;
	off_t pos = 0, end = (off_t)len;

	while (pos < end) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			return 0;               /* only a hole is left */
		if (data < 0)
			data = pos;             /* no SEEK_DATA: all of it is data */
		if (data >= end)
			return 0;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		for (off_t at = data; at < hole;) {
			loff_t i = at, o = at;
			ssize_t n = copy_file_range(in, &i, out, &o, (size_t)(hole - at), 0);

			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
				      errno == ENOSYS)) {
				if (!buf && !(buf = malloc(COPY_CHUNK)))
					return -ENOMEM;
				n = pread(in, buf, hole - at < COPY_CHUNK ? (size_t)(hole - at) :
					  COPY_CHUNK, at);
				if (n > 0 && pwrite(out, buf, (size_t)n, at) != n)
					return -(errno ? errno : EIO);
			}
			if (n < 0)
				return -errno;
			if (n == 0)
				return 0;       /* the file is shorter than it said */
			at += n;
		}
		pos = hole;
	}
	return 0;
}

/* I's image file, opened for reading through copy_root (the mount the verifier does
 * not watch) by I's path, and checked to be I's lower file: an fd or -errno.  Without
 * O_NONBLOCK: an open that must wait (a lease) waits, holding up nothing but I. */
static int open_image(struct sfs_fs *fs, struct sfs_inode *i)
{
	_cleanup_free_ char *path = itable_path(&fs->it, i);
	_cleanup_close_ int dir = -1;
	struct stat st;
	char *name, *slash;
	int fd;

	if (!path)
		return -ENOMEM;
	dir = openat(fs->copy_root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	/* Component by component: no path length limit, and no symlink followed. */
	for (name = path; (slash = strchr(name, '/')); name = slash + 1) {
		int sub;

		*slash = '\0';
		sub = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return errno == ENOENT ? -ESTALE : -errno;
		close(dir);
		dir = sub;
	}
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != i->lower_dev || st.st_ino != i->lower_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* ---- making the copy ----------------------------------------------------------- */

struct cu_req {
	enum cu_what what;
	uint64_t limit;
};

static bool done(struct sfs_inode *i, const void *arg)
{
	const struct cu_req *q = arg;

	if (!inode_has_upper(i))
		return false;
	return q->what == CU_META || !S_ISREG(i->type) || atomic_load(&i->upper_data);
}

/* The bytes of a file of SIZE that a copy of LIMIT keeps. */
static uint64_t kept(uint64_t size, uint64_t limit)
{
	return size < limit ? size : limit;
}

/* A regular file's copy, unnamed (O_TMPFILE) in upper directory PU, from the lower
 * file LFD (stat ST): with Q's data, or a metadata-only copy.  An fd or -errno. */
static int make_reg(struct sfs_fs *fs, struct sfs_inode *i, int lfd, const struct stat *st,
		    int pu, const struct cu_req *q)
{
	_cleanup_close_ int in = -1, out = -1;
	uint64_t len = q->what == CU_DATA ? kept((uint64_t)st->st_size, q->limit) : 0;
	int r = 0;

	if (len > 0 && (in = open_image(fs, i)) < 0)
		return in;
	out = openat(pu, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	if (q->what == CU_DATA) {
		if (len > 0)
			r = copy_data(in, out, len);
		if (r == 0 && ftruncate(out, (off_t)len) < 0)
			r = -errno;
	} else if (ftruncate(out, st->st_size) < 0 ||
		   fsetxattr(out, OV_METACOPY_XATTR, "", 0, 0) < 0) {
		r = -errno;
	}
	if (r == 0)
		r = copy_meta_fd(lfd, st, out);
	return r < 0 ? r : steal_fd(&out);
}

/* Give FD's file (an O_TMPFILE copy or a file already linked) the name DIR/NAME. */
static int link_fd(int fd, int dir, const char *name)
{
	char proc[OV_PROC_MAX];

	ov_proc_path(proc, fd);
	if (linkat(fd, "", dir, name, AT_EMPTY_PATH) < 0 &&
	    linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

/* Make the copy of the lower file LFD (stat ST, not a regular file) as DIR/NAME. */
static int make_node(int lfd, const struct stat *st, int dir, const char *name)
{
	char target[PATH_MAX];
	ssize_t n;
	int r;

	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		r = mkdirat(dir, name, 0700) < 0 ? -errno : 0;
		break;
	case S_IFLNK:
		n = readlinkat(lfd, "", target, sizeof(target) - 1);
		if (n >= 0)
			target[n] = '\0';
		r = n < 0 ? -errno : symlinkat(target, dir, name) < 0 ? -errno : 0;
		break;
	default:
		r = mknodat(dir, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0 ? -errno : 0;
		break;
	}
	if (r == 0 && (r = copy_meta(lfd, st, dir, name)) < 0)
		unlinkat(dir, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
	return r;
}

/* ---- the names a copy gets --------------------------------------------------------- */

/* One name of a copy: PATH from the root (an image path), in the upper directory that
 * was (DDEV, DINO) when it was prepared, whose lock is stripe KEY; LINKED once this
 * copy-up gave the copy that name (taken back if it fails).  No fd is kept: an image
 * file may have thousands of names. */
struct place {
	char *path;
	dev_t ddev;
	ino_t dino;
	unsigned key;
	bool linked;
};

static void places_free(struct place *pl, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(pl[k].path);
	free(pl);
}

static const char *place_name(const struct place *pl)
{
	const char *slash = strrchr(pl->path, '/');

	return slash ? slash + 1 : pl->path;
}

/* Note upper directory DIR as PL's. */
static int place_set_dir(struct place *pl, int dir)
{
	struct stat st;

	if (fstat(dir, &st) < 0)
		return -errno;
	pl->ddev = st.st_dev;
	pl->dino = st.st_ino;
	return 0;
}

/* PL's upper directory, opened again by its path from the upper root and checked to
 * be the one prepared: an fd, 0 if it is not there any more (removed or replaced: the
 * name is hidden now), or -errno. */
static int place_dir(struct sfs_fs *fs, const struct place *pl)
{
	_cleanup_free_ char *p = strdup(pl->path);
	char *name, *slash;
	struct stat st;
	int dir, sub, e;

	if (!p)
		return -ENOMEM;
	dir = fcntl(fs->upper_root, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		return -errno;
	for (name = p; (slash = strchr(name, '/')); name = slash + 1) {
		*slash = '\0';
		sub = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(dir);
		if (sub < 0)
			return e == ENOENT || e == ENOTDIR || e == ELOOP ? 0 : -e;
		dir = sub;
	}
	if (fstat(dir, &st) < 0 || st.st_dev != pl->ddev || st.st_ino != pl->dino) {
		close(dir);
		return 0;
	}
	return dir;
}

/* I's own name, its parent's upper directory copied up if it is not there.  0 or
 * -errno (-ESTALE: the parent's name is gone). */
static int place_own(struct sfs_fs *fs, struct sfs_inode *i, struct place *pl)
{
	_cleanup_free_ char *name = NULL, *ppath = NULL;
	struct sfs_inode *parent = itable_parent(&fs->it, i, &name);
	int pu, r = -EIO;

	if (!parent || !name)
		goto out;
	/* The path from the same (parent, name) as the lock: the parent, a directory of
	 * the image, keeps its path. */
	r = -ENOMEM;
	if (parent == &fs->it.root)
		pl->path = strdup(name);
	else if ((ppath = itable_path(&fs->it, parent)) &&
		 asprintf(&pl->path, "%s/%s", ppath, name) < 0)
		pl->path = NULL;
	if (!pl->path)
		goto out;
	pl->key = dirlock_key(parent);
	r = pu = cu_upper_dir(fs, parent);
	if (pu >= 0) {
		r = place_set_dir(pl, pu);
		inode_put_fd(&fs->it, parent, SFS_UPPER);
	}
out:
	itable_unref(&fs->it, parent);
	return r;
}

/* The upper directory for lower directory LC (stat LST), NAME in upper directory UDIR
 * (stripe KEY), copied up if it is not there: a pinned-free fd (the caller's), 0 if
 * the upper layer hides the name, or -errno. */
static int upper_subdir(struct sfs_fs *fs, int udir, unsigned key, const char *name, int lc,
			const struct stat *lst)
{
	struct sfs_inode *known;
	struct dir_times dt;
	struct stat ust;
	int fd, r;

	for (;;) {
		/* A directory the kernel knows is copied up as an inode, so that the
		 * inode learns it. */
		known = itable_find(&fs->it, lst->st_dev, lst->st_ino);
		if (known) {
			r = cu_upper_dir(fs, known);
			if (r >= 0) {
				fd = openat(r, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
				r = fd < 0 ? -errno : fd;
				inode_put_fd(&fs->it, known, SFS_UPPER);
			}
			itable_unref(&fs->it, known);
			return r == -ESTALE || r == -ENOENT ? 0 : r;
		}
		dirlock_write(fs, key);
		fd = ov_open_stat(udir, name, &ust);
		if (fd >= 0 || fd != -ENOENT) {
			dirlock_unlock(fs, key);
			if (fd < 0)
				return fd;
			if (!S_ISDIR(ust.st_mode) || ov_is_opaque(fd)) {
				close(fd);
				return 0;       /* hidden: replaced, or a new directory */
			}
			return fd;
		}
		/* Not there, and not known: unless a lookup has entered it meanwhile
		 * (which it does under this lock), copy it up by its path. */
		known = itable_find(&fs->it, lst->st_dev, lst->st_ino);
		if (known) {
			dirlock_unlock(fs, key);
			itable_unref(&fs->it, known);
			continue;
		}
		times_save(&dt, udir);
		r = mkdirat(udir, name, 0700) < 0 ? -errno : copy_meta(lc, lst, udir, name);
		if (r < 0)
			unlinkat(udir, name, AT_REMOVEDIR);
		else if ((fd = openat(udir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			r = -errno;
		times_restore(&dt);
		dirlock_unlock(fs, key);
		return r < 0 ? r : fd;
	}
}

/* PATH, a name of an image file: its upper directory, copied up (with the directories
 * above it) if it is not there.  1 (PL filled), 0 if the upper layer hides the name
 * (a whiteout, an opaque or replaced directory above it), or -errno. */
static int place_path(struct sfs_fs *fs, const char *path, struct place *pl)
{
	_cleanup_free_ char *p = strdup(path);
	_cleanup_close_ int ldir = -1, udir = -1;
	struct sfs_inode *root = &fs->it.root;
	unsigned key = dirlock_key(root);
	char *name, *slash;
	int r;

	if (!p)
		return -ENOMEM;
	r = cu_upper_dir(fs, root);
	if (r < 0)
		return r;
	udir = fcntl(r, F_DUPFD_CLOEXEC, 0);
	inode_put_fd(&fs->it, root, SFS_UPPER);
	ldir = openat(fs->copy_root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (udir < 0 || ldir < 0)
		return -errno;
	for (name = p; (slash = strchr(name, '/')); name = slash + 1) {
		int lc, uc;
		struct stat lst;

		*slash = '\0';
		lc = openat(ldir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (lc < 0 || fstat(lc, &lst) < 0) {
			r = -errno;
			if (lc >= 0)
				close(lc);
			return r;
		}
		close(ldir);
		ldir = lc;
		uc = upper_subdir(fs, udir, key, name, lc, &lst);
		if (uc <= 0)
			return uc;      /* hidden (0) or failed */
		close(udir);
		udir = uc;
		key = dirlock_of(lst.st_dev, lst.st_ino);
	}
	r = place_set_dir(pl, udir);
	if (r < 0)
		return r;
	pl->path = strdup(path);
	pl->key = key;
	return pl->path ? 1 : -ENOMEM;
}

/* The names I's copy gets (*PL, *N): I's own, unless the upper layer hides it now,
 * and for an image hardlink (ST) every other name of its image file it does not hide
 * (hardlinks.h).  0 or -errno; none at all is -ESTALE. */
static int places_of(struct sfs_fs *fs, struct sfs_inode *i, const struct stat *st,
		     struct place **out, size_t *n)
{
	const char *const *names = NULL;
	size_t nnames = 0;
	struct place *pl;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		r = hl_names(fs->hardlinks, fs->copy_root, st->st_dev, st->st_ino, &names,
			     &nnames);
		if (r < 0)
			return r;
	}
	pl = calloc(nnames + 1, sizeof(*pl));
	if (!pl)
		return -ENOMEM;
	r = place_own(fs, i, &pl[0]);
	if (r == 0) {
		*n = 1;
	} else {
		free(pl[0].path);
		pl[0].path = NULL;
		if (nnames && (r == -ESTALE || r == -ENOENT))
			r = 0;  /* its own name is gone, the others may not be */
	}
	for (size_t k = 0; r == 0 && k < nnames; k++) {
		r = place_path(fs, names[k], &pl[*n]);
		if (r > 0)
			++*n;
		r = r > 0 ? 0 : r;
	}
	if (r == 0 && *n == 0)
		r = -ESTALE;
	if (r < 0) {
		places_free(pl, nnames + 1);
		*n = 0;
		return r;
	}
	*out = pl;
	return 0;
}

/* The directory locks of the N places, taken (LOCK) or released, each stripe once and
 * in stripe order (fs.h). */
static void places_lock(struct sfs_fs *fs, const struct place *pl, size_t n, bool lock)
{
	bool held[SFS_DIRLOCKS] = { false };

	for (size_t k = 0; k < n; k++)
		held[pl[k].key] = true;
	for (unsigned k = 0; k < SFS_DIRLOCKS; k++) {
		if (!held[k])
			continue;
		if (lock)
			dirlock_write(fs, k);
		else
			dirlock_unlock(fs, k);
	}
}

/* Give I's copy the name PL in its upper directory UDIR, the directory's lock held.
 * The first name given makes the copy's name (*FIRST < 0: a regular file's copy is
 * OUT, any other file is made from LFD, ST) and opens it into *FIRST (stat UST); the
 * others link it.  1 given, 0 if the name is taken or its directory was removed
 * meanwhile, -errno. */
static int place_give(struct place *pl, int udir, int *first, struct stat *ust, int out,
		      int lfd, const struct stat *st)
{
	const char *name = place_name(pl);
	struct dir_times dt;
	struct stat cur;
	int fd, r;

	fd = ov_open_stat(udir, name, &cur);
	if (fd >= 0) {
		if (*first < 0 && S_ISDIR(st->st_mode) && S_ISDIR(cur.st_mode) && !ov_is_opaque(fd)) {
			*first = fd;    /* made by a copy-up by path (place_path): I's */
			*ust = cur;
			return 1;
		}
		close(fd);
		return 0;               /* the name is not I's any more */
	}
	if (fd != -ENOENT)
		return fd;
	times_save(&dt, udir);
	if (*first >= 0)
		r = link_fd(*first, udir, name);
	else if (S_ISREG(st->st_mode))
		r = link_fd(out, udir, name);
	else
		r = make_node(lfd, st, udir, name);
	if (r == 0 && *first < 0) {
		*first = ov_open_stat(udir, name, ust);
		if (*first < 0) {
			r = *first;
			unlinkat(udir, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
		}
	}
	times_restore(&dt);
	if (r == -ENOENT)
		return 0;               /* the directory was removed meanwhile */
	pl->linked = r == 0;
	return r < 0 ? r : 1;
}

/* Take back the names this copy-up gave (it failed). */
static void places_undo(struct sfs_fs *fs, struct place *pl, size_t n, const struct stat *st)
{
	struct dir_times dt;

	for (size_t k = 0; k < n; k++) {
		int d = pl[k].linked ? place_dir(fs, &pl[k]) : 0;

		if (d <= 0)
			continue;
		times_save(&dt, d);
		unlinkat(d, place_name(&pl[k]), S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
		times_restore(&dt);
		close(d);
	}
}

/* A regular file's copy, unnamed in the upper directory of the first place that is
 * still there (make_reg): an fd or -errno. */
static int make_reg_in(struct sfs_fs *fs, struct sfs_inode *i, int lfd, const struct stat *st,
		       const struct place *pl, size_t n, const struct cu_req *q)
{
	for (size_t k = 0; k < n; k++) {
		int d = place_dir(fs, &pl[k]), r;

		if (d < 0)
			return d;
		if (d == 0)
			continue;
		r = make_reg(fs, i, lfd, st, d, q);
		close(d);
		return r;
	}
	return -ESTALE;
}

/* Copy-up of I, a non-root inode without an upper file, whose lower file is LFD
 * (stat ST).  The copy is made with no lock held, then given all its names at once
 * (places_of), under all their directories' locks: a lookup of any of them, and I's
 * link count, show either the image file or the whole copy.  I's fds are the
 * caller's. */
static int copy_new(struct sfs_fs *fs, struct sfs_inode *i, int lfd, const struct stat *st,
		    const struct cu_req *q)
{
	_cleanup_close_ int out = -1;
	struct place *pl;
	struct stat ust;
	size_t n, k;
	int first = -1, r;

	r = places_of(fs, i, st, &pl, &n);
	if (r < 0)
		return r;
	if (S_ISREG(st->st_mode))
		r = out = make_reg_in(fs, i, lfd, st, pl, n, q);  /* no lock: the long part */
	if (r >= 0) {
		places_lock(fs, pl, n, true);
		for (k = 0, r = 0; k < n && r >= 0; k++) {
			int d = place_dir(fs, &pl[k]);

			r = d <= 0 ? d : place_give(&pl[k], d, &first, &ust, out, lfd, st);
			if (d > 0)
				close(d);
		}
		if (r >= 0 && first < 0)
			r = -ESTALE;    /* every name of it is taken meanwhile */
		if (r >= 0) {
			itable_set_upper(&fs->it, i, first, &ust,
					 !S_ISREG(st->st_mode) || q->what == CU_DATA);
		} else {
			places_undo(fs, pl, n, st);
			if (first >= 0)
				close(first);
		}
		places_lock(fs, pl, n, false);
	}
	places_free(pl, n);
	return r < 0 ? r : 0;
}

/* A metadata-only copy of I gets its data, at most LIMIT bytes, in place; its times
 * and file capabilities stay as they were (writing drops capabilities). */
static int fill(struct sfs_fs *fs, struct sfs_inode *i, uint64_t limit)
{
	char path[OV_PROC_MAX], caps[256];
	_cleanup_close_ int in = -1, out = -1;
	struct timespec times[2];
	ssize_t ncaps;
	struct stat st;
	uint64_t len;
	int u, r = 0;

	u = inode_get_fd(&fs->it, i, SFS_UPPER);
	if (u < 0)
		return u;
	ov_proc_path(path, u);
	if (fstat(u, &st) < 0) {
		r = -errno;
		goto out;
	}
	len = kept((uint64_t)st.st_size, limit);
	ncaps = getxattr(path, CAPS_XATTR, caps, sizeof(caps));
	if (len > 0 && (in = open_image(fs, i)) < 0) {
		r = in;
		goto out;
	}
	out = open(path, O_WRONLY | O_CLOEXEC);
	if (out < 0) {
		r = -errno;
		goto out;
	}
	if (len > 0)
		r = copy_data(in, out, len);
	if (r == 0 && ftruncate(out, (off_t)len) < 0)
		r = -errno;
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	if (r == 0 && ncaps > 0 && setxattr(path, CAPS_XATTR, caps, (size_t)ncaps, 0) < 0)
		r = -errno;
	if (r == 0 && futimens(out, times) < 0)
		r = -errno;
	if (r == 0 && removexattr(path, OV_METACOPY_XATTR) < 0 && errno != ENODATA)
		r = -errno;
	if (r == 0)
		itable_set_upper_data(&fs->it, i);
out:
	inode_put_fd(&fs->it, i, SFS_UPPER);
	return r;
}

/* ---- copy-up ------------------------------------------------------------------------ */

/* The copy-up of I that Q asks for, I's copy-up claimed. */
static int copy_up(struct sfs_fs *fs, struct sfs_inode *i, const struct cu_req *q)
{
	struct stat st;
	int lfd, r;

	if (inode_has_upper(i))
		return fill(fs, i, q->limit);
	lfd = inode_get_fd(&fs->it, i, SFS_LOWER);
	if (lfd < 0)
		return lfd;
	if (fstat(lfd, &st) < 0) {
		r = -errno;
	} else if (i == &fs->it.root) {
		/* The upper root exists from the start; it takes the image root's looks. */
		r = copy_meta(lfd, &st, fs->upper_root, ".");
		if (r == 0)
			itable_set_upper(&fs->it, i, fs->upper_root, &st, true);
	} else {
		r = copy_new(fs, i, lfd, &st, q);
	}
	inode_put_fd(&fs->it, i, SFS_LOWER);
	return r;
}

int cu_copy_up(struct sfs_fs *fs, struct sfs_inode *i, enum cu_what what, uint64_t limit)
{
	struct cu_req q = { .what = what, .limit = limit };
	int r;

	if (done(i, &q))
		return 0;
	if (!i->has_lower)
		return -EIO;    /* an inode lives in at least one layer */
	if (!itable_copy_begin(&fs->it, i, done, &q))
		return 0;
	r = copy_up(fs, i, &q);
	itable_copy_end(&fs->it, i);
	return r;
}

static bool never(struct sfs_inode *i, const void *arg)
{
	(void)i;
	(void)arg;
	return false;
}

int cu_begin_meta(struct sfs_fs *fs, struct sfs_inode *i)
{
	struct cu_req q = { .what = CU_META };
	int r = 0;

	if (!inode_has_upper(i) && !i->has_lower)
		return -EIO;
	itable_copy_begin(&fs->it, i, never, NULL);
	if (!inode_has_upper(i))
		r = copy_up(fs, i, &q);
	if (r < 0)
		itable_copy_end(&fs->it, i);
	return r;
}

void cu_end_meta(struct sfs_fs *fs, struct sfs_inode *i)
{
	itable_copy_end(&fs->it, i);
}

int cu_upper_dir(struct sfs_fs *fs, struct sfs_inode *d)
{
	int r = cu_copy_up(fs, d, CU_META, 0);

	return r < 0 ? r : inode_get_fd(&fs->it, d, SFS_UPPER);
}
