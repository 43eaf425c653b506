/* store_unit.c — the trace store: recording, de-duplication, runs, refusal of foreign
 * files, concurrency, crash-safety of flushed events. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/trace.h"
#include "tap.h"

static char dir[] = "/tmp/slimfs-store-XXXXXX";

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int k;
	char *p = buf[k++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

struct collect {
	char text[65536];
	size_t len;
	int64_t total;
};

static int collect_cb(void *ctx, const struct trace_event *ev)
{
	struct collect *c = ctx;
	c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%lld %s %s %lld\n",
				   (long long)ev->run, ev->path, trace_op_name(ev->op), (long long)ev->count);
	c->total += ev->count;
	return 0;
}

static int read_all(const char *file, struct collect *c, size_t *nruns)
{
	struct trace_reader *r;
	struct sfs_err err;

	memset(c, 0, sizeof *c);
	if (trace_reader_open(&r, file, &err) < 0) {
		printf("# %s\n", err.msg);
		return -1;
	}
	trace_reader_foreach(r, collect_cb, c, &err);
	if (nruns)
		*nruns = trace_reader_nruns(r);
	trace_reader_close(r);
	return 0;
}

static void test_record_and_read(void)
{
	struct trace_run_info info = { .lowerdir = "/img", .command = "ls -l /", .verifier = true };
	struct trace_writer *w;
	struct sfs_err err;
	struct collect c;
	uint32_t usr, lib;
	size_t nruns = 0;
	const char *file = path_in("a.db");

	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0, "writer opens a new trace");
	usr = trace_record_name(w, TRACE_ROOT, "usr", 3, OP_LOOKUP);
	lib = trace_record_name(w, usr, "lib", 3, OP_LOOKUP);
	trace_record(w, trace_record_name(w, TRACE_ROOT, "lib", 3, OP_LOOKUP), OP_READLINK);
	TAP_OK(trace_node_path(w, "/usr/lib") == lib, "a path names the same node as its components");
	TAP_OK(trace_node_path(w, "//usr/./lib/") == lib, "empty and dot components are skipped");
	for (int i = 0; i < 5; i++)
		trace_record(w, trace_node(w, lib, "libc.so.6", 9), OP_READ);
	trace_record_name(w, TRACE_ROOT, "nope", 4, OP_NEGATIVE);
	TAP_OK(trace_writer_close(w, &err) == 0, "writer closes");
	TAP_OK(read_all(file, &c, &nruns) == 0, "reader opens the trace");
	TAP_OK(nruns == 1, "one run");
	TAP_OK(strcmp(c.text,
		      "1 /lib lookup 1\n"
		      "1 /lib readlink 1\n"
		      "1 /nope negative 1\n"
		      "1 /usr lookup 1\n"
		      "1 /usr/lib lookup 1\n"
		      "1 /usr/lib/libc.so.6 read 5\n") == 0,
	       "events are de-duplicated per (run, path, op), counted, sorted by path");
}

static void test_second_run_appends(void)
{
	struct trace_run_info info = { .lowerdir = "/img", .command = "cat /etc/x" };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;
	struct collect c;
	size_t nruns = 0;
	const char *file = path_in("a.db");

	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0, "writer reopens an existing trace");
	trace_record(w, trace_node_path(w, "/usr/lib/libc.so.6"), OP_OPEN);
	trace_record(w, trace_node_path(w, "/etc/x"), OP_READ);
	trace_writer_close(w, &err);
	read_all(file, &c, &nruns);
	TAP_OK(nruns == 2, "a second run is appended");
	TAP_OK(strstr(c.text, "2 /usr/lib/libc.so.6 open 1\n") != NULL &&
	       strstr(c.text, "1 /usr/lib/libc.so.6 read 5\n") != NULL,
	       "runs keep their own events on shared paths");
	TAP_OK(trace_reader_open(&r, file, &err) == 0, "reader opens");
	TAP_OK(trace_reader_run(r, 1)->ended_ns >= trace_reader_run(r, 1)->started_ns &&
	       strcmp(trace_reader_run(r, 1)->command, "cat /etc/x") == 0 &&
	       strcmp(trace_reader_run(r, 0)->lowerdir, "/img") == 0 &&
	       trace_reader_run(r, 0)->verifier && !trace_reader_run(r, 1)->verifier,
	       "run rows hold command, lower dir, verifier flag and end time");
	trace_reader_close(r);
}

static void test_sql_view(void)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	sqlite3_open_v2(path_in("a.db"), &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM event_paths WHERE path = '/usr/lib/libc.so.6'"
			       " AND op = 'read'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	TAP_OK(n == 1, "the event_paths view answers plain SQL by path and op name");
}

static void test_refuses_foreign_files(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;
	FILE *f;
	sqlite3 *db;

	f = fopen(path_in("text.db"), "w");
	fputs("hello, I am not a database, just some text that is long enough........\n", f);
	fclose(f);
	TAP_OK(trace_writer_open(&w, path_in("text.db"), &info, &err) < 0 &&
	       strstr(err.msg, "text.db") && !strchr(err.msg, '\n'),
	       "a text file is refused with one line naming it (%s)", err.msg);
	TAP_OK(trace_writer_check(path_in("text.db"), &err) < 0, "check refuses a text file");
	TAP_OK(trace_reader_open(&r, path_in("text.db"), &err) < 0, "reader refuses a text file");

	sqlite3_open(path_in("other.db"), &db);
	sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
	sqlite3_close(db);
	TAP_OK(trace_writer_open(&w, path_in("other.db"), &info, &err) < 0 &&
	       strstr(err.msg, "not a slimfs trace"),
	       "another application's database is refused (%s)", err.msg);
	TAP_OK(trace_reader_open(&r, path_in("missing.db"), &err) < 0 && strstr(err.msg, "missing.db"),
	       "reader names a missing trace (%s)", err.msg);
	TAP_OK(trace_writer_check("/nonexistent-dir/t.db", &err) < 0,
	       "check refuses a trace in a missing directory (%s)", err.msg);
	TAP_OK(trace_writer_check(path_in("fresh.db"), &err) == 0 && access(path_in("fresh.db"), F_OK) < 0,
	       "check accepts a new trace without creating it");
}

static void test_one_writer(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_writer *w, *w2;
	struct sfs_err err;

	trace_writer_open(&w, path_in("b.db"), &info, &err);
	TAP_OK(trace_writer_open(&w2, path_in("b.db"), &info, &err) < 0 &&
	       strstr(err.msg, "another slimfs"), "a second writer is refused (%s)", err.msg);
	TAP_OK(trace_writer_check(path_in("b.db"), &err) < 0, "check sees the trace is busy");
	trace_writer_close(w, &err);
}

struct hammer {
	struct trace_writer *w;
	int id;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	char name[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof name, "f%d", i % 500);
		trace_record_name(h->w, TRACE_ROOT, name, strlen(name), OP_READ);
	}
	return NULL;
}

static void test_threads(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct hammer h[4];
	pthread_t t[4];
	struct sfs_err err;
	struct collect c;
	struct trace_writer *w;

	trace_writer_open(&w, path_in("c.db"), &info, &err);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ w, i };
		pthread_create(&t[i], NULL, hammer, &h[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	trace_writer_close(w, &err);
	read_all(path_in("c.db"), &c, NULL);
	TAP_OK(c.total == 80000, "4 threads x 20000 events are all counted (%lld)", (long long)c.total);
}

static void test_flush_survives_kill(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct collect c;
	pid_t pid = fork();

	if (pid == 0) {
		struct trace_writer *w;
		struct sfs_err err;
		if (trace_writer_open(&w, path_in("d.db"), &info, &err) < 0)
			_exit(1);
		trace_record(w, trace_node_path(w, "/early"), OP_OPEN);
		trace_mark_overflow(w);
		usleep(3 * TRACE_FLUSH_MS * 1000);
		trace_record(w, trace_node_path(w, "/late"), OP_OPEN);
		kill(getpid(), SIGKILL);
	}
	waitpid(pid, NULL, 0);
	TAP_OK(read_all(path_in("d.db"), &c, NULL) == 0, "a killed writer's trace opens");
	TAP_OK(strstr(c.text, "/early open") != NULL,
	       "events older than the flush interval survive kill -9");
	{
		struct trace_reader *r;
		struct sfs_err err;
		trace_reader_open(&r, path_in("d.db"), &err);
		TAP_OK(trace_reader_run(r, 0)->overflow && trace_reader_run(r, 0)->ended_ns == 0,
		       "the run shows overflow and no end time");
		trace_reader_close(r);
	}
}

static void test_unverified(void)
{
	struct trace_run_info info = { .lowerdir = "/img", .verifier = true };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;

	trace_writer_open(&w, path_in("e.db"), &info, &err);
	trace_mark_unverified(w);
	trace_writer_close(w, &err);
	trace_reader_open(&r, path_in("e.db"), &err);
	TAP_OK(!trace_reader_run(r, 0)->verifier && !trace_reader_run(r, 0)->overflow,
	       "a verifier that could not start is recorded as off");
	trace_reader_close(r);
}

/* A hand-edited trace may hold any node ids: the reader's table follows the rows, not
 * the largest id (a lone id 4000000000 once asked for 32 GB). */
static void test_sparse_node_ids(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;
	struct collect c;
	sqlite3 *db;
	const char *file = path_in("f.db");

	trace_writer_open(&w, file, &info, &err);
	trace_record(w, trace_node_path(w, "/etc/hosts"), OP_READ);
	trace_writer_close(w, &err);
	char *sql = sqlite3_mprintf(
		"INSERT INTO nodes(id, parent, name) VALUES (4000000000, 1, CAST('far' AS BLOB)),"
		" (4000000001, 4000000000, CAST('away' AS BLOB)),"
		" (3000000000, 3999999999, CAST('orphan' AS BLOB));"
		"INSERT INTO events(run, node, op, first_us, count) VALUES"
		" (1, 4000000001, %d, 0, 1), (1, 3000000000, %d, 0, 1), (1, 123456789, %d, 0, 1);",
		OP_READ, OP_READ, OP_READ);

	sqlite3_open(file, &db);
	TAP_OK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
	       "nodes with huge, sparse ids go in");
	sqlite3_close(db);
	sqlite3_free(sql);
	TAP_OK(trace_reader_open(&r, file, &err) == 0, "the reader opens it");
	TAP_OK(trace_reader_dropped(r) == 1, "the node whose parent is missing is dropped");
	trace_reader_close(r);
	read_all(file, &c, NULL);
	TAP_OK(strstr(c.text, "1 /far/away read 1\n") != NULL &&
	       strstr(c.text, "1 /etc/hosts read 1\n") != NULL && strstr(c.text, "orphan") == NULL,
	       "paths under huge ids resolve; events on unknown nodes are skipped");
}

/* A flush that fails (here a trigger refuses new nodes, as a full disk would) keeps
 * what it held: the next flush writes it, and the trace stays whole. */
static void test_failed_flush_retried(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_writer *w;
	struct sfs_err err;
	struct collect c;
	sqlite3 *db;
	const char *file = path_in("g.db");

	trace_writer_open(&w, file, &info, &err);
	sqlite3_open(file, &db);
	sqlite3_exec(db, "CREATE TABLE block(x); INSERT INTO block VALUES (1);"
		     "CREATE TRIGGER refuse BEFORE INSERT ON nodes WHEN (SELECT count(*) FROM block)"
		     " BEGIN SELECT RAISE(ABORT, 'disk full'); END;", NULL, NULL, NULL);
	trace_record(w, trace_node_path(w, "/usr/lib/libz.so.1"), OP_READ);
	TAP_OK(trace_writer_flush(w, &err) < 0, "a flush that cannot write fails");
	trace_record(w, trace_node_path(w, "/usr/lib/libz.so.1"), OP_READ);
	sqlite3_exec(db, "DELETE FROM block", NULL, NULL, NULL);
	sqlite3_close(db);
	TAP_OK(trace_writer_flush(w, &err) == 0, "the next flush succeeds");
	TAP_OK(trace_writer_close(w, &err) == 0, "the writer closes");
	read_all(file, &c, NULL);
	TAP_OK(strcmp(c.text, "1 /usr/lib/libz.so.1 read 2\n") == 0,
	       "nodes and events of the failed flush are written by the next one");
	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0 && trace_writer_close(w, &err) == 0,
	       "the trace can be appended to afterwards");
}

static void test_failed_flush_marks_incomplete(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_reader *r;
	struct trace_writer *w;
	struct sfs_err err;
	sqlite3 *db;
	const char *file = path_in("inc.db");

	trace_writer_open(&w, file, &info, &err);
	sqlite3_open(file, &db);
	sqlite3_exec(db, "CREATE TABLE block(x); INSERT INTO block VALUES (1);"
		     "CREATE TRIGGER refuse BEFORE INSERT ON nodes WHEN (SELECT count(*) FROM block)"
		     " BEGIN SELECT RAISE(ABORT, 'disk full'); END;", NULL, NULL, NULL);
	trace_record(w, trace_node_path(w, "/etc/hosts"), OP_READ);
	trace_writer_flush(w, &err);
	sqlite3_exec(db, "DELETE FROM block", NULL, NULL, NULL);
	sqlite3_close(db);
	TAP_OK(trace_writer_close(w, &err) == 0, "a writer that failed once closes");
	TAP_OK(trace_reader_open(&r, file, &err) == 0 && trace_reader_run(r, 0)->incomplete &&
	       strstr(trace_reader_run(r, 0)->incomplete, "disk full") &&
	       trace_reader_run(r, 0)->ended_ns > 0,
	       "the run ended, and is marked incomplete with the failure's message");
	trace_reader_close(r);

	/* A trace of a slimfs from before the column: read as it is, given it by a writer. */
	file = path_in("old.db");
	trace_writer_open(&w, file, &info, &err);
	trace_writer_close(w, &err);
	sqlite3_open(file, &db);
	TAP_OK(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN incomplete", NULL, NULL, NULL) ==
	       SQLITE_OK, "(a trace without runs.incomplete)");
	sqlite3_close(db);
	TAP_OK(trace_reader_open(&r, file, &err) == 0 && !trace_reader_run(r, 0)->incomplete,
	       "a trace without runs.incomplete reads as complete");
	trace_reader_close(r);
	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0 && trace_writer_close(w, &err) == 0,
	       "a writer appends a run to it");
	sqlite3_open(file, &db);
	TAP_OK(sqlite3_exec(db, "SELECT incomplete FROM runs", NULL, NULL, NULL) == SQLITE_OK,
	       "and gives it the column");
	sqlite3_close(db);
}

/* The image columns of runs: written when given, NULL when not; a trace made before
 * they existed reads as NULL, and gets them when a writer opens it. */
static void test_image_columns(void)
{
	struct trace_run_info img = { .lowerdir = "/c/images/ab/rootfs", .image = "app.tar:latest",
				      .manifest_digest = "sha256:aa", .config_digest = "sha256:cc" };
	struct trace_run_info dir = { .lowerdir = "/img" };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;
	sqlite3 *db;
	const char *file = path_in("img.db");
	const struct trace_run *a, *b;

	TAP_OK(trace_writer_open(&w, file, &img, &err) == 0 && trace_writer_close(w, &err) == 0 &&
	       trace_writer_open(&w, file, &dir, &err) == 0 && trace_writer_close(w, &err) == 0,
	       "a run of an image and a run of a directory are recorded");
	TAP_OK(trace_reader_open(&r, file, &err) == 0, "reader opens");
	a = trace_reader_run(r, 0);
	b = trace_reader_run(r, 1);
	TAP_OK(a->image && !strcmp(a->image, "app.tar:latest") && a->manifest_digest &&
	       !strcmp(a->manifest_digest, "sha256:aa") && a->config_digest &&
	       !strcmp(a->config_digest, "sha256:cc"),
	       "the image's run holds its reference and digests");
	TAP_OK(!b->image && !b->manifest_digest && !b->config_digest,
	       "the directory's run holds NULL there");
	trace_reader_close(r);
	/* the trace as an older slimfs wrote it: without the columns */
	TAP_OK(sqlite3_open(file, &db) == SQLITE_OK &&
	       sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN image; ALTER TABLE runs DROP COLUMN "
			    "manifest_digest; ALTER TABLE runs DROP COLUMN config_digest",
			    NULL, NULL, NULL) == SQLITE_OK && sqlite3_close(db) == SQLITE_OK,
	       "the columns dropped, as in an older trace");
	TAP_OK(trace_reader_open(&r, file, &err) == 0 && trace_reader_nruns(r) == 2 &&
	       !trace_reader_run(r, 0)->image && !trace_reader_run(r, 0)->config_digest,
	       "an older trace reads, its runs without an image");
	trace_reader_close(r);
	TAP_OK(trace_writer_open(&w, file, &img, &err) == 0 && trace_writer_close(w, &err) == 0 &&
	       trace_reader_open(&r, file, &err) == 0 && trace_reader_nruns(r) == 3 &&
	       trace_reader_run(r, 2)->image && !strcmp(trace_reader_run(r, 2)->image, "app.tar:latest"),
	       "a writer adds the missing columns and records into them");
	trace_reader_close(r);
}

/* runs.transport: what a run was marked with (the last mark), NULL when unmarked; a
 * trace made before the column existed reads as NULL, and gets it when a writer opens
 * it. */
static void test_transport_column(void)
{
	struct trace_run_info info = { .lowerdir = "/img" };
	struct trace_writer *w;
	struct trace_reader *r;
	struct sfs_err err;
	sqlite3 *db;
	const char *file = path_in("transport.db");
	const char *t0, *t1, *t2;

	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0, "writer opens");
	trace_mark_transport(w, TRANSPORT_DEV_FUSE);
	TAP_OK(trace_writer_flush(w, &err) == 0, "a transport mark is flushed");
	trace_mark_transport(w, TRANSPORT_IO_URING);
	TAP_OK(trace_writer_close(w, &err) == 0 &&
	       trace_writer_open(&w, file, &info, &err) == 0 && trace_writer_close(w, &err) == 0 &&
	       trace_writer_open(&w, file, &info, &err) == 0, "three runs");
	trace_mark_transport(w, TRANSPORT_DEV_FUSE);
	trace_writer_close(w, &err);
	TAP_OK(trace_reader_open(&r, file, &err) == 0 && trace_reader_nruns(r) == 3, "reader opens");
	t0 = trace_reader_run(r, 0)->transport;
	t1 = trace_reader_run(r, 1)->transport;
	t2 = trace_reader_run(r, 2)->transport;
	TAP_OK(t0 && strcmp(t0, "io_uring") == 0, "the last mark wins, after an earlier flush");
	TAP_OK(t1 == NULL, "an unmarked run reads NULL");
	TAP_OK(t2 && strcmp(t2, "dev_fuse") == 0, "a run marked dev_fuse");
	trace_reader_close(r);
	/* the trace as an older slimfs wrote it: without the column */
	TAP_OK(sqlite3_open(file, &db) == SQLITE_OK &&
	       sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN transport", NULL, NULL, NULL) ==
	       SQLITE_OK && sqlite3_close(db) == SQLITE_OK, "the column dropped, as in an older trace");
	TAP_OK(trace_reader_open(&r, file, &err) == 0 && trace_reader_nruns(r) == 3 &&
	       !trace_reader_run(r, 0)->transport, "an older trace reads, its runs without a transport");
	trace_reader_close(r);
	TAP_OK(trace_writer_open(&w, file, &info, &err) == 0, "a writer opens an older trace");
	trace_mark_transport(w, TRANSPORT_IO_URING);
	TAP_OK(trace_writer_close(w, &err) == 0 && trace_reader_open(&r, file, &err) == 0 &&
	       trace_reader_nruns(r) == 4 && trace_reader_run(r, 3)->transport &&
	       strcmp(trace_reader_run(r, 3)->transport, "io_uring") == 0,
	       "it adds the missing column and records into it");
	trace_reader_close(r);
}

int main(void)
{
	char cmd[128];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_record_and_read();
	test_second_run_appends();
	test_sql_view();
	test_refuses_foreign_files();
	test_one_writer();
	test_threads();
	test_flush_survives_kill();
	test_unverified();
	test_sparse_node_ids();
	test_failed_flush_retried();
	test_failed_flush_marks_incomplete();
	test_image_columns();
	test_transport_column();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
