/* fs_probe.c — a tiny, statically linked workload for the fs_*.bats suites.
 *
 * Run inside a chroot on a slimfs mount, it touches exactly the paths it is told to,
 * and, being static, no dynamic loader or library adds paths of its own: the suites
 * can then check the exact set of recorded events.
 *
 *   fs_probe ACTION...     each ACTION is VERB:PATH[:DATA]
 *     cat:P        open P read-only and read it to the end
 *     stat:P       stat P (follows symlinks)
 *     miss:P       stat P and expect it not to exist (ENOENT)
 *     ls:P         list directory P
 *     write:P:D    open P for writing (create, truncate) and write D
 *     mkdir:P      make directory P
 *     exec:P       run P (another fs_probe) with no actions and wait for it
 *     dino:P       list directory P and check that every entry's d_ino is its lstat
 *                  st_ino ("." and ".." too, where they are on P's file system);
 *                  each difference is printed on stdout
 * Exits 0 when every action succeeded, else 1 at the first failure (message on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int act(char *a)
{
	char *verb = a, *path = strchr(a, ':'), *data;
	char buf[4096];
	struct stat st;

	if (!path)
		return -1;
	*path++ = '\0';
	data = strchr(path, ':');
	if (data)
		*data++ = '\0';
	if (strcmp(verb, "cat") == 0) {
		int fd = open(path, O_RDONLY);
		ssize_t n;

		if (fd < 0)
			return -1;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		close(fd);
		return n < 0 ? -1 : 0;
	}
	if (strcmp(verb, "stat") == 0)
		return stat(path, &st);
	if (strcmp(verb, "miss") == 0) {
		if (stat(path, &st) == 0) {
			errno = EEXIST;
			return -1;
		}
		return errno == ENOENT ? 0 : -1;
	}
	if (strcmp(verb, "ls") == 0) {
		DIR *d = opendir(path);

		if (!d)
			return -1;
		while (readdir(d))
			;
		closedir(d);
		return 0;
	}
	if (strcmp(verb, "write") == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		size_t len = data ? strlen(data) : 0;

		if (fd < 0 || write(fd, data ? data : "", len) != (ssize_t)len)
			return -1;
		return close(fd);
	}
	if (strcmp(verb, "mkdir") == 0)
		return mkdir(path, 0755);
	if (strcmp(verb, "dino") == 0) {
		DIR *d = opendir(path);
		struct dirent *de;
		struct stat self;
		int bad = 0;

		if (!d || fstat(dirfd(d), &self) < 0)
			return -1;
		while ((de = readdir(d))) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				closedir(d);
				return -1;
			}
			if (st.st_dev != self.st_dev)   /* ".." of a mount's root */
				continue;
			if (de->d_ino != st.st_ino) {
				printf("%s/%s: d_ino %llu, st_ino %llu\n", path, de->d_name,
				       (unsigned long long)de->d_ino, (unsigned long long)st.st_ino);
				bad = 1;
			}
		}
		closedir(d);
		if (bad)
			errno = EIO;
		return bad ? -1 : 0;
	}
	if (strcmp(verb, "exec") == 0) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			execl(path, path, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			return -1;
		return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	}
	errno = EINVAL;
	return -1;
}

int main(int argc, char **argv)
{
	for (int k = 1; k < argc; k++) {
		char *copy = strdup(argv[k]);

		if (!copy || act(copy) < 0) {
			fprintf(stderr, "fs_probe: %s: %s\n", argv[k], strerror(errno));
			return 1;
		}
		free(copy);
	}
	return 0;
}
