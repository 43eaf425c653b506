/* ops.c — names and evidence levels of trace operations.
 *
 * The table below is the single source of truth: the writer copies it into the
 * trace's ops table (so the sqlite3 CLI can show names), the exporter asks it which
 * evidence an operation gives (docs/design.md, "Evidence and closure").
 */
#include "trace.h"

#include <string.h>

static const struct {
	const char *name;
	enum trace_evidence evidence;
} op_table[OP__COUNT] = {
	[OP_LOOKUP] = { "lookup", EV_LOOKUP },
	[OP_NEGATIVE] = { "negative", EV_NONE },       /* not in the image: nothing to keep */
	[OP_GETATTR] = { "getattr", EV_LOOKUP },
	[OP_READLINK] = { "readlink", EV_LOOKUP },     /* a symlink is kept as a link, its target by its own evidence */
	[OP_OPEN] = { "open", EV_OPEN },
	[OP_OPEN_WRITE] = { "open_write", EV_OPEN },   /* an existing file opened for writing was needed as it is */
	[OP_EXEC] = { "exec", EV_OPEN },
	[OP_OPENDIR] = { "opendir", EV_OPEN },
	[OP_READDIR] = { "readdir", EV_READ },
	[OP_READ] = { "read", EV_READ },
	[OP_WRITE] = { "write", EV_NONE },
	[OP_CREATE] = { "create", EV_NONE },
	[OP_MKDIR] = { "mkdir", EV_NONE },
	[OP_MKNOD] = { "mknod", EV_NONE },
	[OP_SYMLINK] = { "symlink", EV_NONE },
	[OP_LINK] = { "link", EV_NONE },
	[OP_RENAME_FROM] = { "rename_from", EV_LOOKUP },  /* the image's file was there to be moved */
	[OP_RENAME_TO] = { "rename_to", EV_NONE },
	[OP_UNLINK] = { "unlink", EV_LOOKUP },
	[OP_RMDIR] = { "rmdir", EV_LOOKUP },
	[OP_SETATTR] = { "setattr", EV_LOOKUP },
	[OP_SETXATTR] = { "setxattr", EV_LOOKUP },
	[OP_REMOVEXATTR] = { "removexattr", EV_LOOKUP },
	[OP_GETXATTR] = { "getxattr", EV_LOOKUP },
	[OP_LISTXATTR] = { "listxattr", EV_LOOKUP },
	[OP_VERIFY_OPEN] = { "verify_open", EV_OPEN },
	[OP_VERIFY_READ] = { "verify_read", EV_READ },
	[OP_VERIFY_EXEC] = { "verify_exec", EV_OPEN },
	/* Read evidence without a read seen: the kernel serves the reads unseen, and a
	 * file opened to be read is kept rather than risk losing one that was. */
	[OP_PASSTHROUGH] = { "passthrough", EV_READ },
};

static const char *const evidence_names[] = { "none", "lookup", "open", "read" };

const char *trace_op_name(enum trace_op op)
{
	if (op <= 0 || op >= OP__COUNT)
		return NULL;
	return op_table[op].name;
}

int trace_op_from_name(const char *name)
{
	for (int op = 1; op < OP__COUNT; op++)
		if (strcmp(op_table[op].name, name) == 0)
			return op;
	return -1;
}

enum trace_evidence trace_op_evidence(enum trace_op op)
{
	if (op <= 0 || op >= OP__COUNT)
		return EV_NONE;
	return op_table[op].evidence;
}

const char *trace_evidence_name(enum trace_evidence ev)
{
	if ((unsigned)ev > EV_READ)
		return NULL;
	return evidence_names[ev];
}

int trace_evidence_from_name(const char *name)
{
	for (int ev = EV_NONE; ev <= EV_READ; ev++)
		if (strcmp(evidence_names[ev], name) == 0)
			return ev;
	return -1;
}
