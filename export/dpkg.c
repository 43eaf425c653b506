/* dpkg.c — reading the image's dpkg database (see dpkg.h).
 *
 * Package state (dpkg's Status field, third word): "not-installed" and "config-files"
 * have no files on disk; every other state (half-installed, unpacked, half-configured,
 * triggers-awaited, triggers-pending, installed) has.  Info files are named
 * "NAME:ARCH.EXT" for Multi-Arch: same packages in the multiarch database layout and
 * "NAME.EXT" otherwise; like Syft, the first of the two that exists is used.
 */
#include "dpkg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "resolve.h"

#define MAX_DB_FILE (256u << 20)

bool dpkg_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *llen)
{
	const char *p, *nl;

	if (*pos >= len)
		return false;
	p = buf + *pos;
	nl = memchr(p, '\n', len - *pos);
	*line = p;
	*llen = nl ? (size_t)(nl - p) : len - *pos;
	*pos += *llen + (nl != NULL);
	return true;
}

void dpkg_close(struct dpkg_db *db)
{
	for (size_t i = 0; i < db->n; i++) {
		free(db->v[i].name);
		free(db->v[i].arch);
		free(db->v[i].version);
		free(db->v[i].info);
	}
	free(db->v);
	for (size_t i = 0; i < db->nbufs; i++)
		free(db->bufs[i]);
	free(db->bufs);
	for (size_t i = 0; i < db->ndiv; i++) {
		free(db->div[i].from);
		free(db->div[i].to);
		free(db->div[i].by);
	}
	free(db->div);
	memset(db, 0, sizeof *db);
}

/* Read DPKG_DIR/NAME (symlinks followed inside the root): 0, 1 none, -1. */
static int read_db_file(struct dpkg_db *db, const char *name, char **buf, size_t *len,
			struct sfs_err *err)
{
	char path[PATH_MAX];
	struct resolved r;
	int ret;

	if ((size_t)snprintf(path, sizeof path, DPKG_DIR "/%s", name) >= sizeof path)
		return 1;
	ret = image_resolve(db->im, path, RESOLVE_FOLLOW, NULL, NULL, &r, err);
	if (ret != 0)
		return ret;
	return image_read_file(db->im, r.path, MAX_DB_FILE, buf, len, err);
}

static char *field_dup(const struct deb822_stanza *st, const char *name)
{
	struct deb822_field f;

	if (!deb822_get(st, name, &f))
		return strdup("");
	return strndup(f.value, f.vlen);
}

static bool status_present(const struct deb822_stanza *st)
{
	struct deb822_field f;
	const char *w;
	size_t wl;

	if (!deb822_get(st, "Status", &f) || !deb822_word(f.value, f.vlen, 2, &w, &wl))
		return false;
	return !(wl == 13 && memcmp(w, "not-installed", 13) == 0) &&
	       !(wl == 12 && memcmp(w, "config-files", 12) == 0);
}

static int info_stem(struct dpkg_db *db, struct dpkg_pkg *p, struct sfs_err *err)
{
	char stem[2][NAME_MAX + 1], path[PATH_MAX];

	snprintf(stem[0], sizeof stem[0], "%s:%s", p->name, p->arch);
	snprintf(stem[1], sizeof stem[1], "%s", p->name);
	for (int k = 0; k < 2; k++) {
		struct resolved r;
		int ret;

		if ((size_t)snprintf(path, sizeof path, DPKG_DIR "/info/%s.list", stem[k]) >= sizeof path)
			continue;
		ret = image_resolve(db->im, path, RESOLVE_FOLLOW, NULL, NULL, &r, err);
		if (ret < 0)
			return -1;
		if (ret == 0 && S_ISREG(r.st.st_mode)) {
			p->info = strdup(stem[k]);
			return p->info ? 0 : sfs_fail(err, ENOMEM, "reading the dpkg database");
		}
	}
	return 0;
}

/* Add (or, for the same name and architecture, replace) the stanza ST. */
static int add_stanza(struct dpkg_db *db, const struct deb822_stanza *st, struct sfs_err *err)
{
	struct dpkg_pkg p = { .st = *st };
	size_t i;

	p.name = field_dup(st, "Package");
	p.arch = field_dup(st, "Architecture");
	p.version = field_dup(st, "Version");
	if (p.name == NULL || p.arch == NULL || p.version == NULL)
		goto oom;
	if (p.name[0] == '\0' || strchr(p.name, '/') || strlen(p.name) > NAME_MAX / 2) {
		free(p.name);
		free(p.arch);
		free(p.version);
		return 0;   /* no package, or a name no info file can have: not one dpkg keeps */
	}
	p.present = status_present(st);
	for (i = 0; i < db->n; i++)
		if (strcmp(db->v[i].name, p.name) == 0 && strcmp(db->v[i].arch, p.arch) == 0)
			break;
	if (i == db->n) {
		struct dpkg_pkg *v = realloc(db->v, (db->n + 1) * sizeof *v);

		if (v == NULL)
			goto oom;
		db->v = v;
		db->n++;
	} else {
		free(db->v[i].name);
		free(db->v[i].arch);
		free(db->v[i].version);
		free(db->v[i].info);
	}
	db->v[i] = p;
	return 0;
oom:
	free(p.name);
	free(p.arch);
	free(p.version);
	return sfs_fail(err, ENOMEM, "reading the dpkg database");
}

static int read_stanzas(struct dpkg_db *db, const char *file, char *buf, size_t len,
			struct sfs_err *err)
{
	struct deb822_stanza st;
	size_t pos = 0, line = 1, bad = 0;
	int ret;

	while ((ret = deb822_next(buf, len, &pos, &line, &st, &bad)) > 0)
		if (add_stanza(db, &st, err) < 0)
			return -1;
	if (ret < 0)
		return sfs_fail(err, 0, "%s/%s in image %s, line %zu: not a field of a stanza "
				"(use --package-db full or none to export it as it is)",
				DPKG_DIR, file, db->im->dir, bad);
	return 0;
}

static int keep_buf(struct dpkg_db *db, char *buf, struct sfs_err *err)
{
	char **v = realloc(db->bufs, (db->nbufs + 1) * sizeof *v);

	if (v == NULL) {
		free(buf);
		return sfs_fail(err, ENOMEM, "reading the dpkg database");
	}
	db->bufs = v;
	v[db->nbufs++] = buf;
	return 0;
}

struct names {
	char **v;
	size_t n;
};

static int add_update_name(void *ctx, const char *name, struct sfs_err *err)
{
	struct names *u = ctx;
	char **v;

	if (name[strspn(name, "0123456789")] != '\0' || strlen(name) > 32)
		return 0;   /* dpkg's journal entries are numbers; "tmp.i" and others are not */
	v = realloc(u->v, (u->n + 1) * sizeof *v);
	if (v == NULL || (v[u->n] = strdup(name)) == NULL) {
		if (v)
			u->v = v;
		return sfs_fail(err, ENOMEM, "reading the dpkg database");
	}
	u->v = v;
	u->n++;
	return 0;
}

static int cmp_num(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	return lx != ly ? (lx > ly) - (lx < ly) : strcmp(x, y);
}

/* The journal: updates/NNNN stanzas override status, in number order. */
static int read_updates(struct dpkg_db *db, struct sfs_err *err)
{
	struct names u = { 0 };
	struct resolved r;
	int ret = image_resolve(db->im, DPKG_DIR "/updates", RESOLVE_FOLLOW, NULL, NULL, &r, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (!S_ISDIR(r.st.st_mode) || image_list_dir(db->im, r.path, add_update_name, &u, err) < 0)
		goto out;
	if (u.n > 1)
		qsort(u.v, u.n, sizeof *u.v, cmp_num);
	for (size_t i = 0; i < u.n && ret == 0; i++) {
		char name[64], *buf = NULL;
		size_t len;

		snprintf(name, sizeof name, "updates/%s", u.v[i]);
		ret = read_db_file(db, name, &buf, &len, err);
		if (ret > 0) {
			ret = 0;
			continue;
		}
		if (ret == 0 && (ret = keep_buf(db, buf, err)) == 0)
			ret = read_stanzas(db, name, buf, len, err);
	}
out:
	for (size_t i = 0; i < u.n; i++)
		free(u.v[i]);
	free(u.v);
	return ret < 0 ? -1 : 0;
}

static int read_diversions(struct dpkg_db *db, struct sfs_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, pos = 0, ll[3];
	const char *l[3];
	int ret = read_db_file(db, "diversions", &buf, &len, err);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	/* three lines each: the diverted path, where it goes, the diverting package */
	while (dpkg_line(buf, len, &pos, &l[0], &ll[0]) && dpkg_line(buf, len, &pos, &l[1], &ll[1]) &&
	       dpkg_line(buf, len, &pos, &l[2], &ll[2])) {
		struct dpkg_diversion *v = realloc(db->div, (db->ndiv + 1) * sizeof *v);

		if (v == NULL)
			return sfs_fail(err, ENOMEM, "reading the dpkg database");
		db->div = v;
		v = &v[db->ndiv];
		v->from = strndup(l[0], ll[0]);
		v->to = strndup(l[1], ll[1]);
		v->by = strndup(l[2], ll[2]);
		db->ndiv++;
		if (v->from == NULL || v->to == NULL || v->by == NULL)
			return sfs_fail(err, ENOMEM, "reading the dpkg database");
	}
	return 0;
}

int dpkg_open(struct dpkg_db *db, struct image *im, struct sfs_err *err)
{
	char *buf = NULL;
	size_t len;
	int ret;

	memset(db, 0, sizeof *db);
	db->im = im;
	ret = read_db_file(db, "status", &buf, &len, err);
	if (ret != 0)
		return ret;
	if (keep_buf(db, buf, err) < 0 || read_stanzas(db, "status", buf, len, err) < 0 ||
	    read_updates(db, err) < 0 || read_diversions(db, err) < 0)
		goto fail;
	for (size_t i = 0; i < db->n; i++)
		if (db->v[i].present && info_stem(db, &db->v[i], err) < 0)
			goto fail;
	return 0;
fail:
	dpkg_close(db);
	return -1;
}

ssize_t dpkg_find(const struct dpkg_db *db, const char *name)
{
	const char *colon = strchr(name, ':');
	size_t nl = colon ? (size_t)(colon - name) : strlen(name);

	for (size_t i = 0; i < db->n; i++) {
		const struct dpkg_pkg *p = &db->v[i];

		if (p->present && strlen(p->name) == nl && strncmp(p->name, name, nl) == 0 &&
		    (colon == NULL || strcmp(p->arch, colon + 1) == 0))
			return (ssize_t)i;
	}
	return -1;
}

int dpkg_info(struct dpkg_db *db, size_t i, const char *ext, char **buf, size_t *len,
	      struct sfs_err *err)
{
	char name[NAME_MAX + 16];

	if (db->v[i].info == NULL)
		return 1;
	snprintf(name, sizeof name, "info/%s.%s", db->v[i].info, ext);
	return read_db_file(db, name, buf, len, err);
}

const char *dpkg_divert(const struct dpkg_db *db, size_t i, const char *path)
{
	for (size_t k = 0; k < db->ndiv; k++) {
		const struct dpkg_diversion *d = &db->div[k];

		if (strcmp(d->from, path) == 0)
			return strcmp(d->by, db->v[i].name) == 0 ? path : d->to;
	}
	return path;
}

/* Present packages named NAME[0..NL) (ARCH qualifiers aside) or, when none is, present
 * packages that provide it.  Returns how many CB got, or -1. */
static int satisfy(const struct dpkg_db *db, const char *name, size_t nl, dpkg_dep_cb cb,
		   void *ctx, struct sfs_err *err)
{
	int found = 0;

	for (size_t i = 0; i < db->n; i++)
		if (db->v[i].present && strlen(db->v[i].name) == nl &&
		    memcmp(db->v[i].name, name, nl) == 0) {
			if (cb(ctx, i, err) < 0)
				return -1;
			found++;
		}
	if (found)
		return found;
	for (size_t i = 0; i < db->n; i++) {
		struct deb822_field f;

		if (!db->v[i].present || !deb822_get(&db->v[i].st, "Provides", &f))
			continue;
		for (size_t k = 0; k < f.vlen;) {
			size_t e = k, s;

			while (e < f.vlen && f.value[e] != ',')
				e++;
			s = k;
			while (s < e && (f.value[s] == ' ' || f.value[s] == '\t' || f.value[s] == '\n'))
				s++;
			k = s;
			while (k < e && !strchr(" \t\n(:", f.value[k]))
				k++;
			if (k - s == nl && memcmp(f.value + s, name, nl) == 0) {
				if (cb(ctx, i, err) < 0)
					return -1;
				found++;
				break;
			}
			k = e + 1;
		}
	}
	return found;
}

struct probe {
	int n;
};

static int count_one(void *ctx, size_t dep, struct sfs_err *err)
{
	(void)dep;
	(void)err;
	((struct probe *)ctx)->n++;
	return 0;
}

int dpkg_depends(const struct dpkg_db *db, size_t i, dpkg_dep_cb cb, void *ctx,
		 struct sfs_err *err)
{
	static const char *const fields[] = { "Pre-Depends", "Depends" };

	for (size_t fi = 0; fi < 2; fi++) {
		struct deb822_field f;

		if (!deb822_get(&db->v[i].st, fields[fi], &f))
			continue;
		/* "a (>= 1) | b:any, c": groups by ',', alternatives by '|' */
		for (size_t k = 0; k < f.vlen;) {
			size_t ge = k;

			while (ge < f.vlen && f.value[ge] != ',')
				ge++;
			for (size_t a = k; a < ge;) {
				size_t ae = a, s, e;
				struct probe pr = { 0 };

				while (ae < ge && f.value[ae] != '|')
					ae++;
				s = a;
				while (s < ae && strchr(" \t\n", f.value[s]))
					s++;
				e = s;
				while (e < ae && !strchr(" \t\n(:[", f.value[e]))
					e++;
				a = ae + 1;
				if (e == s)
					continue;
				/* the first alternative something present satisfies */
				if (satisfy(db, f.value + s, e - s, count_one, &pr, err) < 0)
					return -1;
				if (pr.n > 0) {
					if (satisfy(db, f.value + s, e - s, cb, ctx, err) < 0)
						return -1;
					break;
				}
			}
			k = ge + 1;
		}
	}
	return 0;
}
