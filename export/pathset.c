/* pathset.c — arena-backed, sortable set of image paths (see pathset.h).
 *
 * Memory: one byte per path byte plus one struct pent (72 bytes) per entry; the
 * arena and the entry array grow by doubling.  Out of memory aborts: the exporter
 * cannot do anything useful without its path set.
 *
 * Sorting is incremental: entries [0, nsorted) are sorted and folded since the
 * last pathset_sort(), so only what was appended since is sorted (usually a few
 * ancestors or hardlinks; the trace gives its paths already in order) and then
 * merged in, instead of sorting the whole set again.
 */
#include "pathset.h"

#include "common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void pathset_free(struct pathset *ps)
{
	free(ps->arena);
	free(ps->v);
	memset(ps, 0, sizeof *ps);
}

uint32_t pathset_intern(struct pathset *ps, const char *path, size_t len)
{
	uint32_t off;

	if (ps->arena_len + len + 1 > ps->arena_cap) {
		size_t cap = ps->arena_cap ? ps->arena_cap : 1 << 16;

		while (cap < ps->arena_len + len + 1)
			cap *= 2;
		if (cap > UINT32_MAX) {
			fputs("slimfs-export: too many paths\n", stderr);
			abort();
		}
		ps->arena = xrealloc(ps->arena, cap);
		ps->arena_cap = cap;
	}
	off = (uint32_t)ps->arena_len;
	memcpy(ps->arena + off, path, len);
	ps->arena[off + len] = '\0';
	ps->arena_len += len + 1;
	return off;
}

void pent_set_stat(struct pent *e, const struct stat *st)
{
	e->flags |= F_STAT;
	e->flags &= (uint8_t)~F_MISSING;
	e->mode = st->st_mode;
	e->nlink = (uint32_t)st->st_nlink;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev : 0;
}

struct pent *pathset_add(struct pathset *ps, uint32_t off, size_t len)
{
	struct pent *e;

	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 1024;
		ps->v = xrealloc(ps->v, ps->cap * sizeof *ps->v);
	}
	e = &ps->v[ps->n++];
	memset(e, 0, sizeof *e);
	e->off = off;
	e->len = (uint16_t)(len > PATHSET_MAX_LEN ? PATHSET_MAX_LEN : len);
	return e;
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int cmp_pent(const void *x, const void *y, void *arena)
{
	const struct pent *a = x, *b = y;
	const char *base = arena;

	return cmp_bytes(base + a->off, a->len, base + b->off, b->len);
}

static bool is_sorted(const struct pathset *ps, size_t from, size_t to)
{
	for (size_t i = from + 1; i < to; i++)
		if (cmp_pent(&ps->v[i - 1], &ps->v[i], ps->arena) > 0)
			return false;
	return true;
}

/* Merge the sorted runs [0, M) and [M, N) in place, from the back, with a copy of
 * the (usually short) second run. */
static void merge_tail(struct pathset *ps, size_t m)
{
	size_t n = ps->n, k = n - m, i = m, j = k, o = n;
	struct pent *tail = xrealloc(NULL, k * sizeof *tail);

	memcpy(tail, ps->v + m, k * sizeof *tail);
	while (j > 0) {
		if (i > 0 && cmp_pent(&ps->v[i - 1], &tail[j - 1], ps->arena) > 0)
			ps->v[--o] = ps->v[--i];
		else
			ps->v[--o] = tail[--j];
	}
	free(tail);
}

void pathset_sort(struct pathset *ps)
{
	size_t i, j, m = ps->nsorted;

	if (m >= ps->n)
		return;   /* nothing appended since the last sort */
	if (!is_sorted(ps, m, ps->n))
		qsort_r(ps->v + m, ps->n - m, sizeof *ps->v, cmp_pent, ps->arena);
	if (m > 0 && cmp_pent(&ps->v[m - 1], &ps->v[m], ps->arena) > 0)
		merge_tail(ps, m);
	for (i = 0, j = 1; j < ps->n; j++) {
		struct pent *a = &ps->v[i], *b = &ps->v[j];

		if (cmp_pent(a, b, ps->arena) != 0) {
			ps->v[++i] = *b;
			continue;
		}
		if (b->ev > a->ev)
			a->ev = b->ev;
		a->why |= b->why;
		/* the image's stat wins; else a made-up mount point's (a recorded path
		 * that is not in the image has no mode of its own) */
		if (!(a->flags & F_STAT) && ((b->flags & F_STAT) ||
					     ((b->flags & F_SYNTH) && !(a->flags & F_SYNTH)))) {
			pent_copy_meta(a, b);
		}
		a->flags |= b->flags;
		if (a->flags & F_STAT)  /* a path found in the image is not missing */
			a->flags &= (uint8_t)~F_MISSING;
	}
	ps->n = i + 1;
	ps->nsorted = ps->n;
}

ssize_t pathset_find(const struct pathset *ps, const char *path, size_t len)
{
	size_t lo = 0, hi = ps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pent *e = &ps->v[mid];
		int c = cmp_bytes(ps->arena + e->off, e->len, path, len);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

size_t path_parent_len(const char *path, size_t len)
{
	if (len <= 1)
		return 0;
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : 1;
}

bool path_is_at_or_above(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen > blen || memcmp(a, b, alen) != 0)
		return false;
	return alen == blen || alen == 1 || b[alen] == '/';
}

bool path_is_clean(const char *path, size_t len)
{
	size_t i = 1;

	if (len == 0 || len > PATHSET_MAX_LEN || path[0] != '/')
		return false;
	if (len == 1)
		return true;
	if (path[len - 1] == '/' || memchr(path, '\0', len) != NULL)
		return false;
	while (i < len) {
		const char *c = path + i;
		const char *e = memchr(c, '/', len - i);
		size_t clen = e ? (size_t)(e - c) : len - i;

		if (clen == 0 || (clen == 1 && c[0] == '.') ||
		    (clen == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		i += clen + 1;
	}
	return true;
}
