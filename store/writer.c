/* writer.c — recording events into a trace, from many threads, cheaply.
 *
 * Invariants:
 * - Node ids are dense and assigned here, in creation order, so a node's parent
 *   always has a smaller id; nodes[id] is the node with that id (nodes[0] unused).
 *   (parent, name) is unique: node_index is the only way to make a node.
 * - Every (node, op) of this run has one entry in evs; ev_index finds it.
 * - Everything new since the last flush is: nodes with id > nodes_flushed, and the
 *   events listed in dirty (each at most once, its `dirty` flag set).
 * - mu guards all of the above.  flush_mu serialises flushes, so the database sees
 *   nodes before the events that name them, and counts only ever grow.
 * - The flock on the trace file is held from open to close: a second writer is
 *   refused, and a reader can wait for a run to be complete by taking the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"
#include "schema.h"
#include "trace.h"

struct node {
	uint32_t parent;
	uint32_t name_len;
	uint64_t name_off;   /* into names */
};

struct ev {
	uint32_t node;
	uint8_t op;
	bool dirty;
	int64_t first_us;
	int64_t count;
};

struct trace_writer {
	pthread_mutex_t mu;
	struct node *nodes;
	uint32_t nnodes, nodes_cap, nodes_flushed;
	char *names;
	uint64_t names_len, names_cap;
	uint32_t *node_index;     /* open addressing: node ids, 0 = empty */
	uint32_t node_index_cap;  /* power of two */
	struct ev *evs;
	uint32_t nevs, evs_cap;
	uint32_t *ev_index;       /* open addressing: index+1 into evs, 0 = empty */
	uint32_t ev_index_cap;
	uint32_t *dirty;
	uint32_t ndirty, dirty_cap;
	bool overflow, overflow_flushed;
	bool unverified, unverified_flushed;
	char *incomplete;         /* the first failed flush's message, for runs.incomplete */
	bool incomplete_flushed;
	void (*log)(void *arg, const char *msg);  /* where failed flushes are reported */
	void *log_arg;
	enum trace_transport transport, transport_flushed;   /* 0: none marked */

	pthread_mutex_t flush_mu;
	sqlite3 *db;
	sqlite3_stmt *ins_node, *ins_event;
	int64_t run_id, start_ns;
	int lock_fd;

	pthread_t thread;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	bool stop;
};

#define GROW(arr, len, cap) do {                                              \
		if ((len) >= (cap)) {                                         \
			(cap) = (cap) ? (cap) * 2 : 1024;                     \
			(arr) = xrealloc((arr), (size_t)(cap) * sizeof *(arr)); \
		}                                                             \
	} while (0)

/* FNV-1a over the parent id and the name. */
static uint32_t node_hash(uint32_t parent, const char *name, size_t len)
{
	uint32_t h = 2166136261u ^ parent;

	h *= 16777619u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t ev_hash(uint32_t node, uint8_t op)
{
	uint64_t k = ((uint64_t)node << 8 | op) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(k >> 32);
}

static void node_index_insert(struct trace_writer *w, uint32_t id)
{
	const struct node *n = &w->nodes[id];
	uint32_t mask = w->node_index_cap - 1;
	uint32_t i = node_hash(n->parent, w->names + n->name_off, n->name_len) & mask;

	while (w->node_index[i])
		i = (i + 1) & mask;
	w->node_index[i] = id;
}

static void node_index_grow(struct trace_writer *w)
{
	free(w->node_index);
	w->node_index_cap = w->node_index_cap ? w->node_index_cap * 2 : 4096;
	w->node_index = calloc(w->node_index_cap, sizeof *w->node_index);
	if (w->node_index == NULL)
		abort();
	for (uint32_t id = 1; id < w->nnodes; id++)
		node_index_insert(w, id);
}

/* Append a node; caller holds mu (or is the only thread) and knows it is new. */
static uint32_t node_add(struct trace_writer *w, uint32_t parent, const char *name, size_t len)
{
	uint32_t id = w->nnodes;

	GROW(w->nodes, w->nnodes, w->nodes_cap);
	while (w->names_len + len > w->names_cap) {
		w->names_cap = w->names_cap ? w->names_cap * 2 : 65536;
		w->names = xrealloc(w->names, w->names_cap);
	}
	memcpy(w->names + w->names_len, name, len);
	w->nodes[id] = (struct node){ .parent = parent, .name_len = (uint32_t)len, .name_off = w->names_len };
	w->names_len += len;
	w->nnodes++;
	if ((uint64_t)w->nnodes * 2 > w->node_index_cap)
		node_index_grow(w);
	else
		node_index_insert(w, id);
	return id;
}

static uint32_t node_locked(struct trace_writer *w, uint32_t parent, const char *name, size_t len)
{
	uint32_t mask = w->node_index_cap - 1;
	uint32_t i = node_hash(parent, name, len) & mask;

	for (uint32_t id; (id = w->node_index[i]) != 0; i = (i + 1) & mask) {
		const struct node *n = &w->nodes[id];
		if (n->parent == parent && n->name_len == len &&
		    memcmp(w->names + n->name_off, name, len) == 0)
			return id;
	}
	return node_add(w, parent, name, len);
}

static void ev_index_grow(struct trace_writer *w)
{
	uint32_t mask;

	free(w->ev_index);
	w->ev_index_cap = w->ev_index_cap ? w->ev_index_cap * 2 : 4096;
	w->ev_index = calloc(w->ev_index_cap, sizeof *w->ev_index);
	if (w->ev_index == NULL)
		abort();
	mask = w->ev_index_cap - 1;
	for (uint32_t k = 0; k < w->nevs; k++) {
		uint32_t i = ev_hash(w->evs[k].node, w->evs[k].op) & mask;
		while (w->ev_index[i])
			i = (i + 1) & mask;
		w->ev_index[i] = k + 1;
	}
}

/* Event K (an index into evs) is owed to the next flush.  Lock held. */
static void mark_dirty(struct trace_writer *w, uint32_t k)
{
	if (w->evs[k].dirty)
		return;
	w->evs[k].dirty = true;
	GROW(w->dirty, w->ndirty, w->dirty_cap);
	w->dirty[w->ndirty++] = k;
}

static void record_locked(struct trace_writer *w, uint32_t node, enum trace_op op)
{
	uint32_t mask = w->ev_index_cap - 1;
	uint32_t i = ev_hash(node, (uint8_t)op) & mask, k;
	struct ev *e;

	for (; (k = w->ev_index[i]) != 0; i = (i + 1) & mask) {
		e = &w->evs[k - 1];
		if (e->node == node && e->op == op)
			goto found;
	}
	GROW(w->evs, w->nevs, w->evs_cap);
	k = ++w->nevs;
	e = &w->evs[k - 1];
	*e = (struct ev){ .node = node, .op = (uint8_t)op,
			  .first_us = (now_ns(CLOCK_REALTIME) - w->start_ns) / 1000 };
	if ((uint64_t)w->nevs * 2 > w->ev_index_cap)
		ev_index_grow(w);
	else
		w->ev_index[i] = k;
found:
	e->count++;
	mark_dirty(w, k - 1);
}

uint32_t trace_node(struct trace_writer *w, uint32_t parent, const char *name, size_t len)
{
	uint32_t id;

	pthread_mutex_lock(&w->mu);
	id = node_locked(w, parent, name, len);
	pthread_mutex_unlock(&w->mu);
	return id;
}

uint32_t trace_node_path(struct trace_writer *w, const char *abs)
{
	uint32_t id = TRACE_ROOT;

	pthread_mutex_lock(&w->mu);
	for (const char *p = abs; *p;) {
		size_t len = strcspn(p, "/");
		if (len > 0 && !(len == 1 && p[0] == '.'))
			id = node_locked(w, id, p, len);
		p += len;
		p += *p == '/';
	}
	pthread_mutex_unlock(&w->mu);
	return id;
}

void trace_record(struct trace_writer *w, uint32_t node, enum trace_op op)
{
	if (op <= 0 || op >= OP__COUNT || node == 0)
		return;
	pthread_mutex_lock(&w->mu);
	if (node < w->nnodes)
		record_locked(w, node, op);
	pthread_mutex_unlock(&w->mu);
}

uint32_t trace_record_name(struct trace_writer *w, uint32_t parent, const char *name,
			   size_t len, enum trace_op op)
{
	uint32_t id;

	pthread_mutex_lock(&w->mu);
	id = node_locked(w, parent, name, len);
	if (op > 0 && op < OP__COUNT)
		record_locked(w, id, op);
	pthread_mutex_unlock(&w->mu);
	return id;
}

void trace_mark_overflow(struct trace_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->overflow = true;
	pthread_mutex_unlock(&w->mu);
}

void trace_writer_set_log(struct trace_writer *w, void (*log)(void *arg, const char *msg),
			  void *arg)
{
	pthread_mutex_lock(&w->mu);
	w->log = log;
	w->log_arg = arg;
	pthread_mutex_unlock(&w->mu);
}

/* A flush failed with ERR: say so (the writer thread, which nobody else hears). */
static void flush_failed(struct trace_writer *w, const struct sfs_err *err)
{
	void (*log)(void *, const char *);
	void *arg;

	pthread_mutex_lock(&w->mu);
	log = w->log;
	arg = w->log_arg;
	pthread_mutex_unlock(&w->mu);
	if (log)
		log(arg, err->msg);
	else
		sfs_err_print("slimfs", err);
}

void trace_mark_unverified(struct trace_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->unverified = true;
	pthread_mutex_unlock(&w->mu);
}

void trace_mark_transport(struct trace_writer *w, enum trace_transport t)
{
	pthread_mutex_lock(&w->mu);
	w->transport = t;
	pthread_mutex_unlock(&w->mu);
}

/* What one flush writes: a snapshot taken under mu, written without it. */
struct batch {
	struct node *nodes;
	char *names;          /* names of the new nodes, copied */
	uint32_t first_id, nnodes;
	struct ev *evs;
	uint32_t *ev_idx;     /* where each of evs lives in the writer, to re-dirty it */
	uint32_t nevs;
	bool overflow, unverified;
	char *incomplete;     /* runs.incomplete to write, copied */
	enum trace_transport transport;         /* 0: unchanged */
};

static void take_batch(struct trace_writer *w, struct batch *b)
{
	uint64_t names_from, names_len;

	memset(b, 0, sizeof *b);
	pthread_mutex_lock(&w->mu);
	b->first_id = w->nodes_flushed + 1;
	b->nnodes = w->nnodes - b->first_id;
	if (b->nnodes) {
		names_from = w->nodes[b->first_id].name_off;
		names_len = w->names_len - names_from;
		b->nodes = xrealloc(NULL, b->nnodes * sizeof *b->nodes);
		memcpy(b->nodes, w->nodes + b->first_id, b->nnodes * sizeof *b->nodes);
		b->names = xrealloc(NULL, names_len);
		memcpy(b->names, w->names + names_from, names_len);
		for (uint32_t i = 0; i < b->nnodes; i++)
			b->nodes[i].name_off -= names_from;
	}
	if (w->ndirty) {
		/* The dirty list says where each event lives; it is copied, not taken, so
		 * it keeps its capacity and recording (every request) never allocates
		 * for it once it has grown. */
		b->nevs = w->ndirty;
		b->ev_idx = xrealloc(NULL, b->nevs * sizeof *b->ev_idx);
		memcpy(b->ev_idx, w->dirty, b->nevs * sizeof *b->ev_idx);
		b->evs = xrealloc(NULL, b->nevs * sizeof *b->evs);
		for (uint32_t i = 0; i < b->nevs; i++) {
			w->evs[b->ev_idx[i]].dirty = false;
			b->evs[i] = w->evs[b->ev_idx[i]];
		}
		w->ndirty = 0;
	}
	b->overflow = w->overflow && !w->overflow_flushed;
	b->unverified = w->unverified && !w->unverified_flushed;
	if (w->incomplete && !w->incomplete_flushed)
		b->incomplete = strdup(w->incomplete);  /* NULL: written next time */
	b->transport = w->transport != w->transport_flushed ? w->transport : 0;
	pthread_mutex_unlock(&w->mu);
}

/* After the batch's transaction: committed, what it held is on disk; rolled back, it
 * is all still owed, and the next flush writes it (events with their counts by then),
 * and the run is marked incomplete with ERR_MSG (trace.h). */
static void settle_batch(struct trace_writer *w, const struct batch *b, bool committed,
			 const char *err_msg)
{
	pthread_mutex_lock(&w->mu);
	if (!committed && !w->incomplete)     /* the run is incomplete (trace.h) */
		w->incomplete = strdup(err_msg && *err_msg ? err_msg : "writing the trace failed");
	if (committed) {
		w->nodes_flushed = b->first_id + b->nnodes - 1;
		w->overflow_flushed |= b->overflow;
		w->unverified_flushed |= b->unverified;
		w->incomplete_flushed |= b->incomplete != NULL;
		if (b->transport)
			w->transport_flushed = b->transport;
	} else {
		for (uint32_t i = 0; i < b->nevs; i++)
			mark_dirty(w, b->ev_idx[i]);
	}
	pthread_mutex_unlock(&w->mu);
}

static int step_reset(sqlite3 *db, sqlite3_stmt *st, struct sfs_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "writing trace: %s", sqlite3_errmsg(db));
	return 0;
}

/* Set one column of this run's row; ASSIGNMENT is a constant of ours, never input. */
static int set_run(struct trace_writer *w, const char *assignment, struct sfs_err *err)
{
	char sql[128];

	snprintf(sql, sizeof sql, "UPDATE runs SET %s WHERE id = %lld", assignment,
		 (long long)w->run_id);
	return schema_exec(w->db, sql, err);
}

/* runs.incomplete of this run = WHY. */
static int set_incomplete(struct trace_writer *w, const char *why, struct sfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(w->db, "UPDATE runs SET incomplete = ? WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "writing trace: %s", sqlite3_errmsg(w->db));
	sqlite3_bind_text(st, 1, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, w->run_id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "writing trace: %s", sqlite3_errmsg(w->db));
	return 0;
}

static int write_batch(struct trace_writer *w, const struct batch *b, struct sfs_err *err)
{
	if (schema_exec(w->db, "BEGIN", err) < 0)
		return -1;
	for (uint32_t i = 0; i < b->nnodes; i++) {
		sqlite3_bind_int64(w->ins_node, 1, b->first_id + i);
		sqlite3_bind_int64(w->ins_node, 2, b->nodes[i].parent);
		sqlite3_bind_blob(w->ins_node, 3, b->names + b->nodes[i].name_off,
				  (int)b->nodes[i].name_len, SQLITE_STATIC);
		if (step_reset(w->db, w->ins_node, err) < 0)
			goto fail;
	}
	for (uint32_t i = 0; i < b->nevs; i++) {
		sqlite3_bind_int64(w->ins_event, 1, w->run_id);
		sqlite3_bind_int64(w->ins_event, 2, b->evs[i].node);
		sqlite3_bind_int(w->ins_event, 3, b->evs[i].op);
		sqlite3_bind_int64(w->ins_event, 4, b->evs[i].first_us);
		sqlite3_bind_int64(w->ins_event, 5, b->evs[i].count);
		if (step_reset(w->db, w->ins_event, err) < 0)
			goto fail;
	}
	if (b->overflow && set_run(w, "overflow = 1", err) < 0)
		goto fail;
	if (b->unverified && set_run(w, "verifier = 0", err) < 0)
		goto fail;
	if (b->incomplete && set_incomplete(w, b->incomplete, err) < 0)
		goto fail;
	if (b->transport && set_run(w, b->transport == TRANSPORT_IO_URING ?
				    "transport = 'io_uring'" : "transport = 'dev_fuse'", err) < 0)
		goto fail;
	if (schema_exec(w->db, "COMMIT", err) == 0)
		return 0;
fail:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int trace_writer_flush(struct trace_writer *w, struct sfs_err *err)
{
	struct batch b;
	int ret = 0;

	pthread_mutex_lock(&w->flush_mu);
	take_batch(w, &b);
	if (b.nnodes || b.nevs || b.overflow || b.unverified || b.incomplete || b.transport) {
		ret = write_batch(w, &b, err);
		settle_batch(w, &b, ret == 0, err ? err->msg : NULL);
	}
	pthread_mutex_unlock(&w->flush_mu);
	free(b.incomplete);
	free(b.nodes);
	free(b.names);
	free(b.evs);
	free(b.ev_idx);
	return ret;
}

static void *writer_thread(void *arg)
{
	struct trace_writer *w = arg;
	struct sfs_err err;
	struct timespec until;

	pthread_setname_np(pthread_self(), "slimfs-store");
	pthread_mutex_lock(&w->stop_mu);
	while (!w->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TRACE_FLUSH_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->stop_cv, &w->stop_mu, &until);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->stop_mu);
		if (trace_writer_flush(w, &err) < 0)
			flush_failed(w, &err);  /* keep recording; the next flush retries */
		pthread_mutex_lock(&w->stop_mu);
	}
	pthread_mutex_unlock(&w->stop_mu);
	return NULL;
}

/* Take the trace's writer lock: an flock on the file, refused if another holds it. */
static int lock_trace(const char *file, int open_flags, int how, int *out, struct sfs_err *err)
{
	_cleanup_close_ int fd = open(file, open_flags | O_CLOEXEC, 0644);

	if (fd < 0)
		return sfs_fail(err, errno, "trace %s", file);
	if (flock(fd, how | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return sfs_fail(err, 0, "trace %s: being written by another slimfs", file);
		return sfs_fail(err, errno, "trace %s: lock", file);
	}
	*out = steal_fd(&fd);
	return 0;
}

int trace_writer_check(const char *file, struct sfs_err *err)
{
	_cleanup_free_ char *dir = strdup(file);
	_cleanup_close_ int lock_fd = -1;
	sqlite3 *db;

	if (dir == NULL)
		return sfs_fail(err, ENOMEM, "trace %s", file);
	if (access(file, F_OK) < 0) {
		if (errno != ENOENT)
			return sfs_fail(err, errno, "trace %s", file);
		if (access(dirname(dir), W_OK | X_OK) < 0)
			return sfs_fail(err, errno, "trace %s: cannot create", file);
		return 0;
	}
	if (schema_open(&db, file, SCHEMA_CHECK, err) < 0)
		return -1;
	sqlite3_close(db);
	return lock_trace(file, O_RDONLY, LOCK_SH, &lock_fd, err);
}

static int load_nodes(struct trace_writer *w, struct sfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(w->db, "SELECT id, parent, name FROM nodes WHERE id > 1 ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(w->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), parent = sqlite3_column_int64(st, 1);
		const char *name = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);

		/* Ids must be dense with parents first; anything else is not ours. */
		if (id != w->nnodes || parent < 1 || parent >= id || len <= 0) {
			sqlite3_finalize(st);
			return sfs_fail(err, 0, "damaged node table (node %lld)", (long long)id);
		}
		node_add(w, (uint32_t)parent, name, (size_t)len);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(w->db));
	w->nodes_flushed = w->nnodes - 1;
	return 0;
}

static int start_run(struct trace_writer *w, const struct trace_run_info *info, struct sfs_err *err)
{
	char host[HOST_NAME_MAX + 1] = "";
	sqlite3_stmt *st;
	int rc;

	gethostname(host, sizeof host - 1);
	if (sqlite3_prepare_v2(w->db,
			       "INSERT INTO runs(started_ns, lowerdir, command, host, version, verifier,"
			       " image, manifest_digest, config_digest)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(w->db));
	sqlite3_bind_int64(st, 1, w->start_ns);
	sqlite3_bind_text(st, 2, info->lowerdir ? info->lowerdir : "", -1, SQLITE_STATIC);
	if (info->command)
		sqlite3_bind_text(st, 3, info->command, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, SLIMFS_VERSION, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, info->verifier);
	if (info->image)
		sqlite3_bind_text(st, 7, info->image, -1, SQLITE_STATIC);
	if (info->manifest_digest)
		sqlite3_bind_text(st, 8, info->manifest_digest, -1, SQLITE_STATIC);
	if (info->config_digest)
		sqlite3_bind_text(st, 9, info->config_digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sfs_fail(err, 0, "%s", sqlite3_errmsg(w->db));
	w->run_id = sqlite3_last_insert_rowid(w->db);
	return 0;
}

static void writer_free(struct trace_writer *w)
{
	sqlite3_finalize(w->ins_node);
	sqlite3_finalize(w->ins_event);
	sqlite3_close(w->db);
	/* Only now: closing any fd of the file drops SQLite's POSIX locks on it. */
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->flush_mu);
	pthread_mutex_destroy(&w->stop_mu);
	pthread_cond_destroy(&w->stop_cv);
	free(w->nodes);
	free(w->names);
	free(w->node_index);
	free(w->evs);
	free(w->ev_index);
	free(w->dirty);
	free(w->incomplete);
	free(w);
}

int trace_writer_open(struct trace_writer **out, const char *file,
		      const struct trace_run_info *info, struct sfs_err *err)
{
	struct trace_writer *w = calloc(1, sizeof *w);
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	if (w == NULL)
		return sfs_fail(err, ENOMEM, "trace %s", file);
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->flush_mu, NULL);
	pthread_mutex_init(&w->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	w->lock_fd = -1;
	w->nnodes = 2;   /* ids 0 (none) and 1 (root) */
	w->nodes_cap = 1024;
	w->nodes = xrealloc(NULL, w->nodes_cap * sizeof *w->nodes);
	memset(w->nodes, 0, 2 * sizeof *w->nodes);
	node_index_grow(w);
	ev_index_grow(w);
	w->start_ns = now_ns(CLOCK_REALTIME);

	if (lock_trace(file, O_RDWR | O_CREAT, LOCK_EX, &w->lock_fd, err) < 0 ||
	    schema_open(&w->db, file, SCHEMA_WRITE, err) < 0)
		goto fail;
	if (load_nodes(w, err) < 0 || start_run(w, info, err) < 0)
		goto fail_named;
	if (sqlite3_prepare_v2(w->db, "INSERT INTO nodes(id, parent, name) VALUES (?, ?, ?)",
			       -1, &w->ins_node, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db,
			       "INSERT INTO events(run, node, op, first_us, count) VALUES (?, ?, ?, ?, ?)"
			       " ON CONFLICT(run, node, op) DO UPDATE SET count = excluded.count",
			       -1, &w->ins_event, NULL) != SQLITE_OK) {
		sfs_fail(err, 0, "%s", sqlite3_errmsg(w->db));
		goto fail_named;
	}
	/* The thread takes no signals: they are for the daemon's main thread, which waits
	 * for them with ppoll (fs/loop.c); one handled here would not wake it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, writer_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		sfs_fail(err, rc, "starting the trace writer");
		goto fail_named;
	}
	*out = w;
	return 0;
fail_named:
	sfs_wrap(err, "trace %s", file);
fail:
	writer_free(w);
	return -1;
}

int trace_writer_close(struct trace_writer *w, struct sfs_err *err)
{
	char end[64];
	int ret;

	pthread_mutex_lock(&w->stop_mu);
	w->stop = true;
	pthread_cond_signal(&w->stop_cv);
	pthread_mutex_unlock(&w->stop_mu);
	pthread_join(w->thread, NULL);

	ret = trace_writer_flush(w, err);
	snprintf(end, sizeof end, "ended_ns = %lld", (long long)now_ns(CLOCK_REALTIME));
	if (ret == 0)
		ret = set_run(w, end, err);
	if (ret < 0 && w->log && err)
		w->log(w->log_arg, err->msg);
	/* Fold the WAL back so the trace is one self-contained file. */
	if (ret == 0)
		sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	writer_free(w);
	return ret;
}
