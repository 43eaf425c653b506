/* report.c — what the exporter tells a person: --list, --stats (table or JSON)
 * and --why.  Everything here reads the finished closure and changes nothing.
 *
 * Counting rules (README): "entries" are all paths but the root; "files" are
 * regular files by name; "bytes" are the sizes of regular files with each inode
 * counted once, so hardlinks cost nothing — as du counts them.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "glob.h"

int report_list(struct export_ctx *c, struct sfs_err *err)
{
	FILE *f = c->o->stdout_;

	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];

		if (pent_kept(e))
			fprintf(f, "%.*s\n", (int)e->len, pent_path(&c->ps, e));
	}
	if (fflush(f) != 0 || ferror(f))
		return sfs_fail(err, errno, "writing the list");
	return 0;
}

struct top {
	const char *name;   /* into the arena, NAMELEN bytes */
	size_t namelen;
	uint64_t bytes, files;
};

struct stats {
	uint64_t entries_kept, files_kept, bytes_kept;
	uint64_t per_ev[4];
	struct top *tops;
	size_t ntops;
	size_t largest[10];   /* entry indices, biggest first */
	size_t nlargest;
};

static int cmp_top(const void *x, const void *y)
{
	const struct top *a = x, *b = y;
	size_t n = a->namelen < b->namelen ? a->namelen : b->namelen;
	int cmp;

	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	cmp = memcmp(a->name, b->name, n);
	return cmp ? cmp : (a->namelen > b->namelen) - (a->namelen < b->namelen);
}

static int compute(struct export_ctx *c, struct stats *s, struct sfs_err *err)
{
	memset(s, 0, sizeof *s);
	s->tops = calloc(c->ps.n ? c->ps.n : 1, sizeof *s->tops);
	if (s->tops == NULL)
		return sfs_fail(err, ENOMEM, "counting");
	for (size_t i = 0; i < c->ps.n; i++) {
		const struct pent *e = &c->ps.v[i];
		const char *p = pent_path(&c->ps, e), *slash;
		size_t toplen;
		struct top *t;

		if (!pent_kept(e) || e->len == 1)     /* the root is no entry (README) */
			continue;
		s->per_ev[e->ev < 4 ? e->ev : 0]++;
		s->entries_kept++;
		if (!(e->flags & F_STAT) || !S_ISREG(e->mode))
			continue;
		s->files_kept++;
		if (closure_link_first(c, i) != i)
			continue;   /* a later name of a counted inode */
		s->bytes_kept += e->size;
		/* top-level directory: "/usr" for "/usr/bin/ls", "/" for "/vmlinuz" */
		slash = memchr(p + 1, '/', e->len - 1);
		toplen = slash ? (size_t)(slash - p) : 1;
		t = s->ntops ? &s->tops[s->ntops - 1] : NULL;
		if (t == NULL || t->namelen != toplen || memcmp(t->name, p, toplen) != 0) {
			t = &s->tops[s->ntops++];
			t->name = p;
			t->namelen = toplen;
		}
		t->bytes += e->size;
		t->files++;
		/* insertion into the ten largest, biggest first, ties by path order */
		size_t k = s->nlargest < 10 ? s->nlargest++ : 10;
		while (k > 0 && c->ps.v[s->largest[k - 1]].size < e->size) {
			if (k < 10)
				s->largest[k] = s->largest[k - 1];
			k--;
		}
		if (k < 10)
			s->largest[k] = i;
	}
	/* Files directly in "/" come between top-level names in path order: merge
	 * the groups of the same name before sorting by size. */
	qsort(s->tops, s->ntops, sizeof *s->tops, cmp_top);
	for (size_t a = 0; a < s->ntops; a++) {
		for (size_t b = a + 1; b < s->ntops; b++) {
			if (s->tops[b].namelen == s->tops[a].namelen &&
			    memcmp(s->tops[b].name, s->tops[a].name, s->tops[a].namelen) == 0) {
				s->tops[a].bytes += s->tops[b].bytes;
				s->tops[a].files += s->tops[b].files;
				s->tops[b].bytes = 0;
				s->tops[b].files = 0;
			}
		}
	}
	qsort(s->tops, s->ntops, sizeof *s->tops, cmp_top);
	while (s->ntops > 0 && s->tops[s->ntops - 1].files == 0)
		s->ntops--;
	return 0;
}

static double reduction(const struct export_ctx *c, const struct stats *s)
{
	if (c->bytes_total == 0)
		return 0.0;
	return 100.0 * (1.0 - (double)s->bytes_kept / (double)c->bytes_total);
}

static const char *human(char *buf, size_t n, uint64_t bytes)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

static int print_json(struct export_ctx *c, const struct stats *s, struct sfs_err *err)
{
	json_t *o, *tops, *largest;
	char *text;

	tops = json_array();
	for (size_t i = 0; i < s->ntops; i++)
		json_array_append_new(tops, json_pack("{s:s%,s:I,s:I}", "dir", s->tops[i].name,
						      s->tops[i].namelen, "bytes",
						      (json_int_t)s->tops[i].bytes, "files",
						      (json_int_t)s->tops[i].files));
	largest = json_array();
	for (size_t i = 0; i < s->nlargest; i++) {
		const struct pent *e = &c->ps.v[s->largest[i]];

		json_array_append_new(largest, json_pack("{s:s%,s:I}", "path", pent_path(&c->ps, e),
							 (size_t)e->len, "bytes", (json_int_t)e->size));
	}
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:b,s:I,s:{s:I,s:I,s:I},s:I,s:s,s:s,"
		      "s:{s:I,s:I,s:I,s:I},s:o,s:o}",
		      "files_total", (json_int_t)c->files_total,
		      "bytes_total", (json_int_t)c->bytes_total,
		      "files_kept", (json_int_t)s->files_kept,
		      "bytes_kept", (json_int_t)s->bytes_kept,
		      "entries_total", (json_int_t)c->entries_total,
		      "entries_kept", (json_int_t)s->entries_kept,
		      "reduction", reduction(c, s),
		      "runs", (json_int_t)c->nruns,
		      "incomplete", c->nincomplete > 0,
		      "incomplete_runs", (json_int_t)c->nincomplete,
		      "transports",
		      "io_uring", (json_int_t)c->nring,
		      "dev_fuse", (json_int_t)c->ndevfuse,
		      "unknown", (json_int_t)(c->nruns - c->nring - c->ndevfuse),
		      "refused_paths", (json_int_t)c->nrefused,
		      "keep", trace_evidence_name(c->o->keep),
		      "image", c->imagedir,
		      "per_evidence",
		      "none", (json_int_t)s->per_ev[EV_NONE],
		      "lookup", (json_int_t)s->per_ev[EV_LOOKUP],
		      "open", (json_int_t)s->per_ev[EV_OPEN],
		      "read", (json_int_t)s->per_ev[EV_READ],
		      "top_dirs", tops, "largest", largest);
	if (o == NULL)
		return sfs_fail(err, ENOMEM, "building the JSON statistics");
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return sfs_fail(err, ENOMEM, "building the JSON statistics");
	fprintf(c->o->stdout_, "%s\n", text);
	free(text);
	return 0;
}

/* "runs by transport: 2 io_uring, 1 /dev/fuse": what served the runs (runs.transport), and
 * how many runs an older slimfs recorded without saying. */
static void print_transports(const struct export_ctx *c, FILE *f)
{
	size_t unknown = c->nruns - c->nring - c->ndevfuse;
	const char *sep = "";

	fprintf(f, "runs by transport:");
	if (c->nring) {
		fprintf(f, " %zu io_uring", c->nring);
		sep = ",";
	}
	if (c->ndevfuse) {
		fprintf(f, "%s %zu /dev/fuse", sep, c->ndevfuse);
		sep = ",";
	}
	if (unknown)
		fprintf(f, "%s %zu not recorded", sep, unknown);
	fprintf(f, "\n\n");
}

static void print_table(struct export_ctx *c, const struct stats *s)
{
	FILE *f = c->o->stdout_;
	char h[32];

	if (c->nincomplete)
		fprintf(f, "!!! INCOMPLETE: %zu of %zu runs lost events, were not all written "
			"or never ended; "
			"the lean image may miss files !!!\n\n", c->nincomplete, c->nruns);
	fprintf(f, "image %s, %zu run%s merged, --keep %s\n", c->imagedir, c->nruns,
		c->nruns == 1 ? "" : "s", trace_evidence_name(c->o->keep));
	print_transports(c, f);
	fprintf(f, "%-10s %10s %10s %16s %12s\n", "", "entries", "files", "bytes", "");
	fprintf(f, "%-10s %10llu %10llu %16llu %12s\n", "image",
		(unsigned long long)c->entries_total, (unsigned long long)c->files_total,
		(unsigned long long)c->bytes_total, human(h, sizeof h, c->bytes_total));
	fprintf(f, "%-10s %10llu %10llu %16llu %12s\n", "kept",
		(unsigned long long)s->entries_kept, (unsigned long long)s->files_kept,
		(unsigned long long)s->bytes_kept, human(h, sizeof h, s->bytes_kept));
	fprintf(f, "%-10s %49.2f %%\n\n", "reduction", reduction(c, s));
	fprintf(f, "kept paths by evidence: read %llu, open %llu, lookup %llu, "
		"none (closure only) %llu\n",
		(unsigned long long)s->per_ev[EV_READ], (unsigned long long)s->per_ev[EV_OPEN],
		(unsigned long long)s->per_ev[EV_LOOKUP], (unsigned long long)s->per_ev[EV_NONE]);
	if (c->nrefused)
		fprintf(f, "trace paths refused (not absolute and clean): %zu\n", c->nrefused);
	fprintf(f, "\nkept bytes per top-level directory:\n");
	for (size_t i = 0; i < s->ntops; i++)
		fprintf(f, "  %-20.*s %12s %8llu files\n", (int)s->tops[i].namelen,
			s->tops[i].name, human(h, sizeof h, s->tops[i].bytes),
			(unsigned long long)s->tops[i].files);
	fprintf(f, "\nlargest kept files:\n");
	for (size_t i = 0; i < s->nlargest; i++) {
		const struct pent *e = &c->ps.v[s->largest[i]];

		fprintf(f, "  %12s  %.*s\n", human(h, sizeof h, e->size), (int)e->len,
			pent_path(&c->ps, e));
	}
}

int report_stats(struct export_ctx *c, struct sfs_err *err)
{
	struct stats s;
	int ret;

	if (compute(c, &s, err) < 0) {
		free(s.tops);
		return -1;
	}
	if (c->o->json) {
		ret = print_json(c, &s, err);
	} else {
		print_table(c, &s);
		ret = 0;
	}
	free(s.tops);
	if (ret == 0 && (fflush(c->o->stdout_) != 0 || ferror(c->o->stdout_)))
		ret = sfs_fail(err, errno, "writing the statistics");
	return ret;
}

/* The kept path that made directory I an ancestor: the first kept path below it
 * that is kept for a reason of its own.  Returns its entry or NULL. */
static const struct pent *ancestor_of(const struct export_ctx *c, size_t i)
{
	const struct pent *d = &c->ps.v[i];
	const char *dp = pent_path(&c->ps, d);

	for (size_t j = i + 1; j < c->ps.n; j++) {
		const struct pent *e = &c->ps.v[j];

		if (!path_is_at_or_above(dp, d->len, pent_path(&c->ps, e), e->len))
			break;
		if (pent_kept(e) && (e->why & ~W_ANCESTOR))
			return e;
	}
	return NULL;
}

static const struct pent *hardlink_of(const struct export_ctx *c, size_t i)
{
	const struct pent *h = &c->ps.v[i];

	for (size_t j = 0; j < c->ps.n; j++) {
		const struct pent *e = &c->ps.v[j];

		if (j != i && pent_kept(e) && (e->why & ~W_HARDLINK) && (e->flags & F_STAT) &&
		    e->dev == h->dev && e->ino == h->ino)
			return e;
	}
	return NULL;
}

static void print_reason(const struct export_ctx *c, const char *what, const struct pent *e)
{
	fprintf(c->o->stdout_, "  kept: closure: %s %.*s\n", what, e ? (int)e->len : 1,
		e ? pent_path(&c->ps, e) : "?");
}

int report_why(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;
	FILE *f = o->stdout_;
	const char *path = o->why, *pat = NULL;
	size_t len = strlen(path);
	ssize_t i = pathset_find(&c->ps, path, len);
	const struct pent *e = i >= 0 ? &c->ps.v[i] : NULL;
	struct stat st;
	int inimage;

	fprintf(f, "%s\n", path);
	if (c->nwhy_ev == 0)
		fprintf(f, "  recorded: never, by none of %zu run%s\n", c->nruns,
			c->nruns == 1 ? "" : "s");
	for (size_t k = 0; k < c->nwhy_ev; k++) {
		const struct why_event *w = &c->why_ev[k];
		const char *name = trace_op_name(w->op);

		fprintf(f, "  recorded: %s run %lld: %-12s first +%lld.%06llds  count %lld\n",
			o->traces[w->trace], (long long)w->run, name ? name : "?",
			(long long)(w->first_us / 1000000), (long long)(w->first_us % 1000000),
			(long long)w->count);
	}
	fprintf(f, "  evidence: %s (--keep %s)\n", trace_evidence_name(e ? e->ev : EV_NONE),
		trace_evidence_name(o->keep));
	if (e && pent_kept(e)) {
		if (e->why & W_EVIDENCE)
			fprintf(f, "  kept: evidence %s >= %s\n", trace_evidence_name(e->ev),
				trace_evidence_name(o->keep));
		if (e->why & W_ANCESTOR)
			print_reason(c, "ancestor of", ancestor_of(c, (size_t)i));
		if (e->why & W_HARDLINK)
			print_reason(c, "hardlink of", hardlink_of(c, (size_t)i));
		if (e->why & W_CREATED)
			fprintf(f, "  kept: closure: the workload created entries in it\n");
		if (e->why & W_MOUNT)
			fprintf(f, "  kept: closure: mount point%s\n",
				(e->flags & F_SYNTH) ? " (not in the image: made up)" : "");
		if (e->why & W_INCLUDE) {
			for (size_t k = 0; k < o->nincludes; k++)
				if (glob_match(o->includes[k], path, len)) {
					fprintf(f, "  kept: include %s\n", o->includes[k]);
					break;
				}
		}
		/* include-exe, include-pkg, preset and package-db, with what led to it */
		for (size_t k = 0; k < c->nwhy_rules; k++)
			fprintf(f, "  kept: %s\n", c->why_rules[k]);
		if (c->nwhy_more)
			fprintf(f, "  kept: ... and %zu more walks of the rules above or others\n",
				c->nwhy_more);
		if (e->flags & F_GEN)
			fprintf(f, "  content: generated (the image's file trimmed to the lean "
				"image: %zu of %zu packages)\n", c->pkgs_kept, c->pkgs_total);
		return 0;
	}
	if (pkgdb_left_out(c, path, len)) {
		fprintf(f, "  left out: %s\n", pkgdb_left_out(c, path, len));
		return 0;
	}
	if (closure_excluded(c, path, len, &pat)) {
		fprintf(f, "  left out: excluded by --exclude %s\n", pat);
		return 0;
	}
	inimage = image_lstat(&c->im, path, len, &st, err);
	if (inimage < 0)
		return -1;
	if (inimage > 0)
		fprintf(f, "  left out: not in the image %s (or reachable only through a symlink)\n",
			c->imagedir);
	else if (e && e->ev > EV_NONE && e->ev < o->keep)
		fprintf(f, "  left out: evidence %s is below --keep %s\n",
			trace_evidence_name(e->ev), trace_evidence_name(o->keep));
	else if (e && e->ev == EV_NONE && c->nwhy_ev)
		fprintf(f, "  left out: its events (writes, failed lookups) are no evidence "
			"that the image's file is needed\n");
	else
		fprintf(f, "  left out: no run touched it\n");
	return 0;
}
