/* hardlinks.c — the index of the image's hardlinks (hardlinks.h).
 *
 * Made once: a depth-first walk from the root, one directory fd per level and the
 * path so far in a growing buffer; every entry that is not a directory and has more
 * than one link becomes a record (dev, ino, path).  The records are then sorted by
 * (dev, ino, path), so the names of one file are one run of them, found by binary
 * search.  After hl_names has made it, the index is never changed again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "hardlinks.h"

struct rec {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct hl_index {
	pthread_mutex_t lock;
	bool made;
	struct rec *v;
	const char **paths;     /* v[k].path, in v's order: what hl_names hands out */
	size_t n, cap;
};

/* The walk's state: the path of the directory being read, and its length. */
struct walk {
	struct hl_index *h;
	char *path;
	size_t len, cap;
};

struct hl_index *hl_new(void)
{
	struct hl_index *h = calloc(1, sizeof(*h));

	if (h)
		pthread_mutex_init(&h->lock, NULL);
	return h;
}

void hl_free(struct hl_index *h)
{
	if (!h)
		return;
	for (size_t k = 0; k < h->n; k++)
		free(h->v[k].path);
	free(h->v);
	free(h->paths);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Append "/NAME" (or "NAME" at the root) to the walk's path.  -ENOMEM or 0. */
static int path_push(struct walk *w, const char *name)
{
	size_t n = strlen(name), need = w->len + 1 + n + 1;

	if (need > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(w->path, cap);
		if (!p)
			return -ENOMEM;
		w->path = p;
		w->cap = cap;
	}
	if (w->len)
		w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, n + 1);
	w->len += n;
	return 0;
}

static int add(struct walk *w, const struct stat *st)
{
	struct hl_index *h = w->h;
	char *p;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct rec *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	p = strdup(w->path);
	if (!p)
		return -ENOMEM;
	h->v[h->n++] = (struct rec){ .dev = st->st_dev, .ino = st->st_ino, .path = p };
	return 0;
}

/* Walk directory DFD (consumed), whose path is w->path. */
static int walk_dir(struct walk *w, int dfd)
{
	_cleanup_closedir_ DIR *dir = fdopendir(dfd);
	size_t len = w->len;
	struct dirent *de;
	int r = 0;

	if (!dir) {
		r = -errno;
		close(dfd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(dir))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR &&
		    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;       /* gone meanwhile: the image does not change, so none */
		r = path_push(w, de->d_name);
		if (r < 0)
			break;
		if (de->d_type == DT_DIR || S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(dir), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			r = sub < 0 ? 0 : walk_dir(w, sub);     /* unreadable: not walked */
		} else if (st.st_nlink > 1) {
			r = add(w, &st);
		}
		w->len = len;
		if (w->path)
			w->path[len] = '\0';
	}
	if (r == 0 && errno)
		r = -errno;
	return r;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int make(struct hl_index *h, int root)
{
	struct walk w = { .h = h };
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = walk_dir(&w, fd);
	free(w.path);
	if (r < 0)
		return r;
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), cmp_rec);
	h->paths = malloc((h->n ? h->n : 1) * sizeof(*h->paths));
	if (!h->paths)
		return -ENOMEM;
	for (size_t k = 0; k < h->n; k++)
		h->paths[k] = h->v[k].path;
	return 0;
}

int hl_names(struct hl_index *h, int root, dev_t dev, ino_t ino, const char *const **names,
	     size_t *n)
{
	size_t lo = 0, hi, end;
	int r = 0;

	*names = NULL;
	*n = 0;
	pthread_mutex_lock(&h->lock);
	if (!h->made) {
		r = make(h, root);
		if (r < 0) {    /* a partial index would miss names: none, and again next time */
			for (size_t k = 0; k < h->n; k++)
				free(h->v[k].path);
			h->n = 0;
		}
		h->made = r == 0;
	}
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		return r;
	hi = h->n;
	while (lo < hi) {       /* the first record not below (dev, ino) */
		size_t mid = lo + (hi - lo) / 2;
		const struct rec *m = &h->v[mid];

		if (m->dev < dev || (m->dev == dev && m->ino < ino))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < h->n && h->v[end].dev == dev && h->v[end].ino == ino; end++)
		;
	*names = h->paths + lo;
	*n = end - lo;
	return 0;
}
