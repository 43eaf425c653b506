/* tap.h — a few lines of TAP for the C unit tests (meson reads it). */
#ifndef SLIMFS_TAP_H
#define SLIMFS_TAP_H

#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

#define TAP_OK(cond, ...) do {                                                 \
		int ok_ = !!(cond);                                            \
		printf("%s %d - ", ok_ ? "ok" : "not ok", ++tap_n);          \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		if (!ok_) {                                                    \
			tap_failed++;                                          \
			printf("# failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
