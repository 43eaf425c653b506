/* presets.c — the presets of --include-preset, in one table, and how each entry kind is
 * kept.  Entry kinds:
 *   FILE  the path, followed through symlinks to what it names (a directory: just it);
 *   TREE  the path followed, and if it is a directory everything below it; a symlink
 *         below it is kept with the walk to its target (the target itself, not its tree);
 *   EXE   the program and what it needs to start (elfdeps_program);
 *   NSS   every NSS module (libnss_*.so.*) the image's loader can find, each with the
 *         libraries it needs, as glibc's dlopen() would load it (elfdeps_library).
 * A path may hold '*' in a component (fnmatch against the directory's names).  What the
 * image lacks is skipped: a preset names the usual places, not all must exist.
 */
#include "presets.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "pathset.h"

enum kind { FILE_, TREE, EXE, NSS };

struct entry {
	enum kind kind;
	const char *path;
};

static const struct preset {
	struct preset_info info;
	struct entry e[12];
} presets[] = {
	{ { "shell", "/bin/sh and what it needs to start" }, { { EXE, "/bin/sh" } } },
	{ { "certs", "the CA store: /etc/ssl/certs (with its symlinks), "
		     "/usr/share/ca-certificates, /etc/ca-certificates.conf, OpenSSL's "
		     "/usr/lib/ssl/{certs,cert.pem}" },
	  { { TREE, "/etc/ssl/certs" }, { TREE, "/usr/share/ca-certificates" },
	    { FILE_, "/etc/ca-certificates.conf" }, { FILE_, "/usr/lib/ssl/certs" },
	    { FILE_, "/usr/lib/ssl/cert.pem" } } },
	{ { "tz", "time zones: /usr/share/zoneinfo, /etc/localtime, /etc/timezone" },
	  { { TREE, "/usr/share/zoneinfo" }, { FILE_, "/etc/localtime" },
	    { FILE_, "/etc/timezone" } } },
	{ { "nss", "name services: /etc/nsswitch.conf, passwd, group, hosts, resolv.conf, "
		   "host.conf, services, protocols, gai.conf, and the libnss_* modules with "
		   "their libraries" },
	  { { FILE_, "/etc/nsswitch.conf" }, { FILE_, "/etc/passwd" }, { FILE_, "/etc/group" },
	    { FILE_, "/etc/hosts" }, { FILE_, "/etc/resolv.conf" }, { FILE_, "/etc/host.conf" },
	    { FILE_, "/etc/services" }, { FILE_, "/etc/protocols" }, { FILE_, "/etc/gai.conf" },
	    { NSS, NULL } } },
	{ { "locale", "compiled locales: /usr/lib/locale, /etc/default/locale, "
		      "/etc/locale.alias, /usr/share/locale/locale.alias, /etc/locale.gen" },
	  { { TREE, "/usr/lib/locale" }, { FILE_, "/etc/default/locale" },
	    { FILE_, "/etc/locale.alias" }, { FILE_, "/usr/share/locale/locale.alias" },
	    { FILE_, "/etc/locale.gen" } } },
	{ { "gconv", "iconv's modules: the gconv directory (modules, gconv-modules, "
		     "gconv-modules.d, gconv-modules.cache) under /usr/lib/*/, /usr/lib, /usr/lib64" },
	  { { TREE, "/usr/lib/*/gconv" }, { TREE, "/usr/lib/gconv" },
	    { TREE, "/usr/lib64/gconv" } } },
};

#define NPRESETS (sizeof presets / sizeof presets[0])

const struct preset_info *presets_find(const char *name)
{
	for (size_t i = 0; i < NPRESETS; i++)
		if (strcmp(presets[i].info.name, name) == 0)
			return &presets[i].info;
	return NULL;
}

const struct preset_info *presets_at(size_t i)
{
	return i < NPRESETS ? &presets[i].info : NULL;
}

struct apply {
	struct image *im;
	struct elfdeps *d;
	resolve_visit visit;
	void *vctx;
	enum kind kind;
};

/* In a TREE: every entry, and a symlink's walk to its target. */
static int tree_visit(void *ctx, const char *path, size_t len, const struct stat *st,
		      struct sfs_err *err)
{
	struct apply *a = ctx;
	struct resolved r;
	char p[PATH_MAX];

	if (a->visit(a->vctx, path, len, st, err) < 0)
		return -1;
	if (!S_ISLNK(st->st_mode) || len >= sizeof p)
		return 0;
	memcpy(p, path, len);
	p[len] = '\0';
	return image_resolve(a->im, p, RESOLVE_FOLLOW, a->visit, a->vctx, &r, err) < 0 ? -1 : 0;
}

/* One resolved path of an entry. */
static int keep_one(struct apply *a, const char *path, struct sfs_err *err)
{
	struct resolved r;
	int ret;

	if (a->kind == EXE) {
		ret = elfdeps_program(a->d, path, err);
		return ret < 0 ? -1 : 0;
	}
	ret = image_resolve(a->im, path, RESOLVE_FOLLOW, a->visit, a->vctx, &r, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (a->kind == TREE && S_ISDIR(r.st.st_mode)) {
		char dir[PATH_MAX];

		memcpy(dir, r.path, r.len + 1);
		return image_tree(a->im, dir, tree_visit, a, err);
	}
	return 0;
}

struct glob {
	struct apply *a;
	const char *pattern;   /* the component with '*' */
	size_t plen;
	const char *rest;      /* what follows it ("" or "/...") */
	char dir[PATH_MAX];
	char **names;
	size_t n;
};

static int glob_name(void *ctx, const char *name, struct sfs_err *err)
{
	struct glob *g = ctx;
	char pat[NAME_MAX + 1];
	char **v;

	snprintf(pat, sizeof pat, "%.*s", (int)g->plen, g->pattern);
	if (fnmatch(pat, name, FNM_PERIOD) != 0)
		return 0;
	v = realloc(g->names, (g->n + 1) * sizeof *v);
	if (v == NULL || (v[g->n] = strdup(name)) == NULL) {
		if (v)
			g->names = v;
		return sfs_fail(err, ENOMEM, "expanding %s", pat);
	}
	g->names = v;
	g->n++;
	return 0;
}

/* PATH with its first '*' component expanded against the image (recursively). */
static int keep_entry(struct apply *a, const char *path, struct sfs_err *err)
{
	const char *star = strchr(path, '*'), *cs, *ce;
	struct glob g = { .a = a };
	struct resolved r;
	int ret;

	if (star == NULL)
		return keep_one(a, path, err);
	for (cs = star; cs > path && cs[-1] != '/'; cs--)
		;
	ce = star + strcspn(star, "/");
	if (cs == path || (size_t)(cs - path) >= sizeof g.dir)
		return 0;
	memcpy(g.dir, path, (size_t)(cs - path));
	g.dir[cs - path - (cs - path > 1)] = '\0';   /* without its trailing '/' (not for "/") */
	g.pattern = cs;
	g.plen = (size_t)(ce - cs);
	g.rest = ce;
	ret = image_resolve(a->im, g.dir, RESOLVE_FOLLOW, NULL, NULL, &r, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	ret = image_list_dir(a->im, r.path, glob_name, &g, err);
	if (ret == 0 && g.n > 1)
		qsort(g.names, g.n, sizeof *g.names, cmp_str);
	for (size_t i = 0; ret == 0 && i < g.n; i++) {
		char p[PATH_MAX];

		if ((size_t)snprintf(p, sizeof p, "%s/%s%s", g.dir[1] ? g.dir : "", g.names[i],
				     g.rest) < sizeof p)
			ret = keep_entry(a, p, err);
	}
	for (size_t i = 0; i < g.n; i++)
		free(g.names[i]);
	free(g.names);
	return ret;
}

/* ---- NSS modules ---- */

static int nss_module(void *ctx, const char *name, const char *path, struct sfs_err *err)
{
	struct apply *a = ctx;

	(void)name;
	return elfdeps_library(a->d, path, err) < 0 ? -1 : 0;
}

struct nssdir {
	struct apply *a;
	const char *dir;
};

static int nss_file(void *ctx, const char *name, struct sfs_err *err)
{
	struct nssdir *n = ctx;
	char p[PATH_MAX];

	if (fnmatch("libnss_*.so.*", name, 0) != 0)
		return 0;
	if ((size_t)snprintf(p, sizeof p, "%s/%s", n->dir, name) >= sizeof p)
		return 0;
	return elfdeps_library(n->a->d, p, err) < 0 ? -1 : 0;
}

/* Modules are found by name as dlopen() finds them: the cache's entries, and the
 * loader's default directories (every multiarch one, /lib64, /usr/lib64, /lib, /usr/lib). */
static int keep_nss(struct apply *a, struct sfs_err *err)
{
	static const char *const dirs[] = { "/lib/*-linux-*", "/usr/lib/*-linux-*", "/lib64",
					    "/usr/lib64", "/lib", "/usr/lib" };

	if (elfdeps_cache_each(a->d, "libnss_*.so.*", nss_module, a, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct glob g = { .a = a };
		const char *star = strchr(dirs[i], '*');
		size_t nd = 1;
		char **list = NULL;
		int ret = 0;

		if (star) {
			/* "/lib/ *-linux-*" (without the blank): the multiarch directories there */
			const char *slash = strrchr(dirs[i], '/');
			struct resolved r;

			snprintf(g.dir, sizeof g.dir, "%.*s", (int)(slash - dirs[i]), dirs[i]);
			g.pattern = slash + 1;
			g.plen = strlen(slash + 1);
			g.rest = "";
			ret = image_resolve(a->im, g.dir, RESOLVE_FOLLOW, NULL, NULL, &r, err);
			if (ret < 0)
				return -1;
			if (ret == 0 && image_list_dir(a->im, r.path, glob_name, &g, err) < 0)
				ret = -1;
			list = g.names;
			nd = g.n;
		}
		for (size_t k = 0; ret == 0 && k < nd; k++) {
			char p[PATH_MAX];
			struct resolved r;
			struct nssdir n = { a, p };

			if (star && (size_t)snprintf(p, sizeof p, "%s/%s", g.dir, list[k]) >= sizeof p)
				continue;
			else if (!star)
				snprintf(p, sizeof p, "%s", dirs[i]);
			ret = image_resolve(a->im, p, RESOLVE_FOLLOW, NULL, NULL, &r, err);
			if (ret == 0 && S_ISDIR(r.st.st_mode))
				ret = image_list_dir(a->im, r.path, nss_file, &n, err);
			else if (ret > 0)
				ret = 0;
		}
		for (size_t k = 0; star && k < g.n; k++)
			free(g.names[k]);
		free(g.names);
		if (ret < 0)
			return -1;
	}
	return 0;
}

int presets_apply(struct image *im, const char *name, struct elfdeps *d, resolve_visit visit,
		  void *vctx, const char **detail, struct sfs_err *err)
{
	const struct preset *p = NULL;
	struct apply a = { .im = im, .d = d, .visit = visit, .vctx = vctx };

	for (size_t i = 0; i < NPRESETS; i++)
		if (strcmp(presets[i].info.name, name) == 0)
			p = &presets[i];
	if (p == NULL)
		return sfs_fail(err, 0, "--include-preset %s: no such preset", name);
	for (size_t i = 0; i < sizeof p->e / sizeof p->e[0] && (p->e[i].path || p->e[i].kind == NSS);
	     i++) {
		a.kind = p->e[i].kind;
		*detail = p->e[i].path ? p->e[i].path : "NSS modules";
		if ((a.kind == NSS ? keep_nss(&a, err) : keep_entry(&a, p->e[i].path, err)) < 0)
			return -1;
	}
	return 0;
}
