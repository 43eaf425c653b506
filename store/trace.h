/* trace.h — the slimfs trace: one SQLite file holding the evidence of one or more runs.
 *
 * A trace records, per run, which paths inside the container were touched and how
 * (lookup, open, read, write, ...), each (run, path, operation) once, with the time
 * it was first seen and how often it happened.  Paths are stored as a tree of nodes
 * (parent id + name) so that the FUSE daemon can name a path by its parent's node
 * and the name the kernel asked for, and so a trace stays small.
 *
 * The writer is safe to call from many threads.  It de-duplicates in memory and a
 * single writer thread (which takes no signals) flushes what is new in one transaction
 * at least every TRACE_FLUSH_MS milliseconds (WAL mode), so a killed daemon loses at
 * most that.
 * The reader loads a finished (or crashed) trace for the exporter and the tests.
 *
 * Schema: see README.md, section "The trace".
 */
#ifndef SLIMFS_TRACE_H
#define SLIMFS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

#define TRACE_APPLICATION_ID 0x534c4d46 /* 'SLMF' in PRAGMA application_id */
#define TRACE_SCHEMA_VERSION 1          /* PRAGMA user_version */
#define TRACE_FLUSH_MS 100
#define TRACE_ROOT 1                    /* node id of "/" */

/* What happened to a path.  The numbers are stored in the trace: append only. */
enum trace_op {
	OP_LOOKUP = 1,     /* name resolved and found (stat, access, path walk, open) */
	OP_NEGATIVE,       /* name resolved and not found (ENOENT) */
	OP_GETATTR,        /* attributes read of an already known inode */
	OP_READLINK,       /* symlink target read */
	OP_OPEN,           /* opened for reading */
	OP_OPEN_WRITE,     /* opened for writing (or O_RDWR, O_TRUNC) */
	OP_EXEC,           /* opened for execution (execve, or the ELF interpreter) */
	OP_OPENDIR,        /* directory opened */
	OP_READDIR,        /* directory entries listed */
	OP_READ,           /* file content read */
	OP_WRITE,          /* file content written */
	OP_CREATE,         /* regular file created */
	OP_MKDIR,
	OP_MKNOD,
	OP_SYMLINK,        /* symlink created at this path */
	OP_LINK,           /* hardlink created at this path */
	OP_RENAME_FROM,
	OP_RENAME_TO,
	OP_UNLINK,
	OP_RMDIR,
	OP_SETATTR,        /* chmod, chown, truncate, utimens */
	OP_SETXATTR,
	OP_REMOVEXATTR,
	OP_GETXATTR,
	OP_LISTXATTR,
	OP_VERIFY_OPEN,    /* fanotify: the daemon physically opened the lower file */
	OP_VERIFY_READ,    /* fanotify: the lower file's content was read */
	OP_VERIFY_EXEC,    /* fanotify: the lower file was opened for execution */
	OP_PASSTHROUGH,    /* opened to be read by the kernel itself (FUSE passthrough): its
			    * reads never reach the daemon, so the open stands for them */
	OP__COUNT
};

/* Evidence a path has, weakest first (docs/design.md, "Evidence and closure"). */
enum trace_evidence {
	EV_NONE = 0,   /* recorded, but nothing that says the image's file is needed */
	EV_LOOKUP = 1,
	EV_OPEN = 2,
	EV_READ = 3,
};

const char *trace_op_name(enum trace_op op);        /* "lookup", ...; NULL if unknown */
int trace_op_from_name(const char *name);           /* -1 if unknown */
enum trace_evidence trace_op_evidence(enum trace_op op);
const char *trace_evidence_name(enum trace_evidence ev);   /* "none", "lookup", "open", "read" */
int trace_evidence_from_name(const char *name);            /* -1 if unknown */

/* What a run says about itself (the runs table). */
struct trace_run_info {
	const char *lowerdir;   /* absolute path of the image directory */
	const char *command;    /* command line of the workload or of slimfs; may be NULL */
	bool verifier;          /* fanotify verifier on */
	/* When the run's root is a container image (image/img.h), else NULL: */
	const char *image;              /* as slimfs-run was given it ("app.tar:latest") */
	const char *manifest_digest;    /* "sha256:..." of its manifest */
	const char *config_digest;      /* "sha256:..." of its config */
};

/* ---- writer ---------------------------------------------------------------- */

struct trace_writer;

/* Check, without changing anything, that FILE can be opened as a trace by
 * trace_writer_open: it can be created (or is a slimfs trace of a known schema) and
 * no other process is writing it.  (The daemon does not need it: it opens the trace
 * itself before it mounts, fs/mount.c, so a bad trace already fails with nothing
 * mounted.) */
int trace_writer_check(const char *file, struct sfs_err *err);

/* Open (create if missing) FILE and start a new run in it.  Fails with a one-line
 * error if FILE cannot be created, is not a SQLite database, is a database that is
 * not a slimfs trace, or is being written by another process.  Starts a thread and
 * holds a SQLite connection: not fork-safe, so a daemon opens it after it has forked
 * (fs/mount.c forks before any thread or lock exists).  An flock on FILE is held until
 * trace_writer_close. */
int trace_writer_open(struct trace_writer **out, const char *file,
		      const struct trace_run_info *info, struct sfs_err *err);

/* Id of the node PARENT/NAME (NAME is one component, LEN bytes, no '/'), created
 * if new.  Never fails for valid input (aborts on out-of-memory). */
uint32_t trace_node(struct trace_writer *w, uint32_t parent, const char *name, size_t len);

/* Id of an absolute path ("/usr/lib/x"); "." and empty components are skipped,
 * ".." is taken as a plain name (paths here come from the kernel, never contain it). */
uint32_t trace_node_path(struct trace_writer *w, const char *abs);

/* Record that OP happened to NODE now.  Cheap: one hash lookup under a mutex. */
void trace_record(struct trace_writer *w, uint32_t node, enum trace_op op);

/* Both in one: node PARENT/NAME, record OP, return the node id. */
uint32_t trace_record_name(struct trace_writer *w, uint32_t parent, const char *name,
			   size_t len, enum trace_op op);

/* Where the writer thread reports a flush that failed: LOG(ARG, MESSAGE), called
 * from that thread (the default prints "slimfs: MESSAGE" on stderr).  A failed flush
 * also marks the run incomplete (runs.incomplete holds the first such message), since
 * until a later flush succeeds the trace on disk lacks what the run recorded; the
 * writer keeps recording, and the next flush retries. */
void trace_writer_set_log(struct trace_writer *w, void (*log)(void *arg, const char *msg),
			  void *arg);

/* The fanotify verifier lost events: the run is incomplete. */
void trace_mark_overflow(struct trace_writer *w);

/* The verifier the run was opened with could not start: record it as off. */
void trace_mark_unverified(struct trace_writer *w);

/* What served the run's requests (runs.transport): FUSE over io_uring or /dev/fuse.
 * The last mark wins; it reaches the trace with the next flush. */
enum trace_transport {
	TRANSPORT_DEV_FUSE = 1,
	TRANSPORT_IO_URING,
};
void trace_mark_transport(struct trace_writer *w, enum trace_transport t);

/* Flush everything now (also done by the writer thread and by close). */
int trace_writer_flush(struct trace_writer *w, struct sfs_err *err);

/* Final flush, set the run's end time, close.  W is freed even on failure. */
int trace_writer_close(struct trace_writer *w, struct sfs_err *err);

/* ---- reader ---------------------------------------------------------------- */

struct trace_run {
	int64_t id;
	int64_t started_ns, ended_ns;   /* ns since the epoch; ended_ns 0 if the run never ended */
	char *lowerdir, *command, *host, *version;
	bool verifier, overflow;
	char *incomplete;       /* why the run is incomplete (writer errors), or NULL */
	char *image, *manifest_digest, *config_digest;  /* NULL: not an image's run */
	char *transport;                /* "io_uring", "dev_fuse"; NULL: an older slimfs's run */
};

struct trace_event {
	const char *path;       /* absolute path inside the container, "/" for the root */
	int64_t run;            /* runs.id */
	enum trace_op op;
	int64_t first_us;       /* microseconds after the run's start */
	int64_t count;
};

struct trace_reader;

/* Open FILE read-only; fails with a one-line error if it is missing, not SQLite,
 * not a slimfs trace, or of a newer schema. */
int trace_reader_open(struct trace_reader **out, const char *file, struct sfs_err *err);
void trace_reader_close(struct trace_reader *r);

size_t trace_reader_nruns(const struct trace_reader *r);

/* How many nodes the reader dropped because slimfs could not have written them (a name
 * that is empty or holds '/' or NUL, a parent that does not come first), with the
 * events naming them and their descendants: a trace edited by hand. */
size_t trace_reader_dropped(const struct trace_reader *r);
const struct trace_run *trace_reader_run(const struct trace_reader *r, size_t i);

/* Call CB for every event, ordered by path then run then op.  CB returns 0 to go
 * on, non-zero to stop (that value is returned). */
typedef int (*trace_event_cb)(void *ctx, const struct trace_event *ev);
int trace_reader_foreach(struct trace_reader *r, trace_event_cb cb, void *ctx,
			 struct sfs_err *err);

#endif
