/* write.c — writing the kept paths as a tar archive or a directory tree.
 *
 * The format is pax (not restricted pax, which drops the nanoseconds of mtime).
 * Members come in path order (a directory before what it holds), each built by
 * hand from an lstat inside the image root: type, permission bits, numeric
 * owner, mtime with nanoseconds, symlink target as it is, device number,
 * xattrs (sorted by name; security.capability and system.posix_acl_* included).
 * No atime, ctime, user or group names and no export-time clock reach the
 * archive, so the same traces and image give the same bytes.  Every name of an
 * inode after the first is a hardlink entry to the first.
 *
 * Output goes to OUT.tmp-XXXXXX beside OUT and is renamed over OUT at the end;
 * any failure removes the temporary file or tree.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "ctx.h"

#define COPY_BUF (256 * 1024)
#define OUT_BLOCK (1024 * 1024)
#define SYNC_EVERY (8 * 1024 * 1024)

struct writer {
	struct export_ctx *c;
	struct archive *a;
	bool dir;                 /* --format dir: archive_write_disk into tmp */
	char *tmp;                /* temporary output (absolute for dir) */
	/* The member name being built, the name of the member it is a hardlink of, and
	 * the entry's path, NUL-terminated: any length (pax holds long names), grown as
	 * needed. */
	struct sbuf { char *s; size_t cap; } name, link, path;
	char target[PATH_MAX];    /* a symlink's target (at most PATH_MAX - 1 bytes) */
	char *buf;
	/* --format dir: ACL xattrs, set after everything is written (see set_acls) */
	struct acl { char *path, *name; void *val; size_t len; } *acls;
	size_t nacls;
	struct timespec start, last_progress;
	bool progress_shown;
	uint64_t bytes;
	int outfd;                /* the temporary archive */
	off_t written, synced;    /* bytes written to it, and handed to writeback */
};

/* B holds N bytes or more: 0, or -1 when out of memory. */
static int sbuf_fit(struct sbuf *b, size_t n)
{
	char *s;

	if (n <= b->cap)
		return 0;
	s = realloc(b->s, n);
	if (s == NULL)
		return -1;
	b->s = s;
	b->cap = n;
	return 0;
}

/* Member name of PATH into B: "./usr/bin" in an archive, TMP/usr/bin in a directory;
 * NULL when out of memory. */
static const char *member_name(struct writer *w, struct sbuf *b, const char *path, size_t len)
{
	const char *prefix = w->dir ? w->tmp : ".";

	if (sbuf_fit(b, strlen(prefix) + len + 2) < 0)
		return NULL;
	if (len == 1)
		snprintf(b->s, b->cap, w->dir ? "%s" : "%s/", prefix);
	else
		snprintf(b->s, b->cap, "%s%.*s", prefix, (int)len, path);
	return b->s;
}

/* Copy the xattrs of the file at FD (or, when FD < 0, of DFD/NAME without following
 * it) into ENTRY, sorted by name. */
/* Remember an ACL xattr of member PATH for set_acls(). */
static int defer_acl(struct writer *w, const char *path, const char *name, const void *val,
		     size_t len)
{
	struct acl *v = realloc(w->acls, (w->nacls + 1) * sizeof *v);

	if (v == NULL)
		return -1;
	w->acls = v;
	v = &v[w->nacls];
	v->path = strdup(path);
	v->name = strdup(name);
	v->val = malloc(len ? len : 1);
	v->len = len;
	if (v->path == NULL || v->name == NULL || v->val == NULL) {
		free(v->path);
		free(v->name);
		free(v->val);
		return -1;
	}
	memcpy(v->val, val, len);
	w->nacls++;
	return 0;
}

/* archive_write_disk does not restore system.posix_acl_* xattrs, and a default
 * ACL set on a directory before its entries are written would be inherited by
 * them: so a directory export sets ACLs itself, once the tree is complete. */
static int set_acls(struct writer *w, struct sfs_err *err)
{
	for (size_t i = 0; i < w->nacls; i++) {
		const struct acl *a = &w->acls[i];

		if (lsetxattr(a->path, a->name, a->val, a->len, 0) < 0)
			return sfs_fail(err, errno, "%s: setting %s", a->path, a->name);
	}
	return 0;
}

/* archive_write_disk leaves the metadata of the directory it writes into (the
 * temporary root) alone: give it the image root's. */
static int set_root(struct writer *w, struct sfs_err *err)
{
	struct stat st;
	struct timespec ts[2];

	if (fstat(w->c->im.rootfd, &st) < 0)
		return sfs_fail(err, errno, "%s", w->c->imagedir);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (chown(w->tmp, st.st_uid, st.st_gid) < 0 || chmod(w->tmp, st.st_mode & 07777) < 0 ||
	    utimensat(AT_FDCWD, w->tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sfs_fail(err, errno, "%s", w->c->o->out);
	return 0;
}

static void free_acls(struct writer *w)
{
	for (size_t i = 0; i < w->nacls; i++) {
		free(w->acls[i].path);
		free(w->acls[i].name);
		free(w->acls[i].val);
	}
	free(w->acls);
}

static int add_xattrs(struct writer *w, struct archive_entry *entry, int fd, int dfd,
		      const char *name, const char *what, struct sfs_err *err)
{
	char proc[64 + NAME_MAX];
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char **names = NULL;
	_cleanup_free_ char *val = NULL;
	ssize_t len;
	size_t n = 0, vcap = 0;

	if (fd < 0)
		snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dfd, name);
	len = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(proc, NULL, 0);
	if (len < 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP)
			return 0;
		return sfs_fail(err, errno, "%s: listing xattrs", what);
	}
	if (len == 0)
		return 0;
	list = malloc((size_t)len);
	if (list == NULL)
		return sfs_fail(err, ENOMEM, "%s: listing xattrs", what);
	len = fd >= 0 ? flistxattr(fd, list, (size_t)len) : llistxattr(proc, list, (size_t)len);
	if (len < 0)
		return sfs_fail(err, errno, "%s: listing xattrs", what);
	names = calloc((size_t)len, sizeof *names);
	if (names == NULL)
		return sfs_fail(err, ENOMEM, "%s: listing xattrs", what);
	for (char *p = list; p < list + len; p += strlen(p) + 1)
		if (*p)
			names[n++] = p;
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		ssize_t vlen;

		do {
			vlen = fd >= 0 ? fgetxattr(fd, names[i], NULL, 0)
				       : lgetxattr(proc, names[i], NULL, 0);
			if (vlen < 0)
				break;
			if ((size_t)vlen >= vcap) {
				free(val);
				vcap = (size_t)vlen + 1;
				val = malloc(vcap);
				if (val == NULL)
					return sfs_fail(err, ENOMEM, "%s: xattr %s", what, names[i]);
			}
			vlen = fd >= 0 ? fgetxattr(fd, names[i], val, vcap)
				       : lgetxattr(proc, names[i], val, vcap);
		} while (vlen < 0 && errno == ERANGE);   /* grew in between: again */
		if (vlen < 0 && errno == ENODATA)        /* removed in between */
			continue;
		if (vlen < 0)
			return sfs_fail(err, errno, "%s: xattr %s", what, names[i]);
		if (w->dir && strncmp(names[i], "system.posix_acl_", 17) == 0) {
			if (defer_acl(w, archive_entry_pathname(entry), names[i], val,
				      (size_t)vlen) < 0)
				return sfs_fail(err, ENOMEM, "%s: xattr %s", what, names[i]);
			continue;
		}
		archive_entry_xattr_add_entry(entry, names[i], val, (size_t)vlen);
	}
	return 0;
}

/* "OUT: WHAT: libarchive's message" (just "OUT: message" when WHAT is OUT). */
static int archive_fail(struct writer *w, struct sfs_err *err, const char *what)
{
	const char *msg = archive_error_string(w->a), *out = w->c->o->out;

	if (msg == NULL)
		msg = "archive error";
	if (strcmp(what, out) == 0)
		return sfs_fail(err, 0, "%s: %s", out, msg);
	return sfs_fail(err, 0, "%s: %s: %s", out, what, msg);
}

static int copy_data(struct writer *w, int fd, uint64_t size, const char *what,
		     struct sfs_err *err)
{
	uint64_t done = 0;

	while (done < size) {
		size_t want = size - done < COPY_BUF ? (size_t)(size - done) : COPY_BUF;
		ssize_t n = read(fd, w->buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sfs_fail(err, errno, "%s", what);
		if (n == 0)
			return sfs_fail(err, 0, "%s: file shrank while being exported", what);
		if (archive_write_data(w->a, w->buf, (size_t)n) != n)
			return archive_fail(w, err, what);
		done += (uint64_t)n;
		w->bytes += (uint64_t)n;
	}
	return 0;
}

static void progress(struct writer *w, size_t done, size_t total, bool final)
{
	struct timespec now;
	double since_start, since_last;

	if (!w->c->o->progress)
		return;
	if (final) {
		if (w->progress_shown)
			fputs("\r\033[K", stderr);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	since_start = (double)(now.tv_sec - w->start.tv_sec) +
		      (double)(now.tv_nsec - w->start.tv_nsec) / 1e9;
	since_last = (double)(now.tv_sec - w->last_progress.tv_sec) +
		     (double)(now.tv_nsec - w->last_progress.tv_nsec) / 1e9;
	if (since_start < 1.0 || since_last < 0.2)
		return;
	w->last_progress = now;
	w->progress_shown = true;
	fprintf(stderr, "\r\033[K%s: %zu/%zu entries, %.1f MB", w->c->o->prog, done, total,
		(double)w->bytes / 1e6);
}

static int write_one(struct writer *w, size_t i, struct archive_entry *entry,
		     struct sfs_err *err)
{
	struct export_ctx *c = w->c;
	const struct pent *e = &c->ps.v[i];
	const char *path, *member;
	_cleanup_close_ int fd = -1;
	int dfd, ret;
	size_t first;

	if (sbuf_fit(&w->path, (size_t)e->len + 1) < 0 ||
	    !(member = member_name(w, &w->name, pent_path(&c->ps, e), e->len)))
		return sfs_fail(err, ENOMEM, "%s", c->o->out);
	path = w->path.s;
	snprintf(w->path.s, w->path.cap, "%.*s", (int)e->len, pent_path(&c->ps, e));
	archive_entry_clear(entry);
	archive_entry_set_pathname(entry, member);
	/* The header comes from the closure's lstat (or the made-up mount point):
	 * the path is not stat-ed again. */
	archive_entry_set_mode(entry, e->mode);
	archive_entry_set_uid(entry, e->uid);
	archive_entry_set_gid(entry, e->gid);
	archive_entry_set_mtime(entry, e->mtime_sec, e->mtime_nsec);
	if (e->flags & F_SYNTH)
		goto write;
	first = closure_link_first(c, i);
	if (first != i) {
		const struct pent *f = &c->ps.v[first];

		if (!(member = member_name(w, &w->link, pent_path(&c->ps, f), f->len)))
			return sfs_fail(err, ENOMEM, "%s", c->o->out);
		archive_entry_set_hardlink(entry, member);
		archive_entry_set_size(entry, 0);
		goto write;
	}
	dfd = image_parent(&c->im, path, e->len, err);
	if (dfd < 0)
		return -1;
	if (S_ISREG(e->mode) || S_ISDIR(e->mode)) {
		struct stat st;

		/* O_NOFOLLOW: a symlink put there since the closure is refused, and
		 * O_NONBLOCK: a fifo put there does not hang the export; the fstat of
		 * what was opened then tells whether it is still the closure's inode. */
		if (e->len == 1)
			fd = openat(c->im.rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		else
			fd = openat(dfd, c->im.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
				    O_NONBLOCK | (S_ISDIR(e->mode) ? O_DIRECTORY : 0));
		if (fd < 0 && (errno == ELOOP || errno == ENOTDIR || errno == ENOENT))
			goto changed;
		if (fd < 0)
			return sfs_fail(err, errno, "%s", path);
		if (fstat(fd, &st) < 0)
			return sfs_fail(err, errno, "%s", path);
		if ((st.st_mode & S_IFMT) != (e->mode & S_IFMT) || st.st_ino != e->ino ||
		    st.st_dev != e->dev)
			goto changed;
	}
	if (add_xattrs(w, entry, fd, dfd, c->im.name, path, err) < 0)
		return -1;
	if (S_ISREG(e->mode))
		archive_entry_set_size(entry, (la_int64_t)e->size);
	else if (S_ISLNK(e->mode)) {
		ssize_t n = readlinkat(dfd, c->im.name, w->target, sizeof w->target - 1);

		if (n < 0 && (errno == EINVAL || errno == ENOENT))
			goto changed;
		if (n < 0)
			return sfs_fail(err, errno, "%s", path);
		w->target[n] = '\0';
		archive_entry_set_symlink(entry, w->target);
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		archive_entry_set_rdev(entry, e->rdev);
write:
	ret = archive_write_header(w->a, entry);
	if (ret == ARCHIVE_WARN) {
		if (!c->o->quiet)
			sfs_warn(c->o->prog, "%s: %s", path, archive_error_string(w->a));
	} else if (ret != ARCHIVE_OK) {
		return archive_fail(w, err, path);
	}
	if (fd >= 0 && S_ISREG(e->mode) && e->size > 0 && copy_data(w, fd, e->size, path, err) < 0)
		return -1;
	ret = archive_write_finish_entry(w->a);
	if (ret == ARCHIVE_WARN) {
		if (!c->o->quiet)
			sfs_warn(c->o->prog, "%s: %s", path, archive_error_string(w->a));
	} else if (ret != ARCHIVE_OK) {
		return archive_fail(w, err, path);
	}
	return 0;
changed:
	return sfs_fail(err, 0, "%s in image %s changed during the export", path, c->imagedir);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* libarchive's output callback.  Writeback of what was written is started every
 * SYNC_EVERY bytes, so that the final fsync() waits for little: the disk works
 * while the archive is being built instead of after. */
static la_ssize_t out_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct writer *w = ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(w->outfd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	w->written += (off_t)len;
	if (w->written - w->synced >= SYNC_EVERY) {
		sync_file_range(w->outfd, w->synced, w->written - w->synced,
				SYNC_FILE_RANGE_WRITE);
		w->synced = w->written;
	}
	return (la_ssize_t)len;
}

static int open_tar(struct writer *w, int fd, struct sfs_err *err)
{
	const char *out = w->c->o->out;
	int r = ARCHIVE_OK;

	w->a = archive_write_new();
	if (w->a == NULL)
		return sfs_fail(err, ENOMEM, "%s", out);
	if (archive_write_set_format_pax(w->a) != ARCHIVE_OK)
		return archive_fail(w, err, out);
	/* xattrs as SCHILY.xattr.* only: GNU tar reads those and warns about the
	 * LIBARCHIVE.xattr.* copies libarchive would add by default. */
	if (archive_write_set_format_option(w->a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK)
		return archive_fail(w, err, out);

	if (has_suffix(out, ".tar.gz") || has_suffix(out, ".tgz")) {
		r = archive_write_add_filter_gzip(w->a);
		/* No mtime in the gzip header: the archive is the same on every run. */
		if (r == ARCHIVE_OK)
			r = archive_write_set_filter_option(w->a, "gzip", "timestamp", NULL);
	} else if (has_suffix(out, ".tar.zst")) {
		r = archive_write_add_filter_zstd(w->a);
	} else if (has_suffix(out, ".tar.xz")) {
		r = archive_write_add_filter_xz(w->a);
	} else if (!has_suffix(out, ".tar") && w->c->o->format != EXPORT_FMT_TAR) {
		return sfs_fail(err, 0, "%s: unknown output suffix (use .tar, .tar.gz, .tar.zst, "
				".tar.xz, or --format dir)", out);
	}
	if (r != ARCHIVE_OK)
		return archive_fail(w, err, out);
	/* Write in large blocks (fewer system calls); no padding after the last
	 * byte, as archive_write_open_fd does for a regular file: the bytes are
	 * those of 10 KB blocks. */
	if (archive_write_set_bytes_per_block(w->a, OUT_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		return archive_fail(w, err, out);
	w->outfd = fd;
	if (archive_write_open2(w->a, w, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
		return archive_fail(w, err, out);
	return 0;
}

static int open_dir(struct writer *w, struct sfs_err *err)
{
	w->a = archive_write_disk_new();
	if (w->a == NULL)
		return sfs_fail(err, ENOMEM, "%s", w->c->o->out);
	/* Member names are absolute (under the temporary directory, whose path was
	 * made symlink-free with realpath), so NOABSOLUTEPATHS cannot be set; they
	 * never hold ".." and never pass a symlink, which the other flags enforce.
	 * ACLs travel as system.posix_acl_* xattrs; ARCHIVE_EXTRACT_ACL would reset
	 * them from the entry's (empty) libarchive ACL, so it is not set. */
	archive_write_disk_set_options(w->a, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
				       ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
				       ARCHIVE_EXTRACT_SECURE_SYMLINKS |
				       ARCHIVE_EXTRACT_SECURE_NODOTDOT);
	return 0;
}

/* --format dir: libarchive's disk writer sets a member's owner, mode and times by its
 * whole path, which the kernel refuses beyond PATH_MAX; such a member is refused
 * before anything is written (a tar holds it: its pax header has no length limit). */
static int check_dir_lengths(struct writer *w, struct sfs_err *err)
{
	const struct export_ctx *c = w->c;
	size_t prefix = strlen(w->tmp);

	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];

		if (pent_kept(e) && prefix + e->len >= PATH_MAX)
			return sfs_fail(err, 0, "%s: cannot write %.*s into a directory: with the "
					"output's own path it is %zu bytes, longer than PATH_MAX (%d), "
					"and its owner, mode and times could not be set; export to a "
					"tar (.tar, .tar.gz, .tar.zst, .tar.xz), whose pax headers hold "
					"paths of any length", c->o->out, (int)e->len,
					pent_path(&c->ps, e), prefix + e->len, PATH_MAX);
	}
	return 0;
}

static int write_all(struct writer *w, struct sfs_err *err)
{
	struct export_ctx *c = w->c;
	struct archive_entry *entry = archive_entry_new();
	size_t total = 0, done = 0;
	int ret = 0;

	if (entry == NULL)
		return sfs_fail(err, ENOMEM, "%s", c->o->out);
	if (w->dir && check_dir_lengths(w, err) < 0) {
		archive_entry_free(entry);
		return -1;
	}
	for (size_t i = 0; i < c->ps.n; i++)
		total += pent_kept(&c->ps.v[i]);
	clock_gettime(CLOCK_MONOTONIC, &w->start);
	w->last_progress = w->start;
	for (size_t i = 0; i < c->ps.n && ret == 0; i++) {
		if (!pent_kept(&c->ps.v[i]))
			continue;
		ret = write_one(w, i, entry, err);
		if ((++done & 63) == 0)
			progress(w, done, total, false);
	}
	progress(w, done, total, true);
	archive_entry_free(entry);
	return ret;
}

int write_output(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;
	struct writer w = { .c = c, .dir = o->format == EXPORT_FMT_DIR };
	_cleanup_free_ char *dcopy = strdup(o->out), *dreal = NULL, *bcopy = strdup(o->out);
	_cleanup_close_ int fd = -1;
	struct stat st;
	int ret;

	if (dcopy == NULL || bcopy == NULL)
		return sfs_fail(err, ENOMEM, "%s", o->out);
	dreal = realpath(dirname(dcopy), NULL);
	if (dreal == NULL)
		return sfs_fail(err, errno, "%s", o->out);
	if (w.dir && lstat(o->out, &st) == 0)
		return sfs_fail(err, EEXIST, "%s", o->out);
	if (asprintf(&w.tmp, "%s/%s.tmp-XXXXXX", dreal, basename(bcopy)) < 0)
		return sfs_fail(err, ENOMEM, "%s", o->out);
	w.buf = malloc(COPY_BUF);
	if (w.buf == NULL) {
		free(w.tmp);
		return sfs_fail(err, ENOMEM, "%s", o->out);
	}
	if (w.dir) {
		if (mkdtemp(w.tmp) == NULL) {
			ret = sfs_fail(err, errno, "%s", o->out);
			free(w.tmp);
			free(w.buf);
			return ret;
		}
		ret = open_dir(&w, err);
	} else {
		mode_t um = umask(0);

		umask(um);
		fd = mkostemp(w.tmp, O_CLOEXEC);
		if (fd < 0) {
			ret = sfs_fail(err, errno, "%s", o->out);
			free(w.tmp);
			free(w.buf);
			return ret;
		}
		fchmod(fd, 0666 & ~um);
		ret = open_tar(&w, fd, err);
	}
	if (ret == 0)
		ret = write_all(&w, err);
	if (ret == 0 && archive_write_close(w.a) != ARCHIVE_OK)
		ret = archive_fail(&w, err, o->out);
	if (ret == 0 && w.dir)
		ret = set_acls(&w, err);
	if (ret == 0 && w.dir)
		ret = set_root(&w, err);
	if (ret == 0 && fd >= 0 && fsync(fd) < 0)
		ret = sfs_fail(err, errno, "%s", o->out);
	if (ret == 0 && rename(w.tmp, o->out) < 0)
		ret = sfs_fail(err, errno, "%s", o->out);
	if (w.a)
		archive_write_free(w.a);
	if (ret < 0) {
		if (w.dir)
			sfs_rm_tree(w.tmp, NULL);
		else
			unlink(w.tmp);
	}
	free(w.tmp);
	free(w.buf);
	free(w.name.s);
	free(w.link.s);
	free(w.path.s);
	free_acls(&w);
	return ret;
}
