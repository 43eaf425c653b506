/* rules.c — what a user asks to keep beyond the traces: --include-exe PATH (a program
 * and what it needs to start, elfdeps.h), --include-pkg NAME (every file of a Debian
 * package, with --include-pkg-deps those of its Depends and Pre-Depends closure) and
 * --include-preset NAME (presets.c).  Every path goes through ctx_keep(), with every
 * symlink and directory on the way (resolve.h), so it resolves in the lean image as in
 * the image.  A rule naming what the image lacks (a program, a package) is an error;
 * a preset's entries the image lacks are skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "dpkg.h"
#include "elfdeps.h"
#include "presets.h"
#include "resolve.h"

/* The PATH a container gets when its image sets none (Docker's and Podman's default):
 * where "#!/usr/bin/env NAME" and a bare --include-exe NAME are looked up. */
/* --why PATH: how many reasons rules give are shown (the rest are counted). */
#define WHY_RULES_SHOWN 6

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int ctx_keep(struct export_ctx *c, uint8_t why, const char *rule, const char *path, size_t len,
	     const struct stat *st, const char *detail, struct sfs_err *err)
{
	struct pent *e;
	const char *w = c->o->why;
	char *text, **v;

	if (!path_is_clean(path, len))
		return 0;   /* cannot come from the resolver; never kept */
	e = pathset_add(&c->ps, pathset_intern(&c->ps, path, len), len);
	e->why |= why;
	pent_set_stat(e, st);
	if (w == NULL || strlen(w) != len || memcmp(w, path, len) != 0)
		return 0;
	if (asprintf(&text, "%s%s%s%s", rule, detail && *detail ? " (" : "",
		     detail ? detail : "", detail && *detail ? ")" : "") < 0)
		return sfs_fail(err, ENOMEM, "explaining %s", w);
	for (size_t i = 0; i < c->nwhy_rules; i++)
		if (strcmp(c->why_rules[i], text) == 0) {
			free(text);
			return 0;
		}
	if (c->nwhy_rules == WHY_RULES_SHOWN) {
		c->nwhy_more++;   /* a directory many walks pass through: they are counted */
		free(text);
		return 0;
	}
	v = realloc(c->why_rules, (c->nwhy_rules + 1) * sizeof *v);
	if (v == NULL) {
		free(text);
		return sfs_fail(err, ENOMEM, "explaining %s", w);
	}
	c->why_rules = v;
	v[c->nwhy_rules++] = text;
	return 0;
}

int ctx_dpkg(struct export_ctx *c, struct dpkg_db **db, struct sfs_err *err)
{
	int ret;

	if (c->db_state == 0) {
		c->db = calloc(1, sizeof *c->db);
		if (c->db == NULL)
			return sfs_fail(err, ENOMEM, "reading the dpkg database");
		ret = dpkg_open(c->db, &c->im, err);
		if (ret != 0) {
			free(c->db);
			c->db = NULL;
			if (ret < 0)
				return -1;
		}
		c->db_state = ret == 0 ? 1 : -1;
	}
	*db = c->db;
	return c->db_state == 1 ? 0 : 1;
}

/* ---- keeping what a rule names ---- */

struct keeper {
	struct export_ctx *c;
	const char *rule;
	const char *detail;
};

static int keep_visit(void *ctx, const char *path, size_t len, const struct stat *st,
		      struct sfs_err *err)
{
	struct keeper *k = ctx;

	return ctx_keep(k->c, W_RULE, k->rule, path, len, st, k->detail, err);
}

static int keep_elf(void *ctx, const char *path, size_t len, const struct stat *st,
		    const char *detail, struct sfs_err *err)
{
	struct keeper *k = ctx;

	return ctx_keep(k->c, W_RULE, k->rule, path, len, st, detail, err);
}

static void elfdeps_setup(struct export_ctx *c, struct elfdeps *d, struct keeper *k,
			  const char *rule)
{
	memset(d, 0, sizeof *d);
	d->im = &c->im;
	d->path_env = DEFAULT_PATH;
	d->keep = keep_elf;
	d->keep_ctx = k;
	d->prog = c->o->prog;
	d->rule = rule;
	d->quiet = c->o->quiet;
	elfdeps_init(d);
	k->c = c;
	k->rule = rule;
}

static int include_exe(struct export_ctx *c, const char *path, struct sfs_err *err)
{
	struct elfdeps d;
	struct keeper k;
	_cleanup_free_ char *rule = NULL;
	int ret;

	if (asprintf(&rule, "include-exe %s", path) < 0)
		return sfs_fail(err, ENOMEM, "--include-exe %s", path);
	elfdeps_setup(c, &d, &k, rule);
	ret = elfdeps_program(&d, path, err);
	elfdeps_free(&d);
	if (ret > 0)
		return sfs_fail(err, ENOENT, "--include-exe %s: not in image %s", path, c->imagedir);
	return ret;
}

/* ---- packages ---- */

/* Every file package I lists (and its conffiles), each with the walk to it. */
static int keep_package_files(struct export_ctx *c, struct dpkg_db *db, size_t i,
			      struct keeper *k, struct sfs_err *err)
{
	static const char *const exts[] = { "list", "conffiles" };

	for (size_t x = 0; x < 2; x++) {
		_cleanup_free_ char *buf = NULL;
		size_t len, pos = 0, ll;
		const char *l;
		int ret = dpkg_info(db, i, exts[x], &buf, &len, err);

		if (ret < 0)
			return -1;
		if (ret > 0)
			continue;
		while (dpkg_line(buf, len, &pos, &l, &ll)) {
			char path[PATH_MAX];
			struct resolved r;

			if (x == 1 && ll > 0 && l[0] != '/') {   /* "remove-on-upgrade /etc/x" */
				const char *sp = memchr(l, ' ', ll);

				if (sp == NULL)
					continue;
				ll -= (size_t)(sp + 1 - l);
				l = sp + 1;
			}
			if (ll == 0 || ll >= sizeof path || l[0] != '/' || (ll == 2 && l[1] == '.'))
				continue;
			memcpy(path, l, ll);
			path[ll] = '\0';
			k->detail = path;
			ret = image_resolve(&c->im, dpkg_divert(db, i, path), 0, keep_visit, k, &r, err);
			if (ret < 0)
				return -1;
			/* a listed file the image lacks (dpkg's path-exclude, a user's rm) is skipped */
		}
	}
	return 0;
}

struct closure {
	struct dpkg_db *db;
	size_t *queue;
	size_t n;
};

static int enqueue(void *ctx, size_t dep, struct sfs_err *err)
{
	struct closure *q = ctx;

	(void)err;
	if (q->db->v[dep].mark)
		return 0;
	q->db->v[dep].mark = 1;
	q->queue[q->n++] = dep;
	return 0;
}

static int include_pkg(struct export_ctx *c, const char *name, struct sfs_err *err)
{
	struct dpkg_db *db;
	struct keeper k = { .c = c };
	struct closure q = { 0 };
	_cleanup_free_ char *rule = NULL;
	ssize_t i;
	int ret = ctx_dpkg(c, &db, err);

	if (ret < 0)
		return -1;
	if (ret > 0)
		return sfs_fail(err, 0, "--include-pkg %s: image %s has no dpkg database (%s/status)",
				name, c->imagedir, DPKG_DIR);
	i = dpkg_find(db, name);
	if (i < 0)
		return sfs_fail(err, 0, "--include-pkg %s: not installed in image %s", name,
				c->imagedir);
	if (asprintf(&rule, "include-pkg %s", name) < 0)
		return sfs_fail(err, ENOMEM, "--include-pkg %s", name);
	k.rule = rule;
	q.db = db;
	q.queue = calloc(db->n, sizeof *q.queue);
	if (q.queue == NULL)
		return sfs_fail(err, ENOMEM, "--include-pkg %s", name);
	for (size_t j = 0; j < db->n; j++)
		db->v[j].mark = 0;
	enqueue(&q, (size_t)i, err);
	ret = 0;
	for (size_t h = 0; h < q.n && ret == 0; h++) {
		_cleanup_free_ char *dep_rule = NULL;
		const struct dpkg_pkg *p = &db->v[q.queue[h]];

		if (h > 0 && asprintf(&dep_rule, "include-pkg %s, depends on %s:%s", name, p->name,
				      p->arch) < 0) {
			ret = sfs_fail(err, ENOMEM, "--include-pkg %s", name);
			break;
		}
		k.rule = h > 0 ? dep_rule : rule;
		ret = keep_package_files(c, db, q.queue[h], &k, err);
		if (ret == 0 && c->o->include_pkg_deps)
			ret = dpkg_depends(db, q.queue[h], enqueue, &q, err);
	}
	free(q.queue);
	return ret;
}

/* ---- presets ---- */

static int include_preset(struct export_ctx *c, const char *name, struct sfs_err *err)
{
	struct elfdeps d;
	struct keeper k;
	_cleanup_free_ char *rule = NULL;
	int ret;

	if (asprintf(&rule, "preset %s", name) < 0)
		return sfs_fail(err, ENOMEM, "--include-preset %s", name);
	elfdeps_setup(c, &d, &k, rule);
	ret = presets_apply(&c->im, name, &d, keep_visit, &k, &k.detail, err);
	elfdeps_free(&d);
	return ret;
}

int rules_apply(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;

	for (size_t i = 0; i < o->ninclude_exes; i++)
		if (include_exe(c, o->include_exes[i], err) < 0)
			return -1;
	for (size_t i = 0; i < o->ninclude_pkgs; i++)
		if (include_pkg(c, o->include_pkgs[i], err) < 0)
			return -1;
	for (size_t i = 0; i < o->npresets; i++)
		if (include_preset(c, o->presets[i], err) < 0)
			return -1;
	return 0;
}
