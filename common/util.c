/* util.c — small helpers shared by the programs. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
