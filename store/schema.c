/* schema.c — the trace's SQLite schema, and opening a trace safely.
 *
 * A trace is recognised by PRAGMA application_id (TRACE_APPLICATION_ID) and versioned
 * by PRAGMA user_version.  An empty database becomes a trace; any other database, or
 * a file that is not SQLite at all, is refused.  The schema is documented in README.md
 * ("The trace"); keep the two in step.
 */
#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS runs("
	"  id INTEGER PRIMARY KEY,"
	"  started_ns INTEGER NOT NULL,"
	"  ended_ns INTEGER,"
	"  lowerdir TEXT NOT NULL,"
	"  command TEXT,"
	"  host TEXT,"
	"  version TEXT NOT NULL,"
	"  verifier INTEGER NOT NULL,"
	"  overflow INTEGER NOT NULL DEFAULT 0,"
	"  incomplete TEXT,"
	"  image TEXT,"
	"  manifest_digest TEXT,"
	"  config_digest TEXT,"
	"  transport TEXT);"
	/* (parent, name) is kept unique by the single writer; no unique index saves
	 * a copy of every name.  The parent index serves the paths view. */
	"CREATE TABLE IF NOT EXISTS nodes("
	"  id INTEGER PRIMARY KEY,"
	"  parent INTEGER NOT NULL,"
	"  name BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent);"
	"CREATE TABLE IF NOT EXISTS ops("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  evidence TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events("
	"  run INTEGER NOT NULL,"
	"  node INTEGER NOT NULL,"
	"  op INTEGER NOT NULL,"
	"  first_us INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY(run, node, op)) WITHOUT ROWID;"
	"CREATE VIEW IF NOT EXISTS paths(id, path) AS"
	"  WITH RECURSIVE p(id, path) AS ("
	"    SELECT id, '/' FROM nodes WHERE id = 1"
	"    UNION ALL"
	"    SELECT n.id, CASE p.id WHEN 1 THEN '/' ELSE p.path || '/' END || CAST(n.name AS TEXT)"
	"    FROM nodes n JOIN p ON n.parent = p.id WHERE n.id <> 1)"
	"  SELECT id, path FROM p;"
	"CREATE VIEW IF NOT EXISTS event_paths(run, path, op, first_us, count) AS"
	"  SELECT e.run, p.path, o.name, e.first_us, e.count"
	"  FROM events e JOIN paths p ON p.id = e.node JOIN ops o ON o.id = e.op;"
	"INSERT OR IGNORE INTO nodes(id, parent, name) VALUES (1, 0, x'');";

int schema_exec(sqlite3 *db, const char *sql, struct sfs_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sfs_fail(err, 0, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out, struct sfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int fill_ops(sqlite3 *db, struct sfs_err *err)
{
	sqlite3_stmt *st;
	int ret = 0;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO ops(id, name, evidence) VALUES (?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	for (int op = 1; op < OP__COUNT && ret == 0; op++) {
		sqlite3_bind_int(st, 1, op);
		sqlite3_bind_text(st, 2, trace_op_name(op), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, trace_evidence_name(trace_op_evidence(op)), -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			ret = sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return ret;
}

/* Make an empty database a trace, inside one transaction, in WAL mode.  Without sync:
 * the switch to WAL and the schema's commit cost five fdatasyncs (1-30 ms on a busy
 * disk) before the daemon could mount, to protect a file that holds nothing yet against
 * a power loss; the writer syncs at its checkpoints (synchronous = NORMAL). */
static int create_schema(sqlite3 *db, struct sfs_err *err)
{
	char sql[128];

	if (schema_exec(db, "PRAGMA synchronous = OFF; PRAGMA journal_mode = WAL;", err) < 0 ||
	    schema_exec(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
		 TRACE_APPLICATION_ID, TRACE_SCHEMA_VERSION);
	if (schema_exec(db, sql, err) < 0 || schema_exec(db, schema_sql, err) < 0 ||
	    fill_ops(db, err) < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return schema_exec(db, "COMMIT; PRAGMA synchronous = NORMAL;", err);
}

/* Columns of runs added after the first schema, each NULL in older rows: a trace made
 * by an older slimfs gets those it lacks when a writer opens it (so the version need
 * not change for them, and traces stay readable by the older slimfs). */
static const char *const runs_added[][2] = {
	{ "incomplete", "TEXT" },       /* why the run is incomplete: writer errors */
	{ "image", "TEXT" },            /* the container image as slimfs-run was given it */
	{ "manifest_digest", "TEXT" },  /* its manifest's sha256 ("sha256:...") */
	{ "config_digest", "TEXT" },    /* its config's sha256 */
	{ "transport", "TEXT" },        /* 'io_uring' or 'dev_fuse': what served the run */
};

/* Does table runs of DB have column NAME?  1, 0, or -1 with ERR. */
int schema_runs_has(sqlite3 *db, const char *name, struct sfs_err *err)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('runs') WHERE name = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(db));
	return found;
}

static int add_columns(sqlite3 *db, struct sfs_err *err)
{
	for (size_t k = 0; k < sizeof(runs_added) / sizeof(runs_added[0]); k++) {
		char sql[128];
		int has = schema_runs_has(db, runs_added[k][0], err);

		if (has < 0)
			return -1;
		if (has)
			continue;
		snprintf(sql, sizeof sql, "ALTER TABLE runs ADD COLUMN %s %s", runs_added[k][0],
			 runs_added[k][1]);
		if (schema_exec(db, sql, err) < 0)
			return -1;
	}
	return 0;
}

/* A writer's trace: WAL, synced at checkpoints only, the columns of runs this slimfs
 * writes, and the operation names of this slimfs (a newer one may know more), in one
 * transaction, not one synced commit each. */
static int update_ops(sqlite3 *db, struct sfs_err *err)
{
	if (schema_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", err) < 0 ||
	    schema_exec(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (add_columns(db, err) < 0 || fill_ops(db, err) < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return schema_exec(db, "COMMIT", err);
}

static int check_trace(sqlite3 *db, enum schema_mode mode, struct sfs_err *err)
{
	int64_t app, version, tables;

	/* The first read of a file that is not SQLite fails here ("file is not a database"). */
	if (pragma_int(db, "PRAGMA application_id", &app, err) < 0)
		return -1;
	if (pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err) < 0)
		return -1;
	if (app == 0 && tables == 0) {
		if (mode == SCHEMA_READ)
			return sfs_fail(err, 0, "not a slimfs trace (empty database)");
		return mode == SCHEMA_WRITE ? create_schema(db, err) : 0;
	}
	if (app != TRACE_APPLICATION_ID)
		return sfs_fail(err, 0, "not a slimfs trace (a SQLite database of another application)");
	if (pragma_int(db, "PRAGMA user_version", &version, err) < 0)
		return -1;
	if (version > TRACE_SCHEMA_VERSION)
		return sfs_fail(err, 0, "trace schema version %lld is newer than this slimfs (%d)",
				(long long)version, TRACE_SCHEMA_VERSION);
	if (mode == SCHEMA_WRITE)
		return update_ops(db, err);
	return 0;
}

int schema_open(sqlite3 **out, const char *file, enum schema_mode mode, struct sfs_err *err)
{
	struct stat st;
	sqlite3 *db = NULL;
	bool writable = mode == SCHEMA_WRITE;
	int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;

	/* SQLite would happily open a directory or create a missing file read-only:
	 * name those failures ourselves. */
	if (stat(file, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return sfs_fail(err, 0, "trace %s: not a regular file", file);
		if (access(file, mode == SCHEMA_READ ? R_OK : R_OK | W_OK) < 0)
			return sfs_fail(err, errno, "trace %s", file);
	} else if (!writable || errno != ENOENT) {
		return sfs_fail(err, errno, "trace %s", file);
	}
	if (sqlite3_open_v2(file, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sfs_fail(err, 0, "trace %s: %s", file, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	/* A trace may come from anywhere: SQLite's own advice for untrusted databases
	 * (no schema tricks, no writes to its internals, cells checked as they are read). */
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_exec(db, "PRAGMA cell_size_check = ON", NULL, NULL, NULL);
	if (check_trace(db, mode, err) < 0) {
		sqlite3_close(db);
		return sfs_wrap(err, "trace %s", file);
	}
	*out = db;
	return 0;
}
