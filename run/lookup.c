/* lookup.c — questions about the image answered from the image directory itself, never
 * through the slimfs mount, so asking them leaves no trace: does CMD exist, which
 * group and home does a UID have.  Every path is resolved with
 * openat2(RESOLVE_IN_ROOT): the image's absolute symlinks stay inside it.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
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

void image_user(const char *rootfs, uid_t uid, gid_t *gid, char **home)
{
	_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_fclose_ FILE *f = NULL;
	struct passwd pw, *res;
	char buf[4096];
	int fd;

	if (rootfd < 0)
		return;
	fd = open_in_root(rootfd, "/etc/passwd", O_RDONLY, 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	while (fgetpwent_r(f, &pw, buf, sizeof buf, &res) == 0) {
		if (pw.pw_uid != uid)
			continue;
		*gid = pw.pw_gid;
		free(*home);
		*home = strdup(pw.pw_dir);
		return;
	}
}
