/* roundtrip.c — the cost of one FUSE round trip on this machine, as a workload sees it:
 * the time of one negative lookup (stat of a name that does not exist) in DIR.
 *
 *   roundtrip DIR [N]      prints the median, in microseconds, of 5 batches of N
 *                          (default 2000) lookups, each of a name never asked before
 *
 * Every name is new (DIR/.slimfs-rt-PID-BATCH-I), so neither the kernel's negative
 * dentries nor a cache of the file system answers it: through slimfs each is one
 * LOOKUP request and its reply.  Run against a slimfs mount and against the plain
 * directory, the two medians tell a slow host from a slow change (bench/overhead.sh
 * prints both beside its table).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double us[BATCHES];
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
	char path[4096];
	struct stat st;

	if (argc < 2 || argc > 3 || n <= 0) {
		fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
		return 2;
	}
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_us();

		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/.slimfs-rt-%d-%d-%ld", argv[1], (int)getpid(),
				 b, i);
			if (stat(path, &st) == 0) {
				fprintf(stderr, "roundtrip: %s: exists\n", path);
				return 1;
			}
			if (errno != ENOENT) {
				perror(path);
				return 1;
			}
		}
		us[b] = (now_us() - t0) / (double)n;
	}
	qsort(us, BATCHES, sizeof(us[0]), cmp);
	printf("%.1f\n", us[BATCHES / 2]);
	return 0;
}
