/* closure.c — from recorded evidence to the set of kept paths (see ctx.h).
 *
 * Order matters and is:
 *   1. evidence: recorded paths with at least --keep evidence that exist in the image;
 *   2. created-in: the nearest existing directory above what the workload created;
 *   3. mount points: /proc /sys /dev /run /tmp, the image's or made up;
 *   3b. rules: --include-exe, --include-pkg, --include-preset (rules.c);
 *   4. --include: a walk of the image (the same walk counts the image for --stats
 *      and finds every name of multiply linked inodes; with neither --include nor
 *      --stats it only looks for the names of kept inodes the set lacks, and
 *      stats only the entries readdir says have such an inode number);
 *   5. --exclude: a path is dropped when it or a directory above it matches;
 *   6. hardlinks: every other name of a kept inode, unless excluded;
 *   7. ancestors: every directory above a kept path, with its own metadata;
 *   8. the package database (pkgdb.c), which needs the kept set and then settles what
 *      it added (closure_settle: exclusion, ancestors).
 * Ancestors come last so that they serve exactly what is kept; exclusion drops
 * whole subtrees, so no kept path sits below an excluded directory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "glob.h"

static const struct {
	const char *path;
	mode_t mode;
} mount_points[] = {
	{ "/dev", 0755 }, { "/proc", 0755 }, { "/run", 0755 }, { "/sys", 0755 }, { "/tmp", 01777 },
};

/* lstat entry I inside the root; 0 found, 1 missing, -1 error. */
static int resolve(struct export_ctx *c, size_t i, struct sfs_err *err)
{
	struct pent *e = &c->ps.v[i];
	struct stat st;
	int ret;

	if (e->flags & F_STAT)
		return 0;
	ret = image_lstat(&c->im, pent_path(&c->ps, e), e->len, &st, err);
	if (ret == 0)
		pent_set_stat(&c->ps.v[i], &st);
	else if (ret > 0)
		c->ps.v[i].flags |= F_MISSING;
	return ret;
}

static int keep_created_in(struct export_ctx *c, size_t i, struct sfs_err *err)
{
	uint32_t off = c->ps.v[i].off;
	size_t len = c->ps.v[i].len;

	for (;;) {
		const char *p = c->ps.arena + off;
		struct stat st;
		int ret = image_lstat(&c->im, p, len, &st, err);

		if (ret < 0)
			return -1;
		if (ret == 0 && S_ISDIR(st.st_mode)) {
			struct pent *e = pathset_add(&c->ps, off, len);

			e->why |= W_CREATED;
			pent_set_stat(e, &st);
			return 0;
		}
		len = path_parent_len(p, len);
		if (len == 0)
			return 0;
	}
}

static int add_mount_points(struct export_ctx *c, struct sfs_err *err)
{
	for (size_t m = 0; m < sizeof mount_points / sizeof mount_points[0]; m++) {
		const char *p = mount_points[m].path;
		size_t len = strlen(p);
		struct pent *e = pathset_add(&c->ps, pathset_intern(&c->ps, p, len), len);
		struct stat st;
		int ret;

		e->why |= W_MOUNT;
		ret = image_lstat(&c->im, p, len, &st, err);
		e = &c->ps.v[c->ps.n - 1];
		if (ret < 0)
			return -1;
		if (ret == 0) {
			pent_set_stat(e, &st);
			continue;
		}
		e->flags |= F_SYNTH;
		e->mode = S_IFDIR | mount_points[m].mode;
		e->nlink = 2;
	}
	return 0;
}

static int on_walk(void *ctx, const char *path, size_t len, const struct stat *st,
		   struct sfs_err *err)
{
	struct export_ctx *c = ctx;
	const struct export_opts *o = c->o;
	uint32_t off = UINT32_MAX;

	c->entries_total++;
	if (S_ISREG(st->st_mode)) {
		c->files_total++;
		if (st->st_nlink == 1)
			c->bytes_total += (uint64_t)st->st_size;
	}
	for (size_t i = 0; i < o->nincludes; i++) {
		if (glob_match(o->includes[i], path, len)) {
			struct pent *e;

			off = pathset_intern(&c->ps, path, len);
			e = pathset_add(&c->ps, off, len);
			e->why |= W_INCLUDE;
			pent_set_stat(e, st);
			break;
		}
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		struct hl_name *v;

		if ((c->nhl & (c->nhl - 1)) == 0) {   /* grow at powers of two */
			v = realloc(c->hl, (c->nhl ? c->nhl * 2 : 1) * sizeof *v);
			if (v == NULL)
				return sfs_fail(err, ENOMEM, "walking the image");
			c->hl = v;
		}
		if (off == UINT32_MAX)
			off = pathset_intern(&c->ps, path, len);
		c->hl[c->nhl++] = (struct hl_name){
			.dev = st->st_dev, .ino = st->st_ino, .size = (uint64_t)st->st_size,
			.off = off, .len = (uint16_t)len,
		};
	}
	return 0;
}

static int cmp_dev_ino(uint64_t dev_a, uint64_t ino_a, uint64_t dev_b, uint64_t ino_b)
{
	if (dev_a != dev_b)
		return dev_a < dev_b ? -1 : 1;
	return (ino_a > ino_b) - (ino_a < ino_b);
}

static int cmp_hl(const void *x, const void *y, void *arena)
{
	const struct hl_name *a = x, *b = y;
	int r = cmp_dev_ino(a->dev, a->ino, b->dev, b->ino);

	return r ? r : strcmp((const char *)arena + a->off, (const char *)arena + b->off);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

static bool want_lost(void *ctx, uint64_t d_ino)
{
	const struct export_ctx *c = ctx;

	return bsearch(&d_ino, c->lost_ino, c->nlost_ino, sizeof d_ino, cmp_u64) != NULL;
}

/* Fill c->lost_ino: the kept non-directories with more links than the set has
 * names for them.  When there is none, every name of every kept inode is already
 * in the set and no walk is needed for hardlinks. */
static int find_lost_links(struct export_ctx *c, struct sfs_err *err)
{
	_cleanup_free_ struct hl_name *v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];

		n += e->why && pent_multilinked(e);
	}
	if (n == 0)
		return 0;
	v = calloc(n, sizeof *v);
	c->lost_ino = calloc(n, sizeof *c->lost_ino);
	if (v == NULL || c->lost_ino == NULL)
		return sfs_fail(err, ENOMEM, "grouping hardlinks");
	n = 0;
	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];

		if (e->why && pent_multilinked(e))
			v[n++] = (struct hl_name){ .dev = e->dev, .ino = e->ino, .size = e->nlink,
						   .off = e->off, .len = e->len };
	}
	qsort_r(v, n, sizeof *v, cmp_hl, c->ps.arena);
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t names = 1;

		/* the set is not folded yet: count each path once */
		for (j = i + 1; j < n && v[j].dev == v[i].dev && v[j].ino == v[i].ino; j++)
			names += v[j].len != v[j - 1].len ||
				 memcmp(c->ps.arena + v[j].off, c->ps.arena + v[j - 1].off,
					v[j].len) != 0;
		if (names < v[i].size)
			c->lost_ino[c->nlost_ino++] = v[i].ino;
	}
	if (c->nlost_ino > 0)
		qsort(c->lost_ino, c->nlost_ino, sizeof *c->lost_ino, cmp_u64);
	return 0;
}

struct link {
	uint64_t dev, ino;
	size_t idx;
};

static int cmp_link(const void *x, const void *y)
{
	const struct link *a = x, *b = y;
	int r = cmp_dev_ino(a->dev, a->ino, b->dev, b->ino);

	return r ? r : (a->idx > b->idx) - (a->idx < b->idx);
}

/* The last pass over the kept set: sockets are dropped, and c->link_first says for
 * each entry which kept name of its inode comes first. */
static int finish_kept(struct export_ctx *c, struct sfs_err *err)
{
	struct pathset *ps = &c->ps;
	_cleanup_free_ struct link *links = NULL;
	size_t nlinks = 0, cap = 0;

	c->link_first = calloc(ps->n ? ps->n : 1, sizeof *c->link_first);
	if (c->link_first == NULL)
		return sfs_fail(err, ENOMEM, "grouping hardlinks");
	for (size_t i = 0; i < ps->n; i++) {
		struct pent *e = &ps->v[i];

		c->link_first[i] = i;
		if (!pent_kept(e) || !(e->flags & F_STAT))
			continue;
		/* A socket is a live endpoint of a process, not content: nothing to export. */
		if (S_ISSOCK(e->mode)) {
			if (!c->o->quiet)
				sfs_warn(c->o->prog, "%.*s: skipping socket", (int)e->len,
					 pent_path(ps, e));
			e->why = 0;
		} else if (pent_multilinked(e)) {
			if (nlinks == cap) {
				struct link *nl = reallocarray(links, cap ? cap * 2 : 64, sizeof *nl);

				if (nl == NULL)
					return sfs_fail(err, ENOMEM, "grouping hardlinks");
				links = nl;
				cap = cap ? cap * 2 : 64;
			}
			links[nlinks++] = (struct link){ e->dev, e->ino, i };
		}
	}
	if (nlinks > 1)
		qsort(links, nlinks, sizeof *links, cmp_link);
	for (size_t k = 1; k < nlinks; k++)
		if (links[k].dev == links[k - 1].dev && links[k].ino == links[k - 1].ino)
			c->link_first[links[k].idx] = c->link_first[links[k - 1].idx];
	return 0;
}

size_t closure_link_first(const struct export_ctx *c, size_t i)
{
	return c->link_first[i];
}

/* FULL: every entry (totals for --stats, --include); else only the lost links. */
static int walk_image(struct export_ctx *c, bool full, struct sfs_err *err)
{
	if (image_walk(&c->im, full ? NULL : want_lost, on_walk, c, err) < 0)
		return -1;
	if (c->nhl > 0)
		qsort_r(c->hl, c->nhl, sizeof *c->hl, cmp_hl, c->ps.arena);
	for (size_t i = 0; i < c->nhl; i++)   /* each multiply linked inode's bytes once */
		if (i == 0 || c->hl[i].dev != c->hl[i - 1].dev || c->hl[i].ino != c->hl[i - 1].ino)
			c->bytes_total += c->hl[i].size;
	c->walked = true;
	return 0;
}

bool closure_excluded(const struct export_ctx *c, const char *path, size_t len,
		      const char **pattern)
{
	const struct export_opts *o = c->o;

	/* --package-db none: as if /var/lib/dpkg were excluded */
	if (o->package_db == EXPORT_PKGDB_NONE &&
	    path_is_at_or_above("/var/lib/dpkg", 13, path, len)) {
		if (pattern)
			*pattern = "/var/lib/dpkg (--package-db none)";
		return true;
	}
	if (o->nexcludes == 0)
		return false;
	/* The path itself or any directory above it (not "/": excluding the root
	 * would leave nothing). */
	for (size_t l = len; l > 1; l = path_parent_len(path, l)) {
		for (size_t i = 0; i < o->nexcludes; i++) {
			if (glob_match(o->excludes[i], path, l)) {
				if (pattern)
					*pattern = o->excludes[i];
				return true;
			}
		}
	}
	return false;
}

static void mark_excluded(struct export_ctx *c, size_t from)
{
	for (size_t i = from; i < c->ps.n; i++) {
		struct pent *e = &c->ps.v[i];

		if (closure_excluded(c, pent_path(&c->ps, e), e->len, NULL))
			e->flags |= F_EXCLUDED;
	}
}

static int cmp_key(const void *k, const void *y)
{
	const struct hl_name *a = k, *b = y;

	return cmp_dev_ino(a->dev, a->ino, b->dev, b->ino);
}

static void add_hardlinks(struct export_ctx *c)
{
	size_t n = c->ps.n, first = c->ps.n;

	if (c->nhl == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct pent e = c->ps.v[i];
		struct hl_name key = { .dev = e.dev, .ino = e.ino }, *h;

		if (!pent_kept(&e) || !pent_multilinked(&e))
			continue;
		h = bsearch(&key, c->hl, c->nhl, sizeof *c->hl, cmp_key);
		if (h == NULL)
			continue;
		while (h > c->hl && cmp_key(&key, h - 1) == 0)
			h--;
		for (; h < c->hl + c->nhl && cmp_key(&key, h) == 0; h++) {
			struct pent *ne = pathset_add(&c->ps, h->off, h->len);

			ne->why |= W_HARDLINK;
			ne->flags |= F_STAT;
			pent_copy_meta(ne, &e);
		}
	}
	mark_excluded(c, first);
}

static void add_ancestors(struct export_ctx *c)
{
	size_t n = c->ps.n;
	const char *last = NULL;
	size_t lastlen = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t off = c->ps.v[i].off;
		size_t len = c->ps.v[i].len;
		const char *p = c->ps.arena + off;

		if (!pent_kept(&c->ps.v[i]))
			continue;
		for (size_t l = path_parent_len(p, len); l > 0; l = path_parent_len(p, l)) {
			if (last && path_is_at_or_above(p, l, last, lastlen))
				break;   /* it and everything above were added for LAST */
			pathset_add(&c->ps, off, l)->why |= W_ANCESTOR;
		}
		last = p;
		lastlen = len;
	}
}

/* Add the ancestors of what is kept and stat every kept path not stat-ed yet. */
static int stat_ancestors(struct export_ctx *c, struct sfs_err *err)
{
	add_ancestors(c);
	pathset_sort(&c->ps);
	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];
		int ret;

		if (!e->why || (e->flags & (F_STAT | F_SYNTH)))
			continue;
		ret = resolve(c, i, err);
		if (ret < 0)
			return -1;
		if (ret > 0)
			return sfs_fail(err, ENOENT, "%.*s in image %s changed during the export",
					(int)e->len, pent_path(&c->ps, e), c->imagedir);
	}
	return 0;
}

int closure_compute(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;
	size_t n = c->ps.n;
	bool full_walk = o->nincludes > 0 || o->stats;

	for (size_t i = 0; i < n; i++) {
		struct pent *e = &c->ps.v[i];
		int ret;

		if ((e->flags & F_RECORDED) && e->ev >= o->keep) {
			ret = resolve(c, i, err);
			if (ret < 0)
				return -1;
			if (ret == 0)
				c->ps.v[i].why |= W_EVIDENCE;
		}
		if ((c->ps.v[i].flags & F_CREATED_IN) && keep_created_in(c, i, err) < 0)
			return -1;
	}
	if (add_mount_points(c, err) < 0)
		return -1;
	if (rules_apply(c, err) < 0)
		return -1;
	if (!full_walk && find_lost_links(c, err) < 0)
		return -1;
	if ((full_walk || c->nlost_ino > 0) && walk_image(c, full_walk, err) < 0)
		return -1;
	pathset_sort(&c->ps);
	mark_excluded(c, 0);
	if (c->walked) {
		add_hardlinks(c);
		pathset_sort(&c->ps);
	}
	if (stat_ancestors(c, err) < 0 || pkgdb_apply(c, err) < 0)
		return -1;
	return finish_kept(c, err);
}

int closure_settle(struct export_ctx *c, struct sfs_err *err)
{
	pathset_sort(&c->ps);
	mark_excluded(c, 0);
	return stat_ancestors(c, err);
}
