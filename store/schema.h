/* schema.h — opening a trace database and checking that it is one (store-internal). */
#ifndef SLIMFS_SCHEMA_H
#define SLIMFS_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>

#include "../common/error.h"

enum schema_mode {
	SCHEMA_READ,    /* read-only; FILE must be a trace */
	SCHEMA_WRITE,   /* read-write, WAL, synced at checkpoints; a missing or empty FILE
			 * becomes a trace */
	SCHEMA_CHECK,   /* read-only; FILE must be a trace or an empty database */
};

/* Open FILE in MODE.  A file that is not SQLite, a database that is not a slimfs
 * trace, or a trace of a newer schema is refused with a one-line error naming FILE. */
int schema_open(sqlite3 **out, const char *file, enum schema_mode mode, struct sfs_err *err);

/* Does the runs table have column NAME (one added after the first schema)?  1, 0, or
 * -1 with ERR. */
int schema_runs_has(sqlite3 *db, const char *name, struct sfs_err *err);

/* Run SQL that returns no rows; on failure fill err with sqlite's message. */
int schema_exec(sqlite3 *db, const char *sql, struct sfs_err *err);

#endif
