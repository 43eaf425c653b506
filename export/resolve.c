/* resolve.c — a path walked inside the image root as the kernel walks it (see resolve.h).
 *
 * State: CUR is the directory reached so far (absolute, clean, no symlink in it) and REST
 * what is left of the path; a symlink's target replaces the symlink by being put in front
 * of REST.  Both live in fixed buffers: a walk that would not fit fails as "not found",
 * the kernel's ENAMETOOLONG.
 */
#include "resolve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "pathset.h"

#define MAX_SYMLINKS 40   /* the kernel's MAXSYMLINKS */

ssize_t image_readlink(struct image *im, const char *path, size_t len, char *buf, size_t size,
		       struct sfs_err *err)
{
	int dfd = image_parent(im, path, len, err);
	ssize_t n;

	if (dfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV ? 0 : -1;
	n = readlinkat(dfd, im->name, buf, size - 1);
	if (n < 0) {
		if (errno == EINVAL || errno == ENOENT || errno == ENOTDIR)
			return 0;
		return sfs_fail(err, errno, "%.*s in image %s", (int)len, path, im->dir);
	}
	if ((size_t)n >= size - 1)
		return 0;   /* would not fit: treated as unreadable */
	buf[n] = '\0';
	return n;
}

/* Put TARGET in front of REST[*POS..*RLEN): REST becomes TARGET "/" old-rest (TARGET
 * alone when nothing is left). */
static bool splice_target(char *rest, size_t cap, size_t *pos, size_t *rlen, const char *target,
		   size_t tlen)
{
	size_t left = *rlen - *pos, sep = left > 0;   /* no '/' of its own after the last */

	if (tlen + sep + left + 1 > cap)
		return false;
	memmove(rest + tlen + sep, rest + *pos, left);
	memcpy(rest, target, tlen);
	if (sep)
		rest[tlen] = '/';
	*rlen = tlen + sep + left;
	rest[*rlen] = '\0';
	*pos = 0;
	return true;
}

/* The paths a walk met, handed to VISIT only once the walk succeeded. */
struct met {
	char *arena;
	size_t alen, acap;
	struct { size_t off, len; struct stat st; } *v;
	size_t n, cap;
};

static int met_add(struct met *m, const char *path, size_t len, const struct stat *st,
		   struct sfs_err *err)
{
	if (m->alen + len + 1 > m->acap) {
		size_t cap = m->acap ? m->acap * 2 : 1024;
		char *a;

		while (cap < m->alen + len + 1)
			cap *= 2;
		a = realloc(m->arena, cap);
		if (a == NULL)
			return sfs_fail(err, ENOMEM, "resolving %.*s", (int)len, path);
		m->arena = a;
		m->acap = cap;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		void *v = realloc(m->v, cap * sizeof *m->v);

		if (v == NULL)
			return sfs_fail(err, ENOMEM, "resolving %.*s", (int)len, path);
		m->v = v;
		m->cap = cap;
	}
	memcpy(m->arena + m->alen, path, len);
	m->arena[m->alen + len] = '\0';
	m->v[m->n].off = m->alen;
	m->v[m->n].len = len;
	m->v[m->n].st = *st;
	m->n++;
	m->alen += len + 1;
	return 0;
}

static int walk(struct image *im, const char *path, int flags, struct met *met,
		struct resolved *out, struct sfs_err *err);

int image_resolve(struct image *im, const char *path, int flags, resolve_visit visit,
		  void *vctx, struct resolved *out, struct sfs_err *err)
{
	struct met m = { 0 };
	int ret = walk(im, path, flags, visit ? &m : NULL, out, err);

	for (size_t i = 0; ret == 0 && i < m.n; i++)
		if (visit(vctx, m.arena + m.v[i].off, m.v[i].len, &m.v[i].st, err) < 0)
			ret = -1;
	free(m.arena);
	free(m.v);
	return ret;
}

static int walk(struct image *im, const char *path, int flags, struct met *met,
		struct resolved *out, struct sfs_err *err)
{
	_cleanup_free_ char *rest = malloc(2 * PATH_MAX);
	char target[PATH_MAX];
	size_t pos = 0, rlen = strlen(path), clen = 1, nlinks = 0;
	char *cur = out->path;
	struct stat st;

	if (rest == NULL)
		return sfs_fail(err, ENOMEM, "resolving %s", path);
	if (path[0] != '/' || rlen >= 2 * PATH_MAX)
		return 1;
	memcpy(rest, path, rlen + 1);
	strcpy(cur, "/");
	if (fstat(im->rootfd, &st) < 0)
		return sfs_fail(err, errno, "image %s", im->dir);
	while (pos < rlen) {
		const char *comp;
		size_t n, after, candlen;
		bool more, follow;
		int ret;

		while (pos < rlen && rest[pos] == '/')
			pos++;
		if (pos == rlen)
			break;
		comp = rest + pos;
		n = strcspn(comp, "/");
		pos += n;
		if (n == 1 && comp[0] == '.')
			continue;
		if (n == 2 && comp[0] == '.' && comp[1] == '.') {
			/* ".." of the directory reached, which holds no symlink; never above "/" */
			clen = path_parent_len(cur, clen);
			if (clen == 0)
				clen = 1;
			cur[clen] = '\0';
			ret = image_lstat(im, cur, clen, &st, err);
			if (ret != 0)
				return ret;
			continue;
		}
		candlen = clen + (clen > 1) + n;
		if (candlen >= PATH_MAX)
			return 1;
		/* CUR grows in place: on a symlink it is cut back to CLEN */
		memmove(cur + clen + (clen > 1), comp, n);
		if (clen > 1)
			cur[clen] = '/';
		cur[candlen] = '\0';
		for (after = pos; after < rlen && rest[after] == '/'; after++)
			;
		more = after < rlen;
		follow = more || pos < rlen || (flags & RESOLVE_FOLLOW);  /* a trailing '/' follows */
		ret = image_lstat(im, cur, candlen, &st, err);
		if (ret != 0)
			return ret;
		if (S_ISLNK(st.st_mode) && follow) {
			ssize_t tl;

			if (++nlinks > MAX_SYMLINKS)
				return 1;
			if (met && met_add(met, cur, candlen, &st, err) < 0)
				return -1;
			tl = image_readlink(im, cur, candlen, target, sizeof target, err);
			if (tl < 0)
				return -1;
			if (tl == 0)
				return 1;
			if (!splice_target(rest, 2 * PATH_MAX, &pos, &rlen, target, (size_t)tl))
				return 1;
			if (target[0] == '/')
				clen = 1;
			cur[clen] = '\0';
			continue;
		}
		if (met && met_add(met, cur, candlen, &st, err) < 0)
			return -1;
		if ((more || pos < rlen) && !S_ISDIR(st.st_mode))
			return 1;   /* ENOTDIR */
		clen = candlen;
	}
	out->len = clen;
	out->st = st;
	return 0;
}

int image_read_file(struct image *im, const char *path, size_t max, char **buf, size_t *len,
		    struct sfs_err *err)
{
	size_t plen = strlen(path), done = 0;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *b = NULL;
	struct stat st;
	int dfd = image_parent(im, path, plen, err);

	if (dfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV ? 1 : -1;
	fd = plen == 1 ? -1 : openat(dfd, im->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				     O_NOCTTY);
	if (fd < 0) {
		if (plen == 1 || errno == ENOENT || errno == ELOOP || errno == ENOTDIR ||
		    errno == ENXIO)
			return 1;
		return sfs_fail(err, errno, "%s in image %s", path, im->dir);
	}
	if (fstat(fd, &st) < 0)
		return sfs_fail(err, errno, "%s in image %s", path, im->dir);
	if (!S_ISREG(st.st_mode))
		return 1;
	if ((uint64_t)st.st_size > max)
		return sfs_fail(err, EFBIG, "%s in image %s", path, im->dir);
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL)
		return sfs_fail(err, ENOMEM, "%s in image %s", path, im->dir);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, b + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sfs_fail(err, errno, "%s in image %s", path, im->dir);
		if (n == 0)
			break;   /* shrank: what was there */
		done += (size_t)n;
	}
	b[done] = '\0';
	*buf = steal_pointer(&b);
	*len = done;
	return 0;
}

int image_list_dir(struct image *im, const char *path, image_dir_cb cb, void *ctx,
		   struct sfs_err *err)
{
	size_t plen = strlen(path);
	int dfd = image_parent(im, path, plen, err), fd;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (dfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV ? 0 : -1;
	fd = openat(dfd, plen == 1 ? "." : im->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return 0;
		return sfs_fail(err, errno, "%s in image %s", path, im->dir);
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return sfs_fail(err, errno, "%s in image %s", path, im->dir);
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cb(ctx, de->d_name, err) < 0)
			return -1;
	}
	if (errno != 0)
		return sfs_fail(err, errno, "%s in image %s", path, im->dir);
	return 0;
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, struct sfs_err *err)
{
	struct names *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof *v);

		if (v == NULL)
			return sfs_fail(err, ENOMEM, "listing %s", name);
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(name)) == NULL)
		return sfs_fail(err, ENOMEM, "listing %s", name);
	l->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Below PATH[0..LEN) (a directory on device DEV): names are listed and the directory
 * closed before descending, so the depth of a tree costs no file descriptors. */
static int tree(struct image *im, char *path, size_t len, dev_t dev, resolve_visit visit,
		void *ctx, struct sfs_err *err)
{
	struct names l = { 0 };
	int ret;

	path[len] = '\0';
	ret = image_list_dir(im, len ? path : "/", collect, &l, err);
	if (ret == 0 && l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, cmp_name);
	for (size_t i = 0; ret == 0 && i < l.n; i++) {
		size_t n = strlen(l.v[i]), plen = len + 1 + n;
		struct stat st;

		if (plen >= PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, l.v[i], n + 1);
		ret = image_lstat(im, path, plen, &st, err);
		if (ret > 0) {
			ret = 0;   /* gone in between */
			continue;
		}
		if (ret == 0)
			ret = visit(ctx, path, plen, &st, err);
		if (ret == 0 && S_ISDIR(st.st_mode) && st.st_dev == dev)
			ret = tree(im, path, plen, dev, visit, ctx, err);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	return ret < 0 ? -1 : 0;
}

int image_tree(struct image *im, const char *dir, resolve_visit visit, void *ctx,
	       struct sfs_err *err)
{
	_cleanup_free_ char *path = malloc(PATH_MAX);
	size_t len = strlen(dir);
	struct stat st;
	int ret;

	if (path == NULL)
		return sfs_fail(err, ENOMEM, "walking %s", dir);
	if (len >= PATH_MAX)
		return 0;
	ret = image_lstat(im, dir, len, &st, err);
	if (ret != 0 || !S_ISDIR(st.st_mode))
		return ret < 0 ? -1 : 0;
	memcpy(path, dir, len + 1);
	if (len == 1)
		len = 0;   /* "/": children are "/NAME" */
	return tree(im, path, len, st.st_dev, visit, ctx, err);
}
