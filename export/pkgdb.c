/* pkgdb.c — --package-db: a package database in the lean image that tells the truth.
 *
 * trimmed (default), on an image with /var/lib/dpkg/status:
 *   1. /etc/os-release (with /usr/lib/os-release it points to) and /etc/debian_version
 *      are kept.
 *   2. A present package is kept when one of its files is: a line of its info/NAME.list
 *      that no line of any package's list lies below (a directory line is not a file;
 *      usrmerge turned /lib, /bin, ... into symlinks the lists still name), taken through
 *      dpkg's diversions, whose object — the line's parent directory resolved inside the
 *      image, then its last component, not followed — is kept and is not a directory.
 *      For every file line of a kept package whose object is kept, the walk to it is
 *      kept too (usrmerge's /bin -> usr/bin, ...), so the line resolves in the lean
 *      image.  Repeated until no package is added (a kept symlink may be a file of
 *      another package).
 *   3. Generated (the image is never modified; the archive holds new content under the
 *      image's names and metadata): status — the kept packages' stanzas verbatim, in
 *      the image's order, except that a Conffiles field keeps only lines of kept
 *      conffiles; available — the stanzas of kept package names; info/STEM.list,
 *      .md5sums and .conffiles of each kept package with only the lines whose path
 *      resolves in the lean image (every directory and symlink on the way kept).
 *   4. info/format and diversions are kept as they are; other database files a trace
 *      recorded stay, but status-old and its kin, the updates/ journal (folded into
 *      status) and the lists of packages not kept are dropped.
 * full: every file below /var/lib/dpkg, and the release files.  none: nothing below
 * /var/lib/dpkg (closure_excluded).  An image without /var/lib/dpkg/status is left as
 * the traces say, in every mode.  What Trivy and Syft/Grype read, and why this is what
 * they need, is in docs/export-rules.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "dpkg.h"
#include "resolve.h"

#define RULE "package-db"

/* The dpkg database's directory, resolved in the image (keep_dbdir). */
static const char *dbdir(const struct export_ctx *c)
{
	return c->dbdir ? c->dbdir : DPKG_DIR;
}

/* DIR/REL in OUT (PATH_MAX bytes), DIR being dbdir(); false if it does not fit. */
static bool db_path(const struct export_ctx *c, char *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool db_path(const struct export_ctx *c, char *out, const char *fmt, ...)
{
	const char *d = dbdir(c);
	size_t n = d[1] ? strlen(d) : 0;   /* "/": no prefix before the '/' */
	va_list ap;
	int r;

	if (n + 1 >= PATH_MAX)
		return false;
	memcpy(out, d, n);
	out[n] = '/';
	va_start(ap, fmt);
	r = vsnprintf(out + n + 1, PATH_MAX - n - 1, fmt, ap);
	va_end(ap);
	return r >= 0 && (size_t)r < PATH_MAX - n - 1;
}

/* A line of a list buffer. */
struct line {
	const char *s;
	size_t len;
};

struct pkgdb {
	struct export_ctx *c;
	struct dpkg_db *db;
	char **list;          /* by package: its info/NAME.list, NULL if none */
	size_t *listlen;
	struct line *dirs;    /* every line some list has a line below: sorted, unique */
	size_t ndirs;
	/* the last parent directory resolved (lists are grouped by directory) */
	char parent[PATH_MAX];
	size_t plen;
	int pstate;           /* 0 resolves (real[] filled), 1 does not, -1 unknown */
	char real[PATH_MAX];
	size_t rlen;
	int plean;            /* the walk to it is kept: 1 yes, 0 no, -1 not checked */
	char detail[PATH_MAX + NAME_MAX + 64];
};

static int keep_visit(void *ctx, const char *path, size_t len, const struct stat *st,
		      struct sfs_err *err)
{
	struct pkgdb *p = ctx;

	return ctx_keep(p->c, W_PKGDB, RULE, path, len, st, p->detail, err);
}

static bool kept(const struct export_ctx *c, const char *path, size_t len, bool *dir)
{
	ssize_t i = pathset_find(&c->ps, path, len);

	if (i < 0 || !pent_kept(&c->ps.v[i]))
		return false;
	if (dir)
		*dir = (c->ps.v[i].flags & F_STAT) && S_ISDIR(c->ps.v[i].mode);
	return true;
}

static int keep_release(struct pkgdb *p, struct sfs_err *err)
{
	static const char *const files[] = { "/etc/os-release", "/etc/debian_version" };
	struct resolved r;

	snprintf(p->detail, sizeof p->detail, "the distribution's release files");
	for (size_t i = 0; i < 2; i++)
		if (image_resolve(&p->c->im, files[i], RESOLVE_FOLLOW, keep_visit, p, &r, err) < 0)
			return -1;
	return 0;
}

/* The object of list line PATH (diversions applied) in OUT: 0, 1 not in the image. */
static int object_of(struct pkgdb *p, size_t pkg, const char *line, size_t ll, char *out,
		     size_t *outlen, struct sfs_err *err)
{
	char path[PATH_MAX];
	const char *q;
	size_t qlen, plen, nlen;
	struct resolved r;

	if (ll >= sizeof path)
		return 1;
	memcpy(path, line, ll);
	path[ll] = '\0';
	q = dpkg_divert(p->db, pkg, path);
	qlen = strlen(q);
	if (!path_is_clean(q, qlen) || qlen == 1)
		return 1;
	plen = path_parent_len(q, qlen);
	nlen = qlen - plen - (plen > 1);
	if (p->pstate < 0 || p->plen != plen || memcmp(p->parent, q, plen) != 0) {
		int ret;

		memcpy(p->parent, q, plen);
		p->parent[plen] = '\0';
		p->plen = plen;
		p->plean = -1;
		ret = image_resolve(&p->c->im, p->parent, RESOLVE_FOLLOW, NULL, NULL, &r, err);
		if (ret < 0)
			return -1;
		p->pstate = ret;
		if (ret == 0) {
			memcpy(p->real, r.path, r.len + 1);
			p->rlen = r.len;
		}
	}
	if (p->pstate != 0 || (p->rlen > 1 ? p->rlen + 1 : 1) + nlen >= PATH_MAX)
		return 1;
	*outlen = (size_t)snprintf(out, PATH_MAX, "%s/%s", p->rlen > 1 ? p->real : "",
				   q + qlen - nlen);
	return 0;
}

struct lean_check {
	struct export_ctx *c;
	bool ok;
};

static int check_kept(void *ctx, const char *path, size_t len, const struct stat *st,
		      struct sfs_err *err)
{
	struct lean_check *l = ctx;

	(void)st;
	(void)err;
	if (!kept(l->c, path, len, NULL))
		l->ok = false;
	return 0;
}

/* Does list line LINE of package PKG resolve in the lean image? */
static int in_lean(struct pkgdb *p, size_t pkg, const char *line, size_t ll, struct sfs_err *err)
{
	char obj[PATH_MAX];
	size_t olen;
	int ret = object_of(p, pkg, line, ll, obj, &olen, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (p->plean < 0) {
		struct lean_check l = { p->c, true };
		struct resolved r;

		ret = image_resolve(&p->c->im, p->parent, RESOLVE_FOLLOW, check_kept, &l, &r, err);
		if (ret < 0)
			return -1;
		p->plean = ret == 0 && l.ok;
	}
	return p->plean && kept(p->c, obj, olen, NULL);
}

static int cmp_lines(const void *a, const void *b)
{
	const struct line *x = a, *y = b;
	int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

	return r ? r : (x->len > y->len) - (x->len < y->len);
}

static bool is_dir_line(const struct pkgdb *p, const char *s, size_t len)
{
	struct line key = { s, len };

	return p->ndirs > 0 && bsearch(&key, p->dirs, p->ndirs, sizeof key, cmp_lines) != NULL;
}

/* p->dirs: every parent of every line of every list, sorted and unique. */
static int collect_dirs(struct pkgdb *p, struct sfs_err *err)
{
	size_t cap = 0, k = 0;

	for (size_t i = 0; i < p->db->n; i++) {
		size_t pos = 0, ll;
		const char *l;

		while (p->list[i] && dpkg_line(p->list[i], p->listlen[i], &pos, &l, &ll)) {
			if (ll < 2 || l[0] != '/')
				continue;
			for (size_t pl = path_parent_len(l, ll); pl > 1; pl = path_parent_len(l, pl)) {
				if (p->ndirs == cap) {
					struct line *v = realloc(p->dirs, (cap = cap ? cap * 2 : 1024) *
								 sizeof *v);

					if (v == NULL)
						return sfs_fail(err, ENOMEM, "reading package lists");
					p->dirs = v;
				}
				p->dirs[p->ndirs++] = (struct line){ l, pl };
			}
		}
	}
	if (p->ndirs == 0)
		return 0;
	qsort(p->dirs, p->ndirs, sizeof *p->dirs, cmp_lines);
	for (size_t i = 1; i < p->ndirs; i++)
		if (cmp_lines(&p->dirs[i], &p->dirs[k]) != 0)
			p->dirs[++k] = p->dirs[i];
	p->ndirs = k + 1;
	return 0;
}

/* The file lines of package I's list: the lines that are not directory lines. */
static int file_lines(const struct pkgdb *p, size_t i, const char ***out, size_t *n,
		      struct sfs_err *err)
{
	size_t pos = 0, ll, cap = 0;
	const char *l;
	const char **v = NULL;

	*n = 0;
	*out = NULL;
	while (dpkg_line(p->list[i], p->listlen[i], &pos, &l, &ll)) {
		if (ll == 0 || l[0] != '/' || (ll == 2 && l[1] == '.') || is_dir_line(p, l, ll))
			continue;
		if (*n == cap) {
			const char **nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *v);

			if (nv == NULL) {
				free(v);
				return sfs_fail(err, ENOMEM, "reading package lists");
			}
			v = nv;
		}
		v[(*n)++] = l;
	}
	*out = v;
	return 0;
}

/* Is package I kept: one of its file lines' objects kept and not a directory? */
static int package_kept(struct pkgdb *p, size_t i, const char **lines, size_t n,
			struct sfs_err *err)
{
	for (size_t k = 0; k < n; k++) {
		char obj[PATH_MAX];
		size_t olen;
		bool dir = false;
		int ret = object_of(p, i, lines[k], strcspn(lines[k], "\n"), obj, &olen, err);

		if (ret < 0)
			return -1;
		if (ret == 0 && kept(p->c, obj, olen, &dir) && !dir)
			return 1;
	}
	return 0;
}

/* The walk to each file line of package I whose object is kept. */
static int keep_walks(struct pkgdb *p, size_t i, const char **lines, size_t n,
		      struct sfs_err *err)
{
	const struct dpkg_pkg *pk = &p->db->v[i];

	for (size_t k = 0; k < n; k++) {
		char obj[PATH_MAX], path[PATH_MAX];
		size_t olen, ll = strcspn(lines[k], "\n");
		struct resolved r;
		int ret = object_of(p, i, lines[k], ll, obj, &olen, err);

		if (ret < 0)
			return -1;
		if (ret > 0 || !kept(p->c, obj, olen, NULL) || ll >= sizeof path)
			continue;
		memcpy(path, lines[k], ll);
		path[ll] = '\0';
		snprintf(p->detail, sizeof p->detail, "the walk to %s, a file of package %s:%s",
			 path, pk->name, pk->arch);
		if (image_resolve(&p->c->im, dpkg_divert(p->db, i, path), 0, keep_visit, p, &r,
				  err) < 0)
			return -1;
	}
	return 0;
}

/* Steps 2: which packages are kept, to a fixed point. */
static int mark_packages(struct pkgdb *p, struct sfs_err *err)
{
	struct dpkg_db *db = p->db;

	for (size_t i = 0; i < db->n; i++) {
		db->v[i].mark = 0;
		if (!db->v[i].present)
			continue;
		p->c->pkgs_total++;
		if (dpkg_info(db, i, "list", &p->list[i], &p->listlen[i], err) < 0)
			return -1;
	}
	if (collect_dirs(p, err) < 0)
		return -1;
	for (int round = 0; round < 8; round++) {
		size_t added = 0;

		for (size_t i = 0; i < db->n; i++) {
			_cleanup_free_ const char **lines = NULL;
			size_t n;
			int ret;

			if (db->v[i].mark || p->list[i] == NULL)
				continue;
			if (file_lines(p, i, &lines, &n, err) < 0)
				return -1;
			ret = package_kept(p, i, lines, n, err);
			if (ret < 0)
				return -1;
			if (ret > 0) {
				db->v[i].mark = 2;   /* kept this round: its walks still to add */
				added++;
			}
		}
		if (added == 0)
			break;
		for (size_t i = 0; i < db->n; i++) {
			_cleanup_free_ const char **lines = NULL;
			size_t n;

			if (db->v[i].mark != 2)
				continue;
			db->v[i].mark = 1;
			if (file_lines(p, i, &lines, &n, err) < 0 ||
			    keep_walks(p, i, lines, n, err) < 0)
				return -1;
		}
		if (closure_settle(p->c, err) < 0)
			return -1;
		p->pstate = -1;   /* the set changed: walks are checked again */
	}
	for (size_t i = 0; i < db->n; i++)
		p->c->pkgs_kept += db->v[i].mark == 1;
	return 0;
}

/* ---- generated files ---- */

struct buf {
	char *d;
	size_t n, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		char *d;

		while (cap < b->n + n + 1)
			cap *= 2;
		d = realloc(b->d, cap);
		if (d == NULL)
			return -1;
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->n, s, n);
	b->n += n;
	b->d[b->n] = '\0';
	return 0;
}

static int add_gen(struct export_ctx *c, const char *path, struct buf *b, struct sfs_err *err)
{
	struct gen_file *v = realloc(c->gen, (c->ngen + 1) * sizeof *v);

	if (v == NULL)
		return sfs_fail(err, ENOMEM, "writing the package database");
	c->gen = v;
	v = &v[c->ngen];
	v->path = strdup(path);
	v->data = b->d ? b->d : strdup("");
	v->size = b->n;
	b->d = NULL;
	b->n = b->cap = 0;
	if (v->path == NULL || v->data == NULL) {
		free(v->path);
		free(v->data);
		return sfs_fail(err, ENOMEM, "writing the package database");
	}
	c->ngen++;
	return 0;
}

/* Stanza ST with its Conffiles field trimmed to kept conffiles of package I. */
static int put_stanza(struct pkgdb *p, size_t i, const struct deb822_stanza *st, struct buf *b,
		      struct sfs_err *err)
{
	struct deb822_field f;
	size_t pos = 0;

	while (deb822_field_next(st, &pos, &f)) {
		size_t lp = 0, ll;
		const char *l;
		struct buf cf = { 0 };
		bool any = false;

		if (!(f.namelen == 9 && strncasecmp(f.name, "Conffiles", 9) == 0)) {
			if (put(b, f.raw, f.rawlen) < 0)
				return sfs_fail(err, ENOMEM, "writing the package database");
			continue;
		}
		/* "Conffiles:" then " /etc/x HASH [obsolete|remove-on-upgrade]" lines */
		dpkg_line(f.raw, f.rawlen, &lp, &l, &ll);
		if (put(&cf, l, ll) < 0 || put(&cf, "\n", 1) < 0)
			goto oom;
		while (dpkg_line(f.raw, f.rawlen, &lp, &l, &ll)) {
			const char *w;
			size_t wl;
			int ret;

			if (!deb822_word(l, ll, 0, &w, &wl))
				continue;
			ret = in_lean(p, i, w, wl, err);
			if (ret < 0) {
				free(cf.d);
				return -1;
			}
			if (ret == 0)
				continue;
			if (put(&cf, l, ll) < 0 || put(&cf, "\n", 1) < 0)
				goto oom;
			any = true;
		}
		if (any && put(b, cf.d, cf.n) < 0)
			goto oom;
		free(cf.d);
		continue;
oom:
		free(cf.d);
		return sfs_fail(err, ENOMEM, "writing the package database");
	}
	if (st->len == 0 || st->start[st->len - 1] != '\n')
		if (put(b, "\n", 1) < 0)
			return sfs_fail(err, ENOMEM, "writing the package database");
	return put(b, "\n", 1) < 0 ? sfs_fail(err, ENOMEM, "writing the package database") : 0;
}

/* info/STEM.EXT of package I with only the lines that resolve in the lean image. */
static int gen_info(struct pkgdb *p, size_t i, const char *ext, struct sfs_err *err)
{
	_cleanup_free_ char *in = NULL;
	struct buf b = { 0 };
	size_t len, pos = 0, ll;
	const char *l;
	char path[PATH_MAX];
	int ret = dpkg_info(p->db, i, ext, &in, &len, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	while (dpkg_line(in, len, &pos, &l, &ll)) {
		char fp[PATH_MAX];
		const char *f = l;
		size_t fl = ll;

		if (strcmp(ext, "md5sums") == 0) {
			/* "HASH  path/without/leading/slash" */
			const char *sp = memchr(l, ' ', ll);

			if (sp == NULL)
				continue;
			while (sp < l + ll && *sp == ' ')
				sp++;
			fl = (size_t)(l + ll - sp);
			if (fl + 2 > sizeof fp)
				continue;
			fp[0] = '/';
			memcpy(fp + 1, sp, fl);
			f = fp;
			fl++;
		} else if (strcmp(ext, "conffiles") == 0 && ll > 0 && l[0] != '/') {
			const char *sp = memchr(l, ' ', ll);   /* "remove-on-upgrade /etc/x" */

			if (sp == NULL)
				continue;
			fl = (size_t)(l + ll - sp - 1);
			f = sp + 1;
		}
		if (ll == 2 && l[0] == '/' && l[1] == '.')
			ret = 1;   /* the list's "/." */
		else
			ret = in_lean(p, i, f, fl, err);
		if (ret < 0) {
			free(b.d);
			return -1;
		}
		if (ret > 0 && (put(&b, l, ll) < 0 || put(&b, "\n", 1) < 0)) {
			free(b.d);
			return sfs_fail(err, ENOMEM, "writing the package database");
		}
	}
	if (strcmp(ext, "list") != 0 && b.n == 0)
		return 0;   /* no regular file or conffile kept: no md5sums or conffiles file */
	if (!db_path(p->c, path, "info/%s.%s", p->db->v[i].info, ext)) {
		free(b.d);
		return 0;
	}
	return add_gen(p->c, path, &b, err);
}

static int gen_status(struct pkgdb *p, struct sfs_err *err)
{
	struct buf b = { 0 };

	for (size_t i = 0; i < p->db->n; i++)
		if (p->db->v[i].mark == 1 && put_stanza(p, i, &p->db->v[i].st, &b, err) < 0) {
			free(b.d);
			return -1;
		}
	char path[PATH_MAX];

	db_path(p->c, path, "status");
	return add_gen(p->c, path, &b, err);
}

static int gen_available(struct pkgdb *p, struct sfs_err *err)
{
	char path[PATH_MAX];
	_cleanup_free_ char *in = NULL;
	struct buf b = { 0 };
	struct deb822_stanza st;
	size_t len, pos = 0, line = 1, bad;
	struct resolved r;
	int ret;

	db_path(p->c, path, "available");
	ret = image_resolve(&p->c->im, path, 0, NULL, NULL, &r, err);
	if (ret != 0 || !S_ISREG(r.st.st_mode))
		return ret < 0 ? -1 : 0;
	ret = image_read_file(&p->c->im, path, 256u << 20, &in, &len, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	while ((ret = deb822_next(in, len, &pos, &line, &st, &bad)) > 0) {
		struct deb822_field f;
		bool keep = false;

		if (!deb822_get(&st, "Package", &f))
			continue;
		for (size_t i = 0; i < p->db->n && !keep; i++)
			keep = p->db->v[i].mark == 1 && strlen(p->db->v[i].name) == f.vlen &&
			       memcmp(p->db->v[i].name, f.value, f.vlen) == 0;
		if (keep && (put(&b, st.start, st.len) < 0 ||
			     (st.start[st.len - 1] != '\n' && put(&b, "\n", 1) < 0) ||
			     put(&b, "\n", 1) < 0)) {
			free(b.d);
			return sfs_fail(err, ENOMEM, "writing the package database");
		}
	}
	if (ret < 0) {
		free(b.d);
		return sfs_fail(err, 0, "%s in image %s, line %zu: not a field of a stanza (use "
				"--package-db full or none to export it as it is)", path,
				p->c->imagedir, bad);
	}
	return add_gen(p->c, path, &b, err);
}

static int cmp_gen(const void *a, const void *b)
{
	return strcmp(((const struct gen_file *)a)->path, ((const struct gen_file *)b)->path);
}

const struct gen_file *ctx_gen(const struct export_ctx *c, const char *path, size_t len)
{
	size_t lo = 0, hi = c->ngen;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *g = c->gen[mid].path;
		int r = strncmp(g, path, len);

		if (r == 0)
			r = g[len] != '\0';
		if (r == 0)
			return &c->gen[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A database file the trimmed database replaces or drops (not one it generates). */
static bool stale(const struct export_ctx *c, const char *path, size_t len)
{
	static const char *const exts[] = { ".list", ".md5sums", ".conffiles" };
	const char *dir = dbdir(c);
	size_t dl = strlen(dir) + (dir[1] != '\0');   /* with its '/' ("/" has one) */
	const char *rel = path + dl;
	size_t rl = len - dl;

	if (len <= dl || memcmp(path, dir, dl - (dir[1] != '\0')) != 0 || path[dl - 1] != '/' ||
	    ctx_gen(c, path, len))
		return false;
	if ((rl == 6 && memcmp(rel, "status", 6) == 0) || (rl == 9 && memcmp(rel, "available", 9) == 0))
		return true;
	if (rl > 4 && memcmp(rel + rl - 4, "-old", 4) == 0 && memchr(rel, '/', rl) == NULL)
		return true;
	if (rl > 8 && memcmp(rel, "updates/", 8) == 0)
		return true;
	if (rl > 5 && memcmp(rel, "info/", 5) == 0 && memchr(rel + 5, '/', rl - 5) == NULL)
		for (size_t k = 0; k < 3; k++) {
			size_t el = strlen(exts[k]);

			if (rl > 5 + el && memcmp(rel + rl - el, exts[k], el) == 0)
				return true;
		}
	return false;
}

const char *pkgdb_left_out(const struct export_ctx *c, const char *path, size_t len)
{
	if (c->o->package_db == EXPORT_PKGDB_NONE &&
	    path_is_at_or_above(DPKG_DIR, sizeof DPKG_DIR - 1, path, len))
		return "--package-db none: the image's package database is left out";
	if (c->o->package_db == EXPORT_PKGDB_TRIMMED && c->db_state == 1 && stale(c, path, len))
		return "--package-db trimmed: the trimmed package database replaces or drops it";
	return NULL;
}

static int keep_gen(struct pkgdb *p, struct sfs_err *err)
{
	struct export_ctx *c = p->c;

	if (c->ngen > 1)
		qsort(c->gen, c->ngen, sizeof *c->gen, cmp_gen);
	/* drop what the generated database replaces, before adding it */
	for (size_t i = 0; i < c->ps.n; i++) {
		struct pent *e = &c->ps.v[i];

		if (pent_kept(e) && stale(c, pent_path(&c->ps, e), e->len))
			e->flags |= F_EXCLUDED;
	}
	snprintf(p->detail, sizeof p->detail, "trimmed dpkg database: %zu of %zu packages",
		 c->pkgs_kept, c->pkgs_total);
	for (size_t i = 0; i < c->ngen; i++) {
		struct stat st;
		int ret = image_lstat(&c->im, c->gen[i].path, strlen(c->gen[i].path), &st, err);

		if (ret < 0)
			return -1;
		if (ret > 0 || !S_ISREG(st.st_mode))
			return sfs_fail(err, 0, "%s in image %s changed during the export",
					c->gen[i].path, c->imagedir);
		if (keep_visit(p, c->gen[i].path, strlen(c->gen[i].path), &st, err) < 0)
			return -1;
	}
	{
		static const char *const asis[] = { "info/format", "diversions", "updates" };

		for (size_t i = 0; i < 3; i++) {
			char path[PATH_MAX];
			struct stat st;
			int ret;

			db_path(c, path, "%s", asis[i]);
			ret = image_lstat(&c->im, path, strlen(path), &st, err);
			if (ret < 0)
				return -1;
			if (ret == 0 && keep_visit(p, path, strlen(path), &st, err) < 0)
				return -1;
		}
	}
	if (closure_settle(c, err) < 0)
		return -1;
	/* the members' sizes are the generated contents' (the image's lstat gave the rest) */
	for (size_t i = 0; i < c->ngen; i++) {
		ssize_t k = pathset_find(&c->ps, c->gen[i].path, strlen(c->gen[i].path));

		if (k < 0)
			continue;
		c->ps.v[k].flags |= F_GEN;
		c->ps.v[k].size = c->gen[i].size;
		c->ps.v[k].nlink = 1;
	}
	return 0;
}

/* Where /var/lib/dpkg is in the image (it may be a symlink): the walk to it is kept, and
 * the generated files go there. */
static int keep_dbdir(struct pkgdb *p, struct sfs_err *err)
{
	struct resolved r;
	int ret;

	snprintf(p->detail, sizeof p->detail, "the walk to the dpkg database");
	ret = image_resolve(&p->c->im, DPKG_DIR, RESOLVE_FOLLOW, keep_visit, p, &r, err);
	if (ret != 0)
		return ret < 0 ? -1 : sfs_fail(err, 0, "%s in image %s changed during the export",
					       DPKG_DIR, p->c->imagedir);
	free(p->c->dbdir);
	p->c->dbdir = strndup(r.path, r.len);
	return p->c->dbdir ? 0 : sfs_fail(err, ENOMEM, "trimming the package database");
}

static int trimmed(struct export_ctx *c, struct dpkg_db *db, struct sfs_err *err)
{
	struct pkgdb *p = calloc(1, sizeof *p);
	int ret = -1;

	if (p == NULL)
		return sfs_fail(err, ENOMEM, "trimming the package database");
	p->c = c;
	p->db = db;
	p->pstate = -1;
	p->list = calloc(db->n ? db->n : 1, sizeof *p->list);
	p->listlen = calloc(db->n ? db->n : 1, sizeof *p->listlen);
	if (p->list == NULL || p->listlen == NULL) {
		sfs_fail(err, ENOMEM, "trimming the package database");
		goto out;
	}
	if (keep_release(p, err) < 0 || keep_dbdir(p, err) < 0 || closure_settle(c, err) < 0 ||
	    mark_packages(p, err) < 0)
		goto out;
	p->pstate = -1;
	if (gen_status(p, err) < 0 || gen_available(p, err) < 0)
		goto out;
	for (size_t i = 0; i < db->n; i++)
		if (db->v[i].mark == 1 && (gen_info(p, i, "list", err) < 0 ||
					   gen_info(p, i, "md5sums", err) < 0 ||
					   gen_info(p, i, "conffiles", err) < 0))
			goto out;
	ret = keep_gen(p, err);
out:
	for (size_t i = 0; p->list && i < db->n; i++)
		free(p->list[i]);
	free(p->list);
	free(p->listlen);
	free(p->dirs);
	free(p);
	return ret;
}

/* The database as it is: it need not even parse. */
static int full(struct export_ctx *c, struct sfs_err *err)
{
	struct pkgdb p = { .c = c };
	struct resolved r;
	int ret = image_resolve(&c->im, DPKG_DIR "/status", RESOLVE_FOLLOW, NULL, NULL, &r, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;   /* not a dpkg image: nothing changes */
	if (keep_release(&p, err) < 0)
		return -1;
	snprintf(p.detail, sizeof p.detail, "the image's dpkg database (--package-db full)");
	ret = image_resolve(&c->im, DPKG_DIR, RESOLVE_FOLLOW, keep_visit, &p, &r, err);
	if (ret < 0 || (ret == 0 && image_tree(&c->im, r.path, keep_visit, &p, err) < 0))
		return -1;
	return closure_settle(c, err);
}

int pkgdb_apply(struct export_ctx *c, struct sfs_err *err)
{
	struct dpkg_db *db;
	int ret;

	if (c->o->package_db == EXPORT_PKGDB_NONE)
		return 0;
	if (c->o->package_db == EXPORT_PKGDB_FULL)
		return full(c, err);
	ret = ctx_dpkg(c, &db, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;   /* not a dpkg image: nothing changes */
	return trimmed(c, db, err);
}
