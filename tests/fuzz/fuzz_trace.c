/* fuzz_trace.c — libFuzzer harness for the trace reader (store/reader.c).
 *
 * A trace is a file a user may hand us from anywhere, so the reader must survive any
 * bytes: each input is written to a temporary file, opened with trace_reader_open and
 * walked with trace_reader_foreach.  Failing with an error is fine; crashing, leaking
 * or reading out of bounds (ASan) is not.
 *
 * Seeds: tests/rel_fuzz.bats puts a real trace (made with tests' mktrace) in the corpus,
 * so mutations start from valid SQLite pages of the slimfs schema.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/trace.h"

static int walk(void *ctx, const struct trace_event *ev)
{
	size_t *n = ctx;

	/* touch every field, so ASan sees any bad pointer the reader hands out */
	*n += strlen(ev->path) + (size_t)ev->op + (size_t)(ev->count & 1) + (size_t)(ev->run & 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char file[] = "/tmp/slimfs-fuzz-trace-XXXXXX";
	struct trace_reader *r = NULL;
	struct sfs_err err;
	size_t n = 0;
	int fd = mkstemp(file);

	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (trace_reader_open(&r, file, &err) == 0) {
		for (size_t i = 0; i < trace_reader_nruns(r); i++) {
			const struct trace_run *run = trace_reader_run(r, i);

			n += run->lowerdir ? strlen(run->lowerdir) : 0;
			n += run->command ? strlen(run->command) : 0;
			n += run->host ? strlen(run->host) : 0;
			n += run->version ? strlen(run->version) : 0;
		}
		trace_reader_foreach(r, walk, &n, &err);
		trace_reader_close(r);
	}
	unlink(file);
	/* SQLite may leave a -wal or -shm file beside a database it opened */
	char side[sizeof(file) + 8];
	snprintf(side, sizeof side, "%s-wal", file);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", file);
	unlink(side);
	snprintf(side, sizeof side, "%s-journal", file);
	unlink(side);
	return 0;
}
