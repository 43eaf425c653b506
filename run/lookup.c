/* lookup.c — questions about the image answered from the image directory itself, never
 * through the slimfs mount, so asking them leaves no trace: does CMD exist (user.c:
 * who is a user).  Every path is resolved with
 * openat2(RESOLVE_IN_ROOT): the image's absolute symlinks stay inside it.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"

static bool is_command(int rootfd, const char *path)
{
	_cleanup_close_ int fd = open_in_root(rootfd, path, O_PATH, 0);
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode);
}

int image_find_cmd(const char *rootfs, const char *cmd, const char *path_env,
		   const char *cwd, struct sfs_err *err)
{
	_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *dirs = NULL;
	char *save = NULL;

	if (rootfd < 0)
		return sfs_fail(err, errno, "%s", rootfs);
	if (strchr(cmd, '/')) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s/%s", cmd[0] == '/' ? "" : cwd, cmd) < 0)
			return sfs_fail(err, ENOMEM, "%s", cmd);
		if (is_command(rootfd, p))
			return 0;
		return sfs_fail(err, 0, "%s: not found in image", cmd);
	}
	dirs = strdup(path_env ? path_env : RUN_DEFAULT_PATH);
	if (!dirs)
		return sfs_fail(err, ENOMEM, "%s", cmd);
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s/%s", d[0] == '/' ? d : cwd, cmd) < 0)
			return sfs_fail(err, ENOMEM, "%s", cmd);
		if (is_command(rootfd, p))
			return 0;
	}
	return sfs_fail(err, 0, "%s: not found in image", cmd);
}
