/* store_bench.c — how fast the trace store takes events and how small a trace is.
 *
 * Prints a markdown table: events per second through trace_record (one thread and
 * two), and trace bytes per distinct path for an image-like tree of 100k paths with
 * the operations a typical run records for them (lookup; open and read for a third).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/trace.h"

#define NPATHS 100000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100k paths shaped like an image: /usr/lib/pkgN/sub/fileM.so and so on. */
static uint32_t *make_tree(struct trace_writer *w)
{
	uint32_t *ids = malloc(NPATHS * sizeof *ids);
	char path[256];

	for (int i = 0; i < NPATHS; i++) {
		snprintf(path, sizeof path, "/usr/%s/pkg%d/%s/file-%d.%s",
			 i % 3 ? "lib/x86_64-linux-gnu" : "share", i / 40,
			 i % 2 ? "data" : "bin", i, i % 5 ? "so" : "py");
		ids[i] = trace_node_path(w, path);
	}
	return ids;
}

struct job {
	struct trace_writer *w;
	uint32_t *ids;
	long n;
	unsigned seed;
};

static void *hammer(void *arg)
{
	struct job *j = arg;

	for (long i = 0; i < j->n; i++) {
		j->seed = j->seed * 1103515245 + 12345;
		trace_record(j->w, j->ids[(j->seed >> 8) % NPATHS], OP_LOOKUP + (j->seed >> 4) % 10);
	}
	return NULL;
}

static double events_per_s(const char *file, int threads, long per_thread)
{
	struct trace_run_info info = { .lowerdir = "/bench" };
	struct trace_writer *w;
	struct sfs_err err;
	pthread_t t[8];
	struct job jobs[8];
	double t0, t1;

	unlink(file);
	if (trace_writer_open(&w, file, &info, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	uint32_t *ids = make_tree(w);
	t0 = now();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ w, ids, per_thread, (unsigned)i + 1 };
		pthread_create(&t[i], NULL, hammer, &jobs[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	t1 = now();
	trace_writer_close(w, &err);
	free(ids);
	return threads * per_thread / (t1 - t0);
}

static double bytes_per_path(const char *file)
{
	struct trace_run_info info = { .lowerdir = "/bench" };
	struct trace_writer *w;
	struct sfs_err err;
	struct stat st;

	unlink(file);
	if (trace_writer_open(&w, file, &info, &err) < 0)
		exit(1);
	uint32_t *ids = make_tree(w);
	for (int i = 0; i < NPATHS; i++) {
		trace_record(w, ids[i], OP_LOOKUP);
		if (i % 3 == 0) {
			trace_record(w, ids[i], OP_OPEN);
			trace_record(w, ids[i], OP_READ);
		}
	}
	trace_writer_close(w, &err);
	free(ids);
	stat(file, &st);
	return (double)st.st_size / NPATHS;
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : "/tmp/slimfs-store-bench.db";

	printf("| store measure | value | target |\n|---|---|---|\n");
	printf("| events/s, 1 thread | %.2fM | >= 1M |\n", events_per_s(file, 1, 10000000) / 1e6);
	printf("| events/s, 2 threads | %.2fM | >= 1M |\n", events_per_s(file, 2, 5000000) / 1e6);
	printf("| trace bytes per distinct path (100k paths) | %.0f | <= 150 |\n", bytes_per_path(file));
	unlink(file);
	return 0;
}
