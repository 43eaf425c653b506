/* fuzz_tar.c — libFuzzer harness for slimfs-run's image tarball reader (run/image.c).
 *
 * An image tarball comes from anyone: each input is written to a temporary file and
 * unpacked with image_unpack_tmp into a fresh directory under a private parent, which
 * is removed afterwards.  Refusing a member or the whole tarball is fine; crashing,
 * ASan reports, or any file appearing outside the parent are not (the harness checks
 * its canary directory after every input).
 *
 * Environment: SLIMFS_FUZZ_DIR, a directory of the test's own that holds `unpack/`
 * (the parent) and `canary/` (which must stay empty).  Compressed inputs are tried
 * too (libarchive sniffs gzip, zstd, xz), so keep -max_len modest.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/run.h"

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *base = getenv("SLIMFS_FUZZ_DIR");
	char file[4096], parent[4096], canary[4096];
	struct sfs_err err;
	char *dir = NULL;
	FILE *f;

	if (!base)
		abort();
	snprintf(file, sizeof file, "%s/input.tar", base);
	snprintf(parent, sizeof parent, "%s/unpack", base);
	snprintf(canary, sizeof canary, "%s/canary", base);
	f = fopen(file, "we");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (image_unpack_tmp(file, parent, &dir, &err) == 0) {
		if (sfs_rm_tree(dir, &err) < 0)
			abort();
		free(dir);
	}
	/* a refused tarball must not leave its half-unpacked directory behind */
	if (!dir_is_empty(parent) || !dir_is_empty(canary)) {
		fprintf(stderr, "fuzz_tar: something was left in %s or written to %s\n", parent, canary);
		abort();
	}
	return 0;
}
