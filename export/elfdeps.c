/* elfdeps.c — a program's start-up closure, as execve and glibc's loader find it (see
 * elfdeps.h; the rules, cited from glibc's elf/dl-load.c, are in docs/export-rules.md).
 *
 * One program is one link map, as in the loader: the objects loaded so far (struct dso),
 * each with the names it answers to (the names it was needed as, its soname) and the
 * file it is (its resolved path).  A needed name already answered to, or a file already
 * loaded, is not loaded again.  Every path kept goes through keep() with d->detail saying
 * why.
 */
#include "elfdeps.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "elfinfo.h"
#include "pathset.h"
#include "resolve.h"

#define MAX_INTERP_DEPTH 5        /* the kernel's limit on nested #! interpreters */
#define MAX_CACHE_SIZE (64u << 20)
#define MAX_EXPANSIONS 8

/* What the loader of one machine does differently (glibc sysdeps; Debian multiarch). */
struct machine {
	uint16_t em;
	unsigned char class;
	const char *triplet;          /* Debian's multiarch directory name */
	bool lib64;                   /* other distributions: /lib64 /usr/lib64 */
	int32_t cache_flags;          /* the ld.so.cache flags this loader accepts, -1: any libc6 */
	const char *platforms[4];     /* every $PLATFORM (AT_PLATFORM) this machine may have */
	const char *hwcaps[5];        /* glibc-hwcaps subdirectories, best first */
	const char *legacy[6];        /* legacy hwcaps subdirectory names, in glibc's order */
};

static const struct machine machines[] = {
	{ EM_X86_64, ELFCLASS64, "x86_64-linux-gnu", true, 0x0303,
	  { "haswell", "xeon_phi", "x86_64" }, { "x86-64-v4", "x86-64-v3", "x86-64-v2" },
	  { "tls", "haswell", "xeon_phi", "avx512_1", "x86_64" } },
	{ EM_386, ELFCLASS32, "i386-linux-gnu", false, 0x0003,
	  { "i686", "i586", "i486", "i386" }, { 0 }, { "tls", "i686", "i586" } },
	{ EM_AARCH64, ELFCLASS64, "aarch64-linux-gnu", true, 0x0a03,
	  { "aarch64" }, { 0 }, { "tls" } },
};

static const struct machine generic = { 0, 0, NULL, false, -1, { 0 }, { 0 }, { "tls" } };

static const struct machine *machine_of(uint16_t em, unsigned char class)
{
	for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++)
		if (machines[i].em == em && machines[i].class == class)
			return &machines[i];
	return &generic;
}

/* A search directory: whether it has glibc-hwcaps or legacy hwcaps subdirectories. */
struct elfdeps_dir {
	char *path;
	bool hwcaps, legacy;
};

/* An object of the link map. */
struct dso {
	char **names;     /* needed as; the soname is added when read */
	size_t nnames;
	char *path;       /* the path it was opened by (glibc's l_name) */
	char *real;       /* the file it is: resolved inside the image */
	char *origin;     /* $ORIGIN */
	struct elfinfo ei;
	size_t loader;    /* the object that needed it; SIZE_MAX for the first */
};

struct linkmap {
	struct dso *v;
	size_t n, cap;
	const struct machine *m;
	unsigned char class, data;
	uint16_t em;
	const char *top;  /* the program or library, for messages */
	char **missing;   /* names not found so far (each warned about once) */
	size_t nmissing;
};

void elfdeps_init(struct elfdeps *d)
{
	struct stat st;
	struct sfs_err err;

	d->debian = image_lstat(d->im, "/etc/debian_version", 19, &st, &err) == 0;
}

static void dirs_free(struct elfdeps *d)
{
	for (size_t i = 0; i < d->ndirs; i++)
		free(d->dirs[i].path);
	free(d->dirs);
}

void elfdeps_free(struct elfdeps *d)
{
	free(d->cache_buf);
	free(d->preload);
	for (size_t i = 0; i < d->ndone; i++)
		free(d->done[i]);
	free(d->done);
	dirs_free(d);
}

static void set_detail(struct elfdeps *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_detail(struct elfdeps *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof d->detail, fmt, ap);
	va_end(ap);
}

static int visit(void *ctx, const char *path, size_t len, const struct stat *st,
		 struct sfs_err *err)
{
	struct elfdeps *d = ctx;

	return d->keep(d->keep_ctx, path, len, st, d->detail, err);
}

/* Resolve PATH (following a last symlink) and keep the walk; 0, 1 missing, -1. */
static int keep_path(struct elfdeps *d, const char *path, struct resolved *r,
		     struct sfs_err *err)
{
	return image_resolve(d->im, path, RESOLVE_FOLLOW, visit, d, r, err);
}

/* 1 (and remembered) the first time PATH is followed as KIND ('p' program, 'l'
 * library), 0 after that, -1 out of memory. */
static int first_time(struct elfdeps *d, char kind, const char *path, struct sfs_err *err)
{
	char **v;

	for (size_t i = 0; i < d->ndone; i++)
		if (d->done[i][0] == kind && strcmp(d->done[i] + 1, path) == 0)
			return 0;
	v = realloc(d->done, (d->ndone + 1) * sizeof *v);
	if (v == NULL)
		return sfs_fail(err, ENOMEM, "following %s", path);
	d->done = v;
	if (asprintf(&v[d->ndone], "%c%s", kind, path) < 0)
		return sfs_fail(err, ENOMEM, "following %s", path);
	d->ndone++;
	return 1;
}

/* Open the resolved regular file R; -1 with errno on failure. */
static int open_resolved(struct elfdeps *d, const struct resolved *r, struct sfs_err *err)
{
	int dfd = image_parent(d->im, r->path, r->len, err);

	if (dfd < 0)
		return -1;
	return openat(dfd, d->im->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

/* ELF information of the resolved regular file R: 0, 1 not usable ELF, -1 error. */
static int read_elf(struct elfdeps *d, const struct resolved *r, struct elfinfo *ei,
		    struct sfs_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int ret;

	if (!S_ISREG(r->st.st_mode))
		return 1;
	fd = open_resolved(d, r, err);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 1 :
			sfs_fail(err, errno, "%s in image %s", r->path, d->im->dir);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 1;
	ret = elfinfo_read(fd, ei);
	if (ret < 0)
		return sfs_fail(err, ENOMEM, "reading %s", r->path);
	return ret;
}

/* ---- the image's ld.so.cache and ld.so.preload ---- */

static int load_cache(struct elfdeps *d, struct sfs_err *err)
{
	struct resolved r;
	int ret;

	if (d->cache_state != 0)
		return 0;
	d->cache_state = -1;
	ret = image_resolve(d->im, "/etc/ld.so.cache", RESOLVE_FOLLOW, NULL, NULL, &r, err);
	if (ret < 0)
		return -1;
	if (ret > 0 || !S_ISREG(r.st.st_mode))
		return 0;
	ret = image_read_file(d->im, r.path, MAX_CACHE_SIZE, &d->cache_buf, &d->cache_len, err);
	if (ret < 0)
		return -1;
	if (ret == 0 && ldcache_parse(&d->cache, d->cache_buf, d->cache_len) == 0)
		d->cache_state = 1;
	else if (ret == 0 && !d->quiet)
		sfs_warn(d->prog, "%s: /etc/ld.so.cache in image %s is not a cache glibc reads: "
			 "not used", d->rule, d->im->dir);
	return 0;
}

int elfdeps_cache_each(struct elfdeps *d, const char *pattern, elfdeps_name_cb cb, void *ctx,
		       struct sfs_err *err)
{
	if (load_cache(d, err) < 0)
		return -1;
	if (d->cache_state != 1)
		return 0;
	for (size_t i = 0; i < d->cache.nlibs; i++) {
		struct ldcache_entry e;

		if (ldcache_entry(&d->cache, i, &e) && fnmatch(pattern, e.key, 0) == 0 &&
		    cb(ctx, e.key, e.value, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- search ---- */

/* Expand $ORIGIN, $LIB, $PLATFORM (and ${...}) of S into OUT[]; returns how many
 * strings were made (several for $PLATFORM), 0 when none can be. */
static size_t expand(struct elfdeps *d, const struct linkmap *lm, const char *origin,
		     const char *s, size_t slen, char out[][PATH_MAX], size_t max)
{
	size_t n = 1, plats = 0;
	const struct machine *m = lm->m;
	char lib[PATH_MAX];

	if (d->debian && m->triplet)
		snprintf(lib, sizeof lib, "lib/%s", m->triplet);
	else
		snprintf(lib, sizeof lib, "%s", m->lib64 ? "lib64" : "lib");
	while (plats < 4 && m->platforms[plats])
		plats++;
	out[0][0] = '\0';
	for (size_t i = 0; i < slen;) {
		static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
		size_t k, nl = 0, skip = 0;

		if (s[i] == '$') {
			for (k = 0; k < 3; k++) {
				nl = strlen(names[k]);
				/* glibc's is_dst: "$NAME" ends the string or a component */
				if (slen - i - 1 >= nl && strncmp(s + i + 1, names[k], nl) == 0 &&
				    (i + 1 + nl == slen || s[i + 1 + nl] == '/')) {
					skip = 1 + nl;
					break;
				}
				if (slen - i - 1 >= nl + 2 && s[i + 1] == '{' &&
				    strncmp(s + i + 2, names[k], nl) == 0 && s[i + 2 + nl] == '}') {
					skip = 3 + nl;
					break;
				}
			}
			if (skip) {
				if (k == 0 || k == 1) {
					const char *v = k == 0 ? origin : lib;

					if (v == NULL)
						return 0;
					for (size_t j = 0; j < n; j++)
						if (strlen(out[j]) + strlen(v) + 1 >= PATH_MAX)
							return 0;
						else
							strcat(out[j], v);
				} else {
					/* one string per possible platform */
					size_t base = n;

					if (plats == 0 || n * plats > max)
						return 0;
					for (size_t p = plats; p-- > 0;)
						for (size_t j = 0; j < base; j++) {
							size_t to = p * base + j;

							if (strlen(out[j]) + strlen(m->platforms[p]) + 1 >= PATH_MAX)
								return 0;
							if (to != j)
								memcpy(out[to], out[j], strlen(out[j]) + 1);
							strcat(out[to], m->platforms[p]);
						}
					n = base * plats;
				}
				i += skip;
				continue;
			}
		}
		for (size_t j = 0; j < n; j++) {
			size_t l = strlen(out[j]);

			if (l + 2 >= PATH_MAX)
				return 0;
			out[j][l] = s[i];
			out[j][l + 1] = '\0';
		}
		i++;
	}
	return n;
}

static struct elfdeps_dir *dir_info(struct elfdeps *d, const char *dir, const struct machine *m,
				    struct sfs_err *err)
{
	struct elfdeps_dir *v;
	char p[PATH_MAX];
	struct resolved r;
	int ret;

	for (size_t i = 0; i < d->ndirs; i++)
		if (strcmp(d->dirs[i].path, dir) == 0)
			return &d->dirs[i];
	v = realloc(d->dirs, (d->ndirs + 1) * sizeof *v);
	if (v == NULL)
		return sfs_fail(err, ENOMEM, "searching %s", dir), NULL;
	d->dirs = v;
	v = &v[d->ndirs];
	memset(v, 0, sizeof *v);
	if ((v->path = strdup(dir)) == NULL)
		return sfs_fail(err, ENOMEM, "searching %s", dir), NULL;
	d->ndirs++;
	if ((size_t)snprintf(p, sizeof p, "%s/glibc-hwcaps", dir) >= sizeof p)
		return v;
	ret = image_resolve(d->im, p, RESOLVE_FOLLOW, NULL, NULL, &r, err);
	if (ret < 0)
		return NULL;
	v->hwcaps = ret == 0 && S_ISDIR(r.st.st_mode);
	for (size_t k = 0; k < 6 && m->legacy[k] && !v->legacy; k++) {
		if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, m->legacy[k]) >= sizeof p)
			break;
		ret = image_resolve(d->im, p, RESOLVE_FOLLOW, NULL, NULL, &r, err);
		if (ret < 0)
			return NULL;
		v->legacy = ret == 0 && S_ISDIR(r.st.st_mode);
	}
	return v;
}

struct found {
	char path[16][PATH_MAX];   /* candidates the loader may pick, best first */
	size_t n;
};

/* Is PATH a file the loader of LM would load (open_verify: an ELF object of the same
 * class, byte order and machine)? */
static int acceptable(struct elfdeps *d, const struct linkmap *lm, const char *path,
		      struct sfs_err *err)
{
	struct resolved r;
	struct elfinfo ei;
	int ret = image_resolve(d->im, path, RESOLVE_FOLLOW, NULL, NULL, &r, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	ret = read_elf(d, &r, &ei, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	ret = ei.class == lm->class && ei.data == lm->data && ei.machine == lm->em &&
	      (ei.type == ET_DYN || ei.type == ET_EXEC);
	elfinfo_free(&ei);
	return ret;
}

static int try_file(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		    const char *path, struct sfs_err *err)
{
	int ret;

	if (f->n == sizeof f->path / sizeof f->path[0])
		return 0;
	ret = acceptable(d, lm, path, err);
	if (ret > 0)
		snprintf(f->path[f->n++], PATH_MAX, "%s", path);
	return ret < 0 ? -1 : 0;
}

/* Legacy hwcaps subdirectories of DIR: every ordered combination of m->legacy[K..],
 * deepest first, as glibc 2.36 lists them; only existing directories are entered. */
static int try_legacy(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		      const char *dir, size_t k, const char *name, struct sfs_err *err)
{
	for (; k < 6 && lm->m->legacy[k]; k++) {
		char sub[PATH_MAX], p[PATH_MAX];
		struct resolved r;
		int ret;

		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, lm->m->legacy[k]) >= sizeof sub)
			continue;
		ret = image_resolve(d->im, sub, RESOLVE_FOLLOW, NULL, NULL, &r, err);
		if (ret < 0)
			return -1;
		if (ret > 0 || !S_ISDIR(r.st.st_mode))
			continue;
		if (try_legacy(d, lm, f, sub, k + 1, name, err) < 0)
			return -1;
		if ((size_t)snprintf(p, sizeof p, "%s/%s", sub, name) < sizeof p &&
		    try_file(d, lm, f, p, err) < 0)
			return -1;
	}
	return 0;
}

/* NAME in directory DIR: its hwcaps subdirectories, then DIR itself. */
static int try_dir(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		   const char *dir, const char *name, struct sfs_err *err)
{
	struct elfdeps_dir *di;
	char p[PATH_MAX];
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (dir[0] != '/')
		return 0;   /* relative to the process's directory: not known here */
	snprintf(p, sizeof p, "%.*s", (int)dl, dir);
	di = dir_info(d, p, lm->m, err);
	if (di == NULL)
		return -1;
	if (dl == 1)
		dl = 0;   /* "/": names are "/NAME" */
	if (di->hwcaps)
		for (size_t k = 0; k < 5 && lm->m->hwcaps[k]; k++)
			if ((size_t)snprintf(p, sizeof p, "%.*s/glibc-hwcaps/%s/%s", (int)dl, dir,
					     lm->m->hwcaps[k], name) < sizeof p &&
			    try_file(d, lm, f, p, err) < 0)
				return -1;
	if (di->legacy) {
		snprintf(p, sizeof p, "%.*s", (int)dl, dir);
		if (try_legacy(d, lm, f, p, 0, name, err) < 0)
			return -1;
	}
	if ((size_t)snprintf(p, sizeof p, "%.*s/%s", (int)dl, dir, name) < sizeof p &&
	    try_file(d, lm, f, p, err) < 0)
		return -1;
	return 0;
}

/* A colon-separated search list (DT_RPATH, DT_RUNPATH) of object OBJ. */
static int try_list(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		    const struct dso *obj, const char *list, const char *name, struct sfs_err *err)
{
	_cleanup_free_ char (*exp)[PATH_MAX] = malloc(MAX_EXPANSIONS * sizeof *exp);

	if (exp == NULL)
		return sfs_fail(err, ENOMEM, "searching %s", name);
	for (const char *p = list; f->n == 0;) {
		size_t len = strcspn(p, ":"), n = expand(d, lm, obj->origin, p, len, exp,
							   MAX_EXPANSIONS);

		for (size_t i = 0; i < n; i++)
			if (try_dir(d, lm, f, exp[i], name, err) < 0)
				return -1;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return 0;
}

static int try_cache(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		     const char *name, struct sfs_err *err)
{
	if (load_cache(d, err) < 0)
		return -1;
	if (d->cache_state != 1)
		return 0;
	if (!d->cache_kept) {
		/* the loader reads it for every search: the lean image searches the same way */
		char saved[sizeof d->detail];
		struct resolved r;

		memcpy(saved, d->detail, sizeof saved);
		set_detail(d, "the loader's cache, searched for %s", name);
		if (keep_path(d, "/etc/ld.so.cache", &r, err) < 0)
			return -1;
		memcpy(d->detail, saved, sizeof saved);
		d->cache_kept = true;
	}
	for (size_t i = 0; i < d->cache.nlibs; i++) {
		struct ldcache_entry e;

		if (!ldcache_entry(&d->cache, i, &e) || strcmp(e.key, name) != 0)
			continue;
		if (lm->m->cache_flags >= 0 ? e.flags != lm->m->cache_flags
					    : (e.flags & LDCACHE_FLAG_TYPE_MASK) != LDCACHE_FLAG_ELF_LIBC6)
			continue;
		if (try_file(d, lm, f, e.value, err) < 0)
			return -1;
	}
	return 0;
}

static int try_default(struct elfdeps *d, const struct linkmap *lm, struct found *f,
		       const char *name, struct sfs_err *err)
{
	char dirs[4][64];
	size_t n = 0;

	if (d->debian && lm->m->triplet) {
		snprintf(dirs[n++], sizeof dirs[0], "/lib/%s", lm->m->triplet);
		snprintf(dirs[n++], sizeof dirs[0], "/usr/lib/%s", lm->m->triplet);
	} else if (lm->m->lib64) {
		snprintf(dirs[n++], sizeof dirs[0], "/lib64");
		snprintf(dirs[n++], sizeof dirs[0], "/usr/lib64");
	}
	snprintf(dirs[n++], sizeof dirs[0], "/lib");
	snprintf(dirs[n++], sizeof dirs[0], "/usr/lib");
	for (size_t i = 0; i < n && f->n == 0; i++)
		if (try_dir(d, lm, f, dirs[i], name, err) < 0)
			return -1;
	return 0;
}

/* glibc's _dl_map_object search for NAME needed by object REQ. */
static int search(struct elfdeps *d, struct linkmap *lm, size_t req, const char *name,
		  struct found *f, struct sfs_err *err)
{
	const struct dso *r = &lm->v[req];

	f->n = 0;
	if (strchr(name, '/')) {
		_cleanup_free_ char (*exp)[PATH_MAX] = malloc(MAX_EXPANSIONS * sizeof *exp);
		size_t n;

		if (exp == NULL)
			return sfs_fail(err, ENOMEM, "searching %s", name);
		n = expand(d, lm, r->origin, name, strlen(name), exp, MAX_EXPANSIONS);

		for (size_t i = 0; i < n; i++)
			if (exp[i][0] == '/' && try_file(d, lm, f, exp[i], err) < 0)
				return -1;
		return 0;
	}
	if (r->ei.runpath < 0) {
		/* DT_RPATH of the object, then of the objects that loaded it, up to the first */
		for (size_t l = req; l != SIZE_MAX && f->n == 0; l = lm->v[l].loader) {
			const char *rp = elfinfo_str(&lm->v[l].ei, lm->v[l].ei.rpath);

			if (rp && try_list(d, lm, f, &lm->v[l], rp, name, err) < 0)
				return -1;
		}
	}
	if (f->n == 0 && r->ei.runpath >= 0 &&
	    try_list(d, lm, f, r, elfinfo_str(&r->ei, r->ei.runpath), name, err) < 0)
		return -1;
	if (f->n == 0 && !r->ei.nodeflib && try_cache(d, lm, f, name, err) < 0)
		return -1;
	if (f->n == 0 && !r->ei.nodeflib && try_default(d, lm, f, name, err) < 0)
		return -1;
	return 0;
}

/* ---- the link map ---- */

static void linkmap_free(struct linkmap *lm)
{
	for (size_t i = 0; i < lm->nmissing; i++)
		free(lm->missing[i]);
	free(lm->missing);
	for (size_t i = 0; i < lm->n; i++) {
		for (size_t k = 0; k < lm->v[i].nnames; k++)
			free(lm->v[i].names[k]);
		free(lm->v[i].names);
		free(lm->v[i].path);
		free(lm->v[i].real);
		free(lm->v[i].origin);
		elfinfo_free(&lm->v[i].ei);
	}
	free(lm->v);
}

static int add_name(struct dso *o, const char *name)
{
	char **v;

	for (size_t k = 0; k < o->nnames; k++)
		if (strcmp(o->names[k], name) == 0)
			return 0;
	v = realloc(o->names, (o->nnames + 1) * sizeof *v);
	if (v == NULL)
		return -1;
	o->names = v;
	if ((v[o->nnames] = strdup(name)) == NULL)
		return -1;
	o->nnames++;
	return 0;
}

static ssize_t loaded(const struct linkmap *lm, const char *name)
{
	for (size_t i = 0; i < lm->n; i++)
		for (size_t k = 0; k < lm->v[i].nnames; k++)
			if (strcmp(lm->v[i].names[k], name) == 0)
				return (ssize_t)i;
	return -1;
}

static char *dir_of(const char *path)
{
	size_t l = path_parent_len(path, strlen(path));

	return strndup(path, l ? l : 1);
}

/* Add the object at PATH (found for NAME, or the first object when LOADER is SIZE_MAX)
 * whose file resolves to R with ELF information EI (taken over).  ORIGIN_REAL: $ORIGIN
 * from the resolved file (the program: /proc/self/exe) rather than from PATH. */
static int add_dso(struct linkmap *lm, const char *name, const char *path,
		   const struct resolved *r, struct elfinfo *ei, size_t loader, bool origin_real,
		   struct sfs_err *err)
{
	struct dso *o;
	const char *soname = elfinfo_str(ei, ei->soname);

	if (lm->n == lm->cap) {
		size_t cap = lm->cap ? lm->cap * 2 : 16;
		struct dso *v = realloc(lm->v, cap * sizeof *v);

		if (v == NULL)
			goto oom;
		lm->v = v;
		lm->cap = cap;
	}
	o = &lm->v[lm->n++];
	memset(o, 0, sizeof *o);
	o->ei = *ei;
	memset(ei, 0, sizeof *ei);
	o->loader = loader;
	o->path = strdup(path);
	o->real = strndup(r->path, r->len);
	o->origin = dir_of(origin_real ? o->real ? o->real : path : path);
	if (o->path == NULL || o->real == NULL || o->origin == NULL ||
	    (name && add_name(o, name) < 0) || (soname && *soname && add_name(o, soname) < 0))
		goto oom;
	return 0;
oom:
	return sfs_fail(err, ENOMEM, "following %s", path);
}

/* Load NAME needed by object REQ, unless loaded already. */
static int need(struct elfdeps *d, struct linkmap *lm, size_t req, const char *name,
		struct sfs_err *err)
{
	_cleanup_free_ struct found *f = NULL;
	char by[PATH_MAX];

	if (loaded(lm, name) >= 0)
		return 0;
	f = malloc(sizeof *f);
	if (f == NULL)
		return sfs_fail(err, ENOMEM, "searching %s", name);
	if (search(d, lm, req, name, f, err) < 0)
		return -1;
	/* copied: the link map may move while NAME is added */
	snprintf(by, sizeof by, "%s", lm->v[req].real);
	if (f->n == 0) {
		/* another object's search path may find it yet: only the warning is once */
		char **v;

		for (size_t i = 0; i < lm->nmissing; i++)
			if (strcmp(lm->missing[i], name) == 0)
				return 0;
		v = realloc(lm->missing, (lm->nmissing + 1) * sizeof *v);

		if (v == NULL || (v[lm->nmissing] = strdup(name)) == NULL) {
			if (v)
				lm->missing = v;
			return sfs_fail(err, ENOMEM, "searching %s", name);
		}
		lm->missing = v;
		lm->nmissing++;
		if (!d->quiet)
			sfs_warn(d->prog, "%s: library %s needed by %s is not in image %s", d->rule,
				 name, by, d->im->dir);
		return 0;
	}
	for (size_t i = 0; i < f->n; i++) {
		struct resolved r;
		struct elfinfo ei;
		bool dup = false;
		int ret;

		set_detail(d, "library %s needed by %s", name, by);
		ret = keep_path(d, f->path[i], &r, err);
		if (ret != 0)
			return ret < 0 ? -1 : 0;
		/* the same file under another name is the same object (glibc compares the
		 * file's identity) */
		for (size_t k = 0; k < lm->n && !dup; k++)
			if (strlen(lm->v[k].real) == r.len && memcmp(lm->v[k].real, r.path, r.len) == 0) {
				dup = true;
				if (i == 0 && add_name(&lm->v[k], name) < 0)
					return sfs_fail(err, ENOMEM, "following %s", name);
			}
		if (dup)
			continue;
		ret = read_elf(d, &r, &ei, err);
		if (ret < 0)
			return -1;
		if (ret > 0)
			continue;
		/* variants the CPU may pick (hwcaps) after the first answer to no name */
		if (add_dso(lm, i == 0 ? name : NULL, f->path[i], &r, &ei, req, false, err) < 0) {
			elfinfo_free(&ei);
			return -1;
		}
	}
	return 0;
}

static int load_preload(struct elfdeps *d, struct linkmap *lm, struct sfs_err *err)
{
	struct resolved r;
	size_t len;
	int ret;

	if (d->preload_state == 0) {
		d->preload_state = -1;
		ret = image_resolve(d->im, "/etc/ld.so.preload", RESOLVE_FOLLOW, NULL, NULL, &r, err);
		if (ret < 0)
			return -1;
		if (ret == 0) {
			ret = image_read_file(d->im, r.path, 1 << 20, &d->preload, &len, err);
			if (ret < 0)
				return -1;
			if (ret == 0)
				d->preload_state = 1;
		}
	}
	if (d->preload_state != 1)
		return 0;
	set_detail(d, "/etc/ld.so.preload");
	if (keep_path(d, "/etc/ld.so.preload", &r, err) < 0)
		return -1;
	/* names separated by white space or ':' (glibc's rtld.c) */
	for (char *p = d->preload; *p;) {
		size_t n = strcspn(p, " \t\n:");
		char name[PATH_MAX];

		if (n > 0 && n < sizeof name) {
			memcpy(name, p, n);
			name[n] = '\0';
			if (need(d, lm, 0, name, err) < 0)
				return -1;
		}
		p += n;
		p += *p != '\0';
	}
	return 0;
}

/* Breadth first over the link map: every DT_NEEDED of every object. */
static int load_needed(struct elfdeps *d, struct linkmap *lm, struct sfs_err *err)
{
	for (size_t i = 0; i < lm->n; i++)
		for (size_t k = 0; k < lm->v[i].ei.nneeded; k++) {
			char name[PATH_MAX];

			/* copied: the link map may move while NAME is loaded */
			snprintf(name, sizeof name, "%s",
				 elfinfo_str(&lm->v[i].ei, (int64_t)lm->v[i].ei.needed[k]));
			if (need(d, lm, i, name, err) < 0)
				return -1;
		}
	return 0;
}

static int start_map(struct linkmap *lm, const struct elfinfo *ei, const char *top)
{
	memset(lm, 0, sizeof *lm);
	lm->class = ei->class;
	lm->data = ei->data;
	lm->em = ei->machine;
	lm->m = machine_of(ei->machine, ei->class);
	lm->top = top;
	return 0;
}

/* An ELF program at R (given as GIVEN): its interpreter and libraries. */
static int elf_program(struct elfdeps *d, const char *given, const struct resolved *r,
		       struct elfinfo *ei, struct sfs_err *err)
{
	struct linkmap lm;
	struct resolved ir;
	struct elfinfo iei;
	int ret;

	if (ei->interp == NULL)
		return 0;   /* static: nothing else to load */
	start_map(&lm, ei, given);
	ret = add_dso(&lm, NULL, given, r, ei, SIZE_MAX, true, err);
	if (ret < 0)
		goto out;
	set_detail(d, "program interpreter of %s", r->path);
	ret = keep_path(d, lm.v[0].ei.interp, &ir, err);
	if (ret < 0)
		goto out;
	if (ret > 0) {
		/* the program cannot start; what it needs besides is kept all the same */
		if (!d->quiet)
			sfs_warn(d->prog, "%s: program interpreter %s of %s is not in image %s",
				 d->rule, lm.v[0].ei.interp, r->path, d->im->dir);
	} else if ((ret = read_elf(d, &ir, &iei, err)) < 0) {
		goto out;
	} else if (ret == 0) {
		char interp[PATH_MAX];

		snprintf(interp, sizeof interp, "%s", lm.v[0].ei.interp);
		ret = add_dso(&lm, interp, interp, &ir, &iei, 0, false, err);
		elfinfo_free(&iei);
		if (ret < 0)
			goto out;
	}
	ret = load_preload(d, &lm, err);
	if (ret == 0)
		ret = load_needed(d, &lm, err);
out:
	linkmap_free(&lm);
	return ret < 0 ? -1 : 0;
}

int elfdeps_library(struct elfdeps *d, const char *path, struct sfs_err *err)
{
	struct linkmap lm;
	struct resolved r;
	struct elfinfo ei;
	int ret;

	set_detail(d, "module %s", path);
	ret = keep_path(d, path, &r, err);
	if (ret != 0)
		return ret;
	ret = first_time(d, 'l', r.path, err);
	if (ret <= 0)
		return ret;
	ret = read_elf(d, &r, &ei, err);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	start_map(&lm, &ei, path);
	ret = add_dso(&lm, NULL, path, &r, &ei, SIZE_MAX, false, err);
	if (ret == 0)
		ret = load_needed(d, &lm, err);
	elfinfo_free(&ei);
	linkmap_free(&lm);
	return ret < 0 ? -1 : 0;
}

/* ---- programs and scripts ---- */

static int program(struct elfdeps *d, const char *path, int depth, struct sfs_err *err);

/* execvp's search of NAME in PATH: the first regular file with an execute bit. */
static int find_in_path(struct elfdeps *d, const char *name, char *out, struct sfs_err *err)
{
	const char *p = d->path_env;

	for (;;) {
		size_t len = strcspn(p, ":");
		struct resolved r;
		int ret;

		if (len > 0 && p[0] == '/' &&
		    (size_t)snprintf(out, PATH_MAX, "%.*s/%s", (int)len, p, name) < PATH_MAX) {
			ret = image_resolve(d->im, out, RESOLVE_FOLLOW, NULL, NULL, &r, err);
			if (ret < 0)
				return -1;
			if (ret == 0 && S_ISREG(r.st.st_mode) && (r.st.st_mode & 0111))
				return 0;
		}
		if (p[len] == '\0')
			return 1;
		p += len + 1;
	}
}

/* The command an "env" line runs: the first word that is neither an option (and the
 * argument of -u/-C/-P and their long forms) nor NAME=VALUE; -S splits its argument. */
static bool env_command(const char *args, char *cmd, size_t size)
{
	const char *p = args;
	bool skip_next = false;

	while (*p) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		if (skip_next) {
			skip_next = false;
		} else if (p[0] == '-') {
			if ((n == 2 && strchr("uCP", p[1])) ||
			    (n == 7 && strncmp(p, "--unset", 7) == 0) ||
			    (n == 7 && strncmp(p, "--chdir", 7) == 0))
				skip_next = true;
			/* "-S", "--split-string", "-i", "-": the words that follow go on */
		} else if (memchr(p, '=', n) == NULL) {
			if (n >= size)
				return false;
			memcpy(cmd, p, n);
			cmd[n] = '\0';
			return true;
		}
		p += n;
	}
	return false;
}

/* A "#!" script at R whose first bytes are BUF[0..N). */
static int script(struct elfdeps *d, const struct resolved *r, const char *buf, size_t n,
		  int depth, struct sfs_err *err)
{
	char line[256], interp[PATH_MAX], args[256], cmd[PATH_MAX], found[PATH_MAX];
	size_t len = strcspn(buf + 2, "\n"), il;
	const char *p;
	int ret;

	if (len > n - 2)
		len = n - 2;
	if (len >= sizeof line)
		len = sizeof line - 1;
	memcpy(line, buf + 2, len);
	line[len] = '\0';
	/* binfmt_script: blanks, the interpreter up to a blank, the rest one argument */
	p = line + strspn(line, " \t");
	il = strcspn(p, " \t");
	if (il == 0 || il >= sizeof interp)
		return 0;
	memcpy(interp, p, il);
	interp[il] = '\0';
	p += il;
	p += strspn(p, " \t");
	snprintf(args, sizeof args, "%s", p);
	for (size_t l = strlen(args); l > 0 && (args[l - 1] == ' ' || args[l - 1] == '\t' ||
						args[l - 1] == '\r'); l--)
		args[l - 1] = '\0';
	if (interp[0] != '/')
		return 0;   /* relative to the process's directory: not known here */
	set_detail(d, "interpreter of %s", r->path);
	ret = program(d, interp, depth + 1, err);
	if (ret != 0) {
		if (ret > 0 && !d->quiet)
			sfs_warn(d->prog, "%s: interpreter %s of %s is not in image %s", d->rule,
				 interp, r->path, d->im->dir);
		return ret < 0 ? -1 : 0;
	}
	il = strlen(interp);
	if (!(il >= 4 && strcmp(interp + il - 4, "/env") == 0) || !env_command(args, cmd, sizeof cmd))
		return 0;
	if (strchr(cmd, '/')) {
		snprintf(found, sizeof found, "%s", cmd);
		if (found[0] != '/')
			return 0;
	} else {
		ret = find_in_path(d, cmd, found, err);
		if (ret != 0) {
			if (ret > 0 && !d->quiet)
				sfs_warn(d->prog, "%s: %s, run by %s through %s, is in none of %s in "
					 "image %s", d->rule, cmd, r->path, interp, d->path_env,
					 d->im->dir);
			return ret < 0 ? -1 : 0;
		}
	}
	set_detail(d, "command %s of %s (#!%s)", cmd, r->path, interp);
	ret = program(d, found, depth + 1, err);
	return ret < 0 ? -1 : 0;
}

static int program(struct elfdeps *d, const char *path, int depth, struct sfs_err *err)
{
	struct resolved r;
	_cleanup_close_ int fd = -1;
	char buf[256];
	ssize_t n;
	struct elfinfo ei;
	int ret;

	if (depth > MAX_INTERP_DEPTH) {
		if (!d->quiet)
			sfs_warn(d->prog, "%s: more than %d nested interpreters at %s: not followed",
				 d->rule, MAX_INTERP_DEPTH, path);
		return 0;
	}
	ret = keep_path(d, path, &r, err);
	if (ret != 0)
		return ret;
	if (!S_ISREG(r.st.st_mode))
		return 0;
	ret = first_time(d, 'p', r.path, err);
	if (ret <= 0)
		return ret;
	fd = open_resolved(d, &r, err);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == ENXIO ? 0 :
			sfs_fail(err, errno, "%s in image %s", r.path, d->im->dir);
	n = pread(fd, buf, sizeof buf, 0);
	if (n < 0)
		return sfs_fail(err, errno, "%s in image %s", r.path, d->im->dir);
	if (n >= 2 && buf[0] == '#' && buf[1] == '!')
		return script(d, &r, buf, (size_t)n, depth, err);
	if (n < 4 || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return 0;   /* neither: kept as it is */
	ret = elfinfo_read(fd, &ei);
	if (ret < 0)
		return sfs_fail(err, ENOMEM, "reading %s", r.path);
	if (ret > 0)
		return 0;
	ret = elf_program(d, path, &r, &ei, err);
	elfinfo_free(&ei);
	return ret;
}

int elfdeps_program(struct elfdeps *d, const char *path, struct sfs_err *err)
{
	char found[PATH_MAX];

	if (strchr(path, '/') == NULL) {
		int ret = find_in_path(d, path, found, err);

		if (ret != 0)
			return ret;
		path = found;
	}
	if (path[0] != '/')
		return 1;
	set_detail(d, "the program");
	return program(d, path, 0, err);
}
