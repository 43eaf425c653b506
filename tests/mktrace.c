/* mktrace.c — test tool: write a trace from "OP PATH" lines on stdin.
 *
 *   mktrace TRACE LOWERDIR [--overflow] [--transport=io_uring|dev_fuse] < events
 *
 * Each line is an operation name as in the trace (lookup, open, read, exec,
 * readlink, create, mkdir, ...), one space, and a path; the path is stored one
 * component at a time exactly as written — "." and ".." included — so tests can
 * hand the exporter paths that the kernel would never produce.  Every run of
 * mktrace appends one run to TRACE, marked as having overflowed or as served by a
 * transport when asked.  Lets closure tests run without FUSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "store/trace.h"

static const char *prog = "mktrace";

static uint32_t node_of(struct trace_writer *w, const char *path)
{
	uint32_t id = TRACE_ROOT;

	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if (len > 0)
			id = trace_node(w, id, p, len);
		p += len;
		p += *p == '/';
	}
	return id;
}

int main(int argc, char **argv)
{
	struct trace_run_info info = { .command = "mktrace" };
	struct trace_writer *w;
	struct sfs_err err = { 0 };
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, lineno = 0;
	bool overflow = false;
	enum trace_transport transport = 0;
	ssize_t n;
	int ret = 0;
	static const char usage[] =
		"Usage: %s TRACE LOWERDIR [--overflow] [--transport=io_uring|dev_fuse] < 'OP PATH' lines\n";

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		printf(usage, prog);
		return 0;
	}
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--overflow") == 0)
			overflow = true;
		else if (strcmp(argv[i], "--transport=io_uring") == 0)
			transport = TRANSPORT_IO_URING;
		else if (strcmp(argv[i], "--transport=dev_fuse") == 0)
			transport = TRANSPORT_DEV_FUSE;
		else
			argc = 0;
	}
	if (argc < 3) {
		fprintf(stderr, usage, prog);
		return 2;
	}
	info.lowerdir = argv[2];
	if (trace_writer_open(&w, argv[1], &info, &err) < 0) {
		sfs_err_print(prog, &err);
		return 1;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		char *sp;
		int op;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		sp = strchr(line, ' ');
		if (sp == NULL) {
			fprintf(stderr, "%s: stdin line %zu: expected 'OP PATH'\n", prog, lineno);
			ret = 1;
			break;
		}
		*sp = '\0';
		op = trace_op_from_name(line);
		if (op < 0) {
			fprintf(stderr, "%s: stdin line %zu: unknown operation %s\n", prog, lineno,
				line);
			ret = 1;
			break;
		}
		trace_record(w, node_of(w, sp + 1), (enum trace_op)op);
	}
	if (overflow)
		trace_mark_overflow(w);
	if (transport)
		trace_mark_transport(w, transport);
	if (trace_writer_close(w, &err) < 0) {
		sfs_err_print(prog, &err);
		return 1;
	}
	return ret;
}
