/* reader.c — loading a trace for the exporter and the tests.
 *
 * The whole trace is read at open: runs into an array, nodes into a path table
 * (ids[i] and path_off[i]: a node id, ascending, and the offset of its absolute path in
 * `paths`, built parent-first since a parent's id is always smaller), events into an
 * array sorted by path, run, op.  The table is as long as the node table, whatever ids
 * a hand-edited trace holds: a lone node 4000000000 costs one entry, not 32 GB.
 * A trace left by a killed daemon (no end time, a WAL beside it) reads the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "trace.h"

struct rev {
	uint32_t node;        /* index into ids/path_off */
	uint8_t op;
	int64_t run, first_us, count;
};

struct trace_reader {
	struct trace_run *runs;
	size_t nruns;
	char *paths;          /* NUL-terminated absolute paths, back to back */
	int64_t *ids;         /* node ids, ascending; ids[0] is TRACE_ROOT */
	uint64_t *path_off;   /* path of ids[i] */
	uint32_t nnodes;
	struct rev *evs;
	size_t nevs;
	size_t dropped;       /* nodes that break the invariants, skipped */
};

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return strdup(s ? (const char *)s : "");
}

static int load_runs(struct trace_reader *r, sqlite3 *db, struct sfs_err *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;
	/* A trace of an older slimfs may lack the columns added since (schema.c): NULL. */
	static const char *const added[] = { "incomplete", "image", "manifest_digest",
					     "config_digest", "transport" };
	char sql[512] = "SELECT id, started_ns, ended_ns, lowerdir, command, host, version,"
			" verifier, overflow";

	for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
		int has = schema_runs_has(db, added[i], err);

		if (has < 0)
			return -1;
		snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ", %s", has ? added[i] : "NULL");
	}
	snprintf(sql + strlen(sql), sizeof sql - strlen(sql), " FROM runs ORDER BY id");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct trace_run *run;

		if (r->nruns == cap) {
			cap = cap ? cap * 2 : 8;
			run = realloc(r->runs, cap * sizeof *r->runs);
			if (run == NULL)
				break;
			r->runs = run;
		}
		run = &r->runs[r->nruns++];
		run->id = sqlite3_column_int64(st, 0);
		run->started_ns = sqlite3_column_int64(st, 1);
		run->ended_ns = sqlite3_column_int64(st, 2);
		run->lowerdir = dup_col(st, 3);
		run->command = dup_col(st, 4);
		run->host = dup_col(st, 5);
		run->version = dup_col(st, 6);
		run->verifier = sqlite3_column_int(st, 7) != 0;
		run->overflow = sqlite3_column_int(st, 8) != 0;
		run->incomplete = sqlite3_column_type(st, 9) == SQLITE_NULL ? NULL : dup_col(st, 9);
		run->image = sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : dup_col(st, 10);
		run->manifest_digest = sqlite3_column_type(st, 11) == SQLITE_NULL ? NULL : dup_col(st, 11);
		run->config_digest = sqlite3_column_type(st, 12) == SQLITE_NULL ? NULL : dup_col(st, 12);
		run->transport = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : dup_col(st, 13);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, rc == SQLITE_ROW ? ENOMEM : 0, "%s", sqlite3_errmsg(db));
	return 0;
}

/* The index of node `id` in r->ids, or UINT32_MAX when the trace has no such node.
 * slimfs writes dense ids (node k at index k - 1): that slot is tried first. */
static uint32_t node_index(const struct trace_reader *r, int64_t id)
{
	uint32_t lo = 0, hi = r->nnodes;

	if (id >= 1 && id <= r->nnodes && r->ids[id - 1] == id)
		return (uint32_t)(id - 1);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nnodes && r->ids[lo] == id ? lo : UINT32_MAX;
}

/* Room for one more node in ids and path_off (NCAP entries now): 0 or -1. */
static int grow_nodes(struct trace_reader *r, uint32_t *ncap)
{
	uint32_t n = *ncap * 2;
	void *ids, *off;

	if (r->nnodes < *ncap)
		return 0;
	if (*ncap > UINT32_MAX / 2)
		return -1;      /* node indexes are 32-bit, UINT32_MAX meaning none */
	ids = realloc(r->ids, n * sizeof *r->ids);
	if (ids)
		r->ids = ids;
	off = realloc(r->path_off, n * sizeof *r->path_off);
	if (off)
		r->path_off = off;
	if (ids == NULL || off == NULL)
		return -1;
	*ncap = n;
	return 0;
}

static int load_nodes(struct trace_reader *r, sqlite3 *db, struct sfs_err *err)
{
	sqlite3_stmt *st;
	uint64_t len = 2, cap = 4096;
	uint32_t ncap = 1024;
	int rc;

	r->ids = malloc(ncap * sizeof *r->ids);
	r->path_off = malloc(ncap * sizeof *r->path_off);
	r->paths = malloc(cap);
	if (r->ids == NULL || r->path_off == NULL || r->paths == NULL)
		return sfs_fail(err, ENOMEM, "loading paths");
	memcpy(r->paths, "/", 2);
	r->ids[0] = TRACE_ROOT;
	r->path_off[0] = 0;
	r->nnodes = 1;

	if (sqlite3_prepare_v2(db, "SELECT id, parent, name FROM nodes WHERE id > 1 ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), parent = sqlite3_column_int64(st, 1);
		const char *name = sqlite3_column_blob(st, 2);
		size_t nlen = (size_t)sqlite3_column_bytes(st, 2), plen;
		uint32_t pi = parent < id ? node_index(r, parent) : UINT32_MAX;
		const char *ppath;

		/* A parent must come first; a name must be one component.  A trace that
		 * breaks this was not written by slimfs: skip the node, the events naming it
		 * are dropped with it. */
		if (id <= r->ids[r->nnodes - 1] || pi == UINT32_MAX || nlen == 0 ||
		    memchr(name, '/', nlen) || memchr(name, '\0', nlen)) {
			r->dropped++;
			continue;
		}
		if (grow_nodes(r, &ncap) < 0) {
			sqlite3_finalize(st);
			return sfs_fail(err, ENOMEM, "loading paths");
		}
		ppath = r->paths + r->path_off[pi];
		plen = strlen(ppath);
		while (len + plen + nlen + 2 > cap) {
			char *p = realloc(r->paths, cap * 2);
			if (p == NULL) {
				sqlite3_finalize(st);
				return sfs_fail(err, ENOMEM, "loading paths");
			}
			r->paths = p;
			cap *= 2;
			ppath = r->paths + r->path_off[pi];
		}
		r->ids[r->nnodes] = id;
		r->path_off[r->nnodes++] = len;
		if (pi != 0) {
			memcpy(r->paths + len, ppath, plen);
			len += plen;
		}
		r->paths[len++] = '/';
		memcpy(r->paths + len, name, nlen);
		len += nlen;
		r->paths[len++] = '\0';
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	return 0;
}

static int load_events(struct trace_reader *r, sqlite3 *db, struct sfs_err *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT run, node, op, first_us, count FROM events", -1, &st,
			       NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t node = node_index(r, sqlite3_column_int64(st, 1));
		int op = sqlite3_column_int(st, 2);

		if (node == UINT32_MAX || op <= 0 || op >= OP__COUNT)
			continue;   /* unknown node or an operation of a newer slimfs */
		if (r->nevs == cap) {
			struct rev *p;
			cap = cap ? cap * 2 : 4096;
			p = realloc(r->evs, cap * sizeof *r->evs);
			if (p == NULL) {
				sqlite3_finalize(st);
				return sfs_fail(err, ENOMEM, "loading events");
			}
			r->evs = p;
		}
		r->evs[r->nevs++] = (struct rev){
			.run = sqlite3_column_int64(st, 0), .node = node, .op = (uint8_t)op,
			.first_us = sqlite3_column_int64(st, 3), .count = sqlite3_column_int64(st, 4),
		};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	return 0;
}

/* qsort has no context argument; sort with the path table through qsort_r. */
static int cmp_ev(const void *a, const void *b, void *ctx)
{
	const struct trace_reader *r = ctx;
	const struct rev *x = a, *y = b;
	int c = x->node == y->node ? 0 :
		strcmp(r->paths + r->path_off[x->node], r->paths + r->path_off[y->node]);

	if (c)
		return c;
	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	return (int)x->op - (int)y->op;
}

int trace_reader_open(struct trace_reader **out, const char *file, struct sfs_err *err)
{
	struct trace_reader *r = calloc(1, sizeof *r);
	sqlite3 *db = NULL;
	int ret;

	if (r == NULL)
		return sfs_fail(err, ENOMEM, "trace %s", file);
	if (schema_open(&db, file, SCHEMA_READ, err) < 0) {
		trace_reader_close(r);
		return -1;
	}
	ret = schema_exec(db, "BEGIN", err);   /* one consistent snapshot */
	if (ret == 0)
		ret = load_runs(r, db, err);
	if (ret == 0)
		ret = load_nodes(r, db, err);
	if (ret == 0)
		ret = load_events(r, db, err);
	sqlite3_close(db);
	if (ret < 0) {
		trace_reader_close(r);
		return sfs_wrap(err, "trace %s", file);
	}
	if (r->nevs > 1)   /* evs is NULL when there are none: qsort_r wants a real array */
		qsort_r(r->evs, r->nevs, sizeof *r->evs, cmp_ev, r);
	*out = r;
	return 0;
}

void trace_reader_close(struct trace_reader *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nruns; i++) {
		free(r->runs[i].lowerdir);
		free(r->runs[i].command);
		free(r->runs[i].host);
		free(r->runs[i].version);
		free(r->runs[i].incomplete);
		free(r->runs[i].image);
		free(r->runs[i].manifest_digest);
		free(r->runs[i].config_digest);
		free(r->runs[i].transport);
	}
	free(r->runs);
	free(r->paths);
	free(r->ids);
	free(r->path_off);
	free(r->evs);
	free(r);
}

size_t trace_reader_dropped(const struct trace_reader *r)
{
	return r->dropped;
}

size_t trace_reader_nruns(const struct trace_reader *r)
{
	return r->nruns;
}

const struct trace_run *trace_reader_run(const struct trace_reader *r, size_t i)
{
	return i < r->nruns ? &r->runs[i] : NULL;
}

int trace_reader_foreach(struct trace_reader *r, trace_event_cb cb, void *ctx,
			 struct sfs_err *err)
{
	(void)err;
	for (size_t i = 0; i < r->nevs; i++) {
		const struct rev *e = &r->evs[i];
		struct trace_event ev = {
			.path = r->paths + r->path_off[e->node], .run = e->run, .op = e->op,
			.first_us = e->first_us, .count = e->count,
		};
		int ret = cb(ctx, &ev);
		if (ret)
			return ret;
	}
	return 0;
}
