/* apply.c — one layer's tar entries applied to the merged tree, as image-spec layer.md
 * says ("Applying Changesets", "Whiteouts", "Opaque Whiteout").
 *
 *   - An entry whose path exists replaces it ("Changeset over existing files"): a
 *     directory over a directory only takes the new attributes; anything else removes
 *     what was there (a whole directory tree included) and recreates the path.
 *   - `.wh.NAME` removes NAME of the layers below; `.wh..wh..opq` removes every child
 *     of its directory that the layers below made, wherever it stands in the tar; other
 *     `.wh..wh.*` names are skipped; a whiteout itself is never created.  "Below" is
 *     told apart as umoci's oci/layer/unpack.go does it, in one pass: a set holds
 *     every path this layer created (with its ancestors), and a whiteout removes only
 *     what is not in it (descending into what is).
 *   - A hardlink links to the path as the merged tree has it by then.
 *
 * Confinement: member names are relative paths without ".." (the same refusals as
 * flat tarballs: absolute names and ".." are refused, naming the member).  Every
 * directory a name goes through is opened with openat2(RESOLVE_IN_ROOT) on the tree,
 * so a symlink the image made is followed as a chroot would follow it and never out
 * of the tree; the last component is never followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
 * unlinkat, linkat without AT_SYMLINK_FOLLOW) — so no entry, whiteout or hardlink can
 * create, remove or reach anything outside the tree.
 *
 * Metadata: numeric owner, then mode (chown clears set-id bits), then xattrs (chown
 * clears security.capability), then times.  Directory times are set when the layer
 * ends, once nothing more is created in them.  The tree is written as root, which
 * the cache requires anyway.
 */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
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

#include "common/cleanup.h"
#include "common/util.h"

#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

struct dirtime {
	char *path;
	struct timespec t[2];
};

struct applier {
	int rootfd;                     /* the tree (O_PATH) */
	const char *prog;
	const char *what;               /* "SRC: layer sha256:..." */
	struct strset upper;            /* what this layer created, and the ancestors */
	struct dirtime *dirs;           /* this layer's directories, times to set at its end */
	size_t ndirs, capdirs;
	char parent[PATH_MAX];          /* one cached parent directory */
	int parentfd;
	size_t ndev;
	char first_dev[256];
	bool xattr_warned, acl_warned;
};

/* ---- paths ---- */

/* NAME as a clean relative path in OUT ("a/b", "" for the root): no empty or "."
 * components; -1 for an absolute name, a ".." component, or one too long. */
static int clean_name(const char *name, char *out, size_t cap)
{
	size_t n = 0;

	if (name[0] == '/')
		return -1;
	while (*name) {
		size_t len = strcspn(name, "/");

		if (len == 2 && name[0] == '.' && name[1] == '.')
			return -1;
		if (len && !(len == 1 && name[0] == '.')) {
			if (n + len + 2 > cap)
				return -1;
			if (n)
				out[n++] = '/';
			memcpy(out + n, name, len);
			n += len;
		}
		name += len;
		while (*name == '/')
			name++;
	}
	out[n] = '\0';
	return 0;
}

/* PATH of the tree, resolved as if the tree were "/" (common/util.h: RESOLVE_IN_ROOT). */
static int open_in_tree(int rootfd, const char *path, int flags)
{
	return open_in_root(rootfd, path[0] ? path : ".", flags, 0);
}

static void drop_parent(struct applier *ap)
{
	if (ap->parentfd >= 0)
		close(ap->parentfd);
	ap->parentfd = -1;
	ap->parent[0] = '\0';
}

/* Make the missing directories of DIR, from the root down (0755 root, as Docker
 * does for a parent a layer does not list). */
static int make_parents(struct applier *ap, const char *dir)
{
	char prefix[PATH_MAX];
	size_t n = 0;

	for (;;) {
		size_t len = strcspn(dir + n, "/");
		int fd;

		memcpy(prefix, dir, n + len);
		prefix[n + len] = '\0';
		fd = open_in_tree(ap->rootfd, prefix, O_PATH | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			_cleanup_close_ int up = -1;
			char *slash = strrchr(prefix, '/');

			if (slash)
				*slash = '\0';
			up = open_in_tree(ap->rootfd, slash ? prefix : "", O_PATH | O_DIRECTORY);
			if (up < 0 || mkdirat(up, slash ? slash + 1 : prefix, 0755) < 0 ||
			    fchmodat(up, slash ? slash + 1 : prefix, 0755, 0) < 0)   /* whatever the umask */
				return -1;
			if (slash)
				*slash = '/';
			strset_add(&ap->upper, prefix, strlen(prefix));
			fd = open_in_tree(ap->rootfd, prefix, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			return -1;
		close(fd);
		if (!dir[n + len])
			return 0;
		n += len + 1;
	}
}

/* The directory DIR of the tree (borrowed fd); made when CREATE and missing. */
static int parent_fd(struct applier *ap, const char *dir, bool create)
{
	int fd;

	if (!dir[0])
		return ap->rootfd;
	if (ap->parentfd >= 0 && strcmp(ap->parent, dir) == 0)
		return ap->parentfd;
	fd = open_in_tree(ap->rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT && create) {
		if (make_parents(ap, dir) < 0)
			return -1;
		fd = open_in_tree(ap->rootfd, dir, O_PATH | O_DIRECTORY);
	}
	if (fd < 0)
		return -1;
	drop_parent(ap);
	ap->parentfd = fd;
	snprintf(ap->parent, sizeof ap->parent, "%s", dir);
	return fd;
}

/* PATH and its ancestors are this layer's now. */
static void mark_upper(struct applier *ap, const char *path)
{
	size_t len = strlen(path);

	if (!strset_add(&ap->upper, path, len))
		return;
	while (len > 0) {
		while (len > 0 && path[len - 1] != '/')
			len--;
		if (len == 0)
			return;
		len--;
		if (!strset_add(&ap->upper, path, len))
			return;
	}
}

/* ---- removal ---- */

static int remove_tree(int dfd, const char *name);

/* Remove NAME of DFD, whatever it is (a directory with everything below it). */
static int remove_at(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (remove_tree(dfd, name) < 0)
		return -1;
	return unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

static int remove_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_at(dirfd(d), de->d_name) < 0)
			return -1;
	return errno ? -1 : 0;
}

/* Remove what of PATH (NAME in DFD) the layers below made: all of it when this layer
 * made none of it, else the children this layer did not make, recursively. */
static int remove_lower(struct applier *ap, int dfd, const char *name, char *path, size_t len);

static int remove_lower_children(struct applier *ap, int fd, char *path, size_t len)
{
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t nlen = strlen(de->d_name), plen = len ? len + 1 + nlen : nlen;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (plen >= PATH_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (len)
			path[len] = '/';
		memcpy(path + (len ? len + 1 : 0), de->d_name, nlen + 1);
		if (remove_lower(ap, dirfd(d), de->d_name, path, plen) < 0)
			return -1;
		path[len] = '\0';
	}
	return errno ? -1 : 0;
}

static int remove_lower(struct applier *ap, int dfd, const char *name, char *path, size_t len)
{
	struct stat st;
	int fd;

	if (!strset_has(&ap->upper, path, len))
		return remove_at(dfd, name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return remove_lower_children(ap, fd, path, len);
}

/* `.wh.NAME` in DIR (layer.md "Whiteouts"). */
static int whiteout(struct applier *ap, const char *dir, const char *name)
{
	_cleanup_close_ int fd = open_in_tree(ap->rootfd, dir, O_PATH | O_DIRECTORY);
	char path[PATH_MAX];
	int n;

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	drop_parent(ap);
	n = snprintf(path, sizeof path, "%s%s%s", dir, dir[0] ? "/" : "", name);
	if (n < 0 || n >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return remove_lower(ap, fd, name, path, (size_t)n);
}

/* `.wh..wh..opq` in DIR (layer.md "Opaque Whiteout"). */
static int opaque(struct applier *ap, const char *dir)
{
	int fd = open_in_tree(ap->rootfd, dir, O_RDONLY | O_DIRECTORY);
	char path[PATH_MAX];

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	drop_parent(ap);
	snprintf(path, sizeof path, "%s", dir);
	return remove_lower_children(ap, fd, path, strlen(path));
}

/* ---- metadata ---- */

static void entry_times(struct archive_entry *e, struct timespec t[2])
{
	t[1].tv_sec = archive_entry_mtime(e);
	t[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		t[0].tv_sec = archive_entry_atime(e);
		t[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		t[0] = t[1];
	}
}

/* Set E's xattrs on FD (an open file) or, FD < 0, on NAME in DFD (not followed). */
static void set_xattrs(struct applier *ap, struct archive_entry *e, int fd, int dfd,
		       const char *name, const char *path)
{
	const char *key;
	const void *value;
	size_t size;

	if (archive_entry_acl_count(e, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) > 0 && !ap->acl_warned) {
		ap->acl_warned = true;
		sfs_warn(ap->prog, "%s: '%s' carries ACLs as tar ACL records: not applied", ap->what,
			 path);
	}
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		int r;

		if (fd >= 0) {
			r = fsetxattr(fd, key, value, size, 0);
		} else {
			char proc[PATH_MAX + 64];

			snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, name);
			r = lsetxattr(proc, key, value, size, 0);
		}
		if (r < 0 && !ap->xattr_warned) {
			ap->xattr_warned = true;
			sfs_warn(ap->prog, "%s: '%s': xattr %s not set: %s", ap->what, path, key,
				 strerror(errno));
		}
	}
}

/* A directory taking a new header loses the xattrs of the one below. */
static void clear_xattrs(int fd)
{
	char names[4096];
	ssize_t n = flistxattr(fd, names, sizeof names);

	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
		fremovexattr(fd, names + i);
}

static int set_owner_mode(int fd, struct archive_entry *e)
{
	if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0)
		return -1;
	return fchmod(fd, archive_entry_perm(e) & 07777);
}

static int note_dir(struct applier *ap, const char *path, struct archive_entry *e)
{
	struct dirtime *d;

	if (ap->ndirs == ap->capdirs) {
		size_t cap = ap->capdirs ? ap->capdirs * 2 : 256;

		d = realloc(ap->dirs, cap * sizeof *d);
		if (!d)
			return -1;
		ap->dirs = d;
		ap->capdirs = cap;
	}
	d = &ap->dirs[ap->ndirs];
	d->path = strdup(path);
	if (!d->path)
		return -1;
	entry_times(e, d->t);
	ap->ndirs++;
	return 0;
}

/* ---- creating entries ---- */

static int write_data(struct archive *a, int fd, int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t end = 0;
	int r;

	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *p = buf;

		while (len > 0) {
			ssize_t n = pwrite(fd, p, len, off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			p += n;
			len -= (size_t)n;
			off += n;
		}
		if (off > end)
			end = off;
	}
	if (r != ARCHIVE_EOF) {
		errno = 0;
		return -2;
	}
	/* a sparse file's last hole */
	return end < size && ftruncate(fd, size) < 0 ? -1 : 0;
}

static int create_file(struct applier *ap, struct archive *a, struct archive_entry *e, int pfd,
		       const char *base, const char *path)
{
	_cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					0600);
	struct timespec t[2];
	int r;

	if (fd < 0)
		return -1;
	r = write_data(a, fd, archive_entry_size(e));
	if (r < 0)
		return r;
	if (set_owner_mode(fd, e) < 0)
		return -1;
	set_xattrs(ap, e, fd, -1, NULL, path);
	entry_times(e, t);
	return futimens(fd, t);
}

static int create_dir(struct applier *ap, struct archive_entry *e, int pfd, const char *base,
		      const char *path, bool existed)
{
	_cleanup_close_ int fd = -1;

	if (!existed && mkdirat(pfd, base, 0700) < 0)
		return -1;
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (set_owner_mode(fd, e) < 0)
		return -1;
	if (existed)
		clear_xattrs(fd);
	set_xattrs(ap, e, fd, -1, NULL, path);
	return note_dir(ap, path, e);
}

static int create_other(struct applier *ap, struct archive_entry *e, int pfd, const char *base,
			const char *path)
{
	mode_t type = archive_entry_filetype(e);
	struct timespec t[2];

	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);

		if (!target || symlinkat(target, pfd, base) < 0)
			return -1;
	} else {
		if (mknodat(pfd, base, (type & S_IFMT) | 0600, archive_entry_rdev(e)) < 0)
			return -1;
		if ((type == AE_IFCHR || type == AE_IFBLK) && ap->ndev++ == 0)
			snprintf(ap->first_dev, sizeof ap->first_dev, "%.255s", path);
	}
	if (fchownat(pfd, base, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	/* a node just made by us, not a symlink: fchmodat may follow nothing */
	if (type != AE_IFLNK && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
		return -1;
	set_xattrs(ap, e, -1, pfd, base, path);
	entry_times(e, t);
	return utimensat(pfd, base, t, AT_SYMLINK_NOFOLLOW);
}

/* A hardlink to TARGET (a member name) as the merged tree has it now. */
static int create_link(struct applier *ap, const char *target, int pfd, const char *base,
		       const char *path, struct sfs_err *err)
{
	char clean[PATH_MAX];
	const char *slash, *tbase;
	_cleanup_close_ int tfd = -1;

	if (clean_name(target, clean, sizeof clean) < 0 || !clean[0])
		return sfs_fail(err, 0, "%s: unsafe member '%s': hardlink to '%s' outside the image: refused",
				ap->what, path, target);
	if (!strcmp(clean, path))
		return 0;
	slash = strrchr(clean, '/');
	tbase = slash ? slash + 1 : clean;
	if (slash)
		clean[slash - clean] = '\0';
	tfd = open_in_tree(ap->rootfd, slash ? clean : "", O_PATH | O_DIRECTORY);
	if (tfd < 0 || linkat(tfd, tbase, pfd, base, 0) < 0)
		return sfs_fail(err, errno, "%s: member '%s': hardlink to '%s'", ap->what, path, target);
	return 0;
}

/* ---- one entry ---- */

static int apply_root(struct applier *ap, struct archive_entry *e, const char *name,
		      struct sfs_err *err)
{
	_cleanup_close_ int fd = -1;

	if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e))
		return sfs_fail(err, 0, "%s: member '%s': the root is not a directory: refused",
				ap->what, name);
	fd = openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || set_owner_mode(fd, e) < 0)
		return sfs_fail(err, errno, "%s: member '%s'", ap->what, name);
	clear_xattrs(fd);
	set_xattrs(ap, e, fd, -1, NULL, "/");
	if (note_dir(ap, "", e) < 0)
		return sfs_fail(err, ENOMEM, "%s", ap->what);
	return 0;
}

int applier_entry(struct applier *ap, struct archive *a, struct archive_entry *e,
		  struct sfs_err *err)
{
	const char *name = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
	char path[PATH_MAX], dir[PATH_MAX];
	const char *base, *slash;
	mode_t type = archive_entry_filetype(e);
	struct stat st;
	int pfd, r = -1;
	bool existed = false;

	if (!name || clean_name(name, path, sizeof path) < 0)
		return sfs_fail(err, 0, "%s: unsafe member '%s' (absolute or with ..): refused",
				ap->what, name ? name : "");
	if (!path[0])
		return apply_root(ap, e, name, err);
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
		const char *victim = base + strlen(WH_PREFIX);

		if (!strcmp(base, WH_OPAQUE))
			r = opaque(ap, dir);
		else if (!strncmp(base, WH_META, strlen(WH_META)))
			r = 0;          /* other AUFS metadata: not part of the tree */
		else if (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, ".."))
			return sfs_fail(err, 0, "%s: whiteout '%s' names no file of its directory: refused",
					ap->what, name);
		else
			r = whiteout(ap, dir, victim);
		if (r < 0)
			return sfs_fail(err, errno, "%s: whiteout '%s'", ap->what, name);
		return 0;
	}
	if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFCHR &&
	    type != AE_IFBLK && type != AE_IFIFO && type != AE_IFSOCK)
		return sfs_fail(err, 0, "%s: member '%s': unknown file type 0%o: refused", ap->what,
				name, (unsigned)type);
	pfd = parent_fd(ap, dir, true);
	if (pfd < 0)
		return sfs_fail(err, errno, "%s: member '%s': its directory", ap->what, name);
	/* layer.md "Changeset over existing files" */
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!link && type == AE_IFDIR && S_ISDIR(st.st_mode))
			existed = true;
		else if (remove_at(pfd, base) < 0)
			return sfs_fail(err, errno, "%s: member '%s': cannot replace what is there",
					ap->what, name);
	} else if (errno != ENOENT) {
		return sfs_fail(err, errno, "%s: member '%s'", ap->what, name);
	}
	if (link) {
		if (create_link(ap, link, pfd, base, path, err) < 0)
			return -1;
		r = 0;
	} else if (type == AE_IFREG) {
		r = create_file(ap, a, e, pfd, base, path);
		if (r == -2) {
			sfs_fail(err, 0, "%s: member '%s': %s", ap->what, name,
				 archive_error_string(a) ?: "cannot read its data");
			return -2;
		}
	} else if (type == AE_IFDIR) {
		r = create_dir(ap, e, pfd, base, path, existed);
	} else {
		r = create_other(ap, e, pfd, base, path);
	}
	if (r < 0)
		return sfs_fail(err, errno, "%s: member '%s'", ap->what, name);
	mark_upper(ap, path);
	return 0;
}

/* ---- layers ---- */

int applier_new(struct applier **out, int rootfd, const char *prog, struct sfs_err *err)
{
	struct applier *ap = calloc(1, sizeof *ap);

	if (!ap)
		return sfs_fail(err, ENOMEM, "unpacking");
	ap->rootfd = rootfd;
	ap->prog = prog;
	ap->parentfd = -1;
	*out = ap;
	return 0;
}

void applier_layer(struct applier *ap, const char *what)
{
	ap->what = what;
	strset_clear(&ap->upper);
	drop_parent(ap);
}

/* Directory times, last: every directory of the layer is complete now. */
int applier_layer_end(struct applier *ap, struct sfs_err *err)
{
	int ret = 0;

	drop_parent(ap);
	for (size_t i = 0; i < ap->ndirs; i++) {
		struct dirtime *d = &ap->dirs[i];
		const char *slash = strrchr(d->path, '/');
		char dir[PATH_MAX];
		_cleanup_close_ int fd = -1;
		struct stat st;

		snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - d->path) : 0, d->path);
		if (!d->path[0]) {
			fd = openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || futimens(fd, d->t) < 0)
				ret = ret ?: sfs_fail(err, errno, "%s: times of /", ap->what);
		} else if ((fd = open_in_tree(ap->rootfd, dir, O_PATH | O_DIRECTORY)) >= 0 &&
			   fstatat(fd, slash ? slash + 1 : d->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   S_ISDIR(st.st_mode) &&
			   utimensat(fd, slash ? slash + 1 : d->path, d->t, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = ret ?: sfs_fail(err, errno, "%s: times of '%s'", ap->what, d->path);
		}
		free(d->path);
	}
	ap->ndirs = 0;
	return ret;
}

void applier_free(struct applier *ap, const char *src)
{
	if (!ap)
		return;
	if (ap->ndev && src)
		sfs_warn(ap->prog, "%s: %zu device node%s unpacked as in the image (first: '%s')", src,
			 ap->ndev, ap->ndev > 1 ? "s" : "", ap->first_dev);
	for (size_t i = 0; i < ap->ndirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
	strset_clear(&ap->upper);
	drop_parent(ap);
	free(ap);
}
