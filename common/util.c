/* util.c — small helpers shared by the programs (util.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP ? rmdir(path) : unlink(path))
		return errno == ENOENT ? 0 : -1;
	return 0;
}

int sfs_rm_tree(const char *path, struct sfs_err *err)
{
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
		return sfs_fail(err, errno, "cannot remove %s", path);
	return 0;
}

const char *sfs_cache_dir(void)
{
	const char *c = getenv("SLIMFS_CACHE");

	return c && *c ? c : SFS_CACHE_DIR;
}

char *sfs_join_argv(char *const *argv)
{
	size_t len = 1;
	char *s, *p;

	for (char *const *a = argv; *a; a++)
		len += strlen(*a) + 1;
	s = p = malloc(len);
	if (!s)
		return NULL;
	*p = '\0';
	for (char *const *a = argv; *a; a++)
		p += sprintf(p, "%s%s", a == argv ? "" : " ", *a);
	return s;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fputs("slimfs: out of memory\n", stderr);
		abort();
	}
	return q;
}

int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int64_t now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int open_in_root(int rootfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
	};

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}
