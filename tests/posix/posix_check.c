/* posix_check.c — slimfs's own POSIX conformance checks for the overlay.
 *
 *   posix_check --setup DIR   make the fixture tree in DIR (the "image")
 *   posix_check DIR           run every check in DIR, one line per check on stdout
 *
 * The test (tests/posix_conformance.bats) makes the fixture twice: once in a plain
 * directory on the host file system, where the checks run natively (the reference), and
 * once as a slimfs LOWERDIR, where the checks run through the mount.  The two outputs
 * must be identical except for the checks docs/reliability.md lists as limitations.
 *
 * Invariants: every check works on its own files of the fixture, so checks do not
 * depend on each other; a line holds only what is the same on every run of a correct
 * file system (an errno name, file types, modes, owners, sizes, contents, and relations
 * between inode numbers and times, never their values).  Checks that need a non-root
 * user run in a child that drops to uid/gid 1000 with no supplementary groups.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <unistd.h>

#define USER_ID 1000
#define STAFF_GID 50

/* ---- output ---------------------------------------------------------------- */

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* "NAME: ok" or "NAME: ERRNO" for a call that returned R (<0 with errno set). */
static void res(const char *name, long r)
{
	if (r < 0)
		printf("%s: %s\n", name, ename(errno));
	else
		printf("%s: ok\n", name);
}

/* res() of an open(2) result, closing the fd it made. */
static void res_fd(const char *name, int fd)
{
	res(name, fd);
	if (fd >= 0)
		close(fd);
}

static void line(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void line(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static char ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return 'f';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFSOCK: return 's';
	}
	return '?';
}

/* Type, mode, links, owner and size of D/PATH (not following a final symlink). */
static void stat_line(const char *name, int d, const char *path)
{
	struct stat st;

	if (fstatat(d, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	line(name, "%c %04o nlink=%lu %u:%u size=%lld", ftype(st.st_mode),
	     (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink, st.st_uid, st.st_gid,
	     S_ISDIR(st.st_mode) ? -1LL : (long long)st.st_size);
}

/* The content of D/PATH, newlines shown as '|'. */
static void content_line(const char *name, int d, const char *path)
{
	char buf[256];
	int fd = openat(d, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		printf("%s: read %s\n", name, ename(errno));
		return;
	}
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = '|';
	line(name, "\"%s\"", buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in D/PATH (without . and ..). */
static void list_line(const char *name, int d, const char *path)
{
	char *names[64];
	size_t n = 0;
	int fd = openat(d, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		printf("%s: %s\n", name, ename(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_str);
	printf("%s: [", name);
	for (size_t i = 0; i < n; i++) {
		printf("%s%s", i ? " " : "", names[i]);
		free(names[i]);
	}
	printf("]\n");
}

/* ---- fixture --------------------------------------------------------------- */

static void must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "posix_check: setup: %s: %s\n", what, strerror(errno));
		exit(2);
	}
}

static void mkfile(int d, const char *path, const char *text, mode_t mode)
{
	int fd = openat(d, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	must(fd, path);
	must(write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1, path);
	must(fchmod(fd, mode), path);
	close(fd);
}

static void mkdir_mode(int d, const char *path, mode_t mode)
{
	must(mkdirat(d, path, mode), path);
	must(fchmodat(d, path, mode, 0), path);
}

/* Fixed times so that time checks compare against known values. */
static void set_time(int d, const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

	must(utimensat(d, path, ts, AT_SYMLINK_NOFOLLOW), path);
}

static int setup(const char *dir)
{
	int d;

	mkdir(dir, 0755);
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	must(d, dir);
	static const char *const files[] = {
		"excl", "trunc", "append", "nofollow_target", "ren_src", "ren_dst",
		"ren_up_dst", "unlink_open", "link_src", "chmod", "chown", "xattr",
		"time_set", "time_write", "time_chmod", "grow", "lock", "as_user_ro",
		"noexec", "other_file", "cu_hl1",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
		mkfile(d, files[i], files[i], 0644);
	must(linkat(d, "cu_hl1", d, "cu_hl2", 0), "cu_hl2");
	must(symlinkat("nofollow_target", d, "sym"), "sym");
	must(symlinkat("loop2", d, "loop1"), "loop1");
	must(symlinkat("loop1", d, "loop2"), "loop2");
	mkdir_mode(d, "dir", 0755);
	mkfile(d, "dir/in", "in", 0644);
	mkdir_mode(d, "full", 0755);
	mkfile(d, "full/x", "x", 0644);
	mkfile(d, "full/y", "y", 0644);
	mkdir_mode(d, "empty", 0755);
	mkdir_mode(d, "lowerdir_ren", 0755);
	mkfile(d, "lowerdir_ren/z", "z", 0644);
	mkdir_mode(d, "rmall", 0755);
	mkfile(d, "rmall/p", "p", 0644);
	mkfile(d, "rmall/q", "q", 0644);
	mkdir_mode(d, "replace", 0755);
	mkfile(d, "replace/old", "old", 0644);
	mkdir_mode(d, "ren_dir_target", 0755);
	mkfile(d, "ren_dir_target/keep", "keep", 0644);
	mkdir_mode(d, "sticky", 01777);
	mkfile(d, "sticky/roots", "roots", 0644);
	mkdir_mode(d, "sgid", 02775);
	must(fchownat(d, "sgid", 0, STAFF_GID, 0), "sgid");
	must(fchmodat(d, "sgid", 02775, 0), "sgid");
	mkdir_mode(d, "priv", 0700);
	mkfile(d, "priv/secret", "secret", 0600);
	mkdir_mode(d, "noenter", 0644);
	mkdir_mode(d, "shared", 0777);
	mkdir_mode(d, "rootdir", 0755);
	mkfile(d, "mine", "mine", 0644);
	must(fchownat(d, "mine", USER_ID, USER_ID, 0), "mine");
	set_time(d, "time_set", 1000000000);
	set_time(d, "time_write", 1000000000);
	set_time(d, "time_chmod", 1000000000);
	close(d);
	return 0;
}

/* ---- checks as root -------------------------------------------------------- */

static void check_open(int d)
{
	int fd;

	fd = openat(d, "excl_new", O_WRONLY | O_CREAT | O_EXCL, 0640);
	res_fd("open O_CREAT|O_EXCL new", fd);
	stat_line("open O_CREAT|O_EXCL new: stat", d, "excl_new");
	res("open O_CREAT|O_EXCL existing lower", openat(d, "excl", O_WRONLY | O_CREAT | O_EXCL, 0640));
	res("open O_CREAT|O_EXCL existing new",
	    openat(d, "excl_new", O_WRONLY | O_CREAT | O_EXCL, 0640));
	fd = openat(d, "excl", O_WRONLY | O_CREAT, 0600);
	res_fd("open O_CREAT existing keeps mode", fd);
	stat_line("open O_CREAT existing keeps mode: stat", d, "excl");

	fd = openat(d, "trunc", O_WRONLY | O_TRUNC);
	res_fd("open O_TRUNC lower", fd);
	stat_line("open O_TRUNC lower: stat", d, "trunc");

	fd = openat(d, "append", O_WRONLY | O_APPEND);
	res("open O_APPEND lower", fd);
	if (fd >= 0) {
		lseek(fd, 0, SEEK_SET);
		res("open O_APPEND write", write(fd, "+1", 2));
		lseek(fd, 0, SEEK_SET);
		res("open O_APPEND write again", write(fd, "+2", 2));
		close(fd);
	}
	content_line("open O_APPEND content", d, "append");

	res("open O_DIRECTORY on file", openat(d, "excl", O_RDONLY | O_DIRECTORY));
	res("open O_DIRECTORY on dir", openat(d, "dir", O_RDONLY | O_DIRECTORY));
	res("open O_NOFOLLOW on symlink", openat(d, "sym", O_RDONLY | O_NOFOLLOW));
	res("open O_NOFOLLOW on file", openat(d, "excl", O_RDONLY | O_NOFOLLOW));
	fd = openat(d, "sym", O_PATH | O_NOFOLLOW);
	res("open O_PATH|O_NOFOLLOW on symlink", fd);
	if (fd >= 0) {
		struct stat st;

		res("fstat O_PATH symlink", fstat(fd, &st));
		line("fstat O_PATH symlink: type", "%c", ftype(st.st_mode));
		close(fd);
	}
	content_line("open through symlink", d, "nofollow_target");
	res("open dir O_WRONLY", openat(d, "dir", O_WRONLY));
	res("open dir O_RDWR", openat(d, "dir", O_RDWR));
	res("open missing", openat(d, "missing", O_RDONLY));
	res("open file as dir", openat(d, "excl/sub", O_RDONLY));
	res("open O_CREAT in missing dir", openat(d, "nodir/x", O_WRONLY | O_CREAT, 0644));
	res("open O_CREAT|O_EXCL on symlink", openat(d, "sym", O_WRONLY | O_CREAT | O_EXCL, 0644));
}

static void check_rename(int d)
{
	res("rename lower file over lower file", renameat(d, "ren_src", d, "ren_dst"));
	content_line("rename over: target", d, "ren_dst");
	res("rename over: source gone", faccessat(d, "ren_src", F_OK, AT_SYMLINK_NOFOLLOW));

	mkfile(d, "ren_new", "new", 0600);
	res("rename new file over lower file", renameat(d, "ren_new", d, "ren_up_dst"));
	content_line("rename new over: target", d, "ren_up_dst");
	stat_line("rename new over: stat", d, "ren_up_dst");

	res("rename file over dir", renameat(d, "excl", d, "empty"));
	res("rename dir over file", renameat(d, "empty", d, "excl"));
	res("rename missing", renameat(d, "missing", d, "x"));
	res("rename dir into itself", renameat(d, "dir", d, "dir/sub"));
	res("rename RENAME_NOREPLACE existing",
	    renameat2(d, "trunc", d, "append", RENAME_NOREPLACE));
	res("rename same file", renameat(d, "cu_hl1", d, "cu_hl1"));

	/* directories: a new (upper-only) one, a lower one, over lower ones */
	res("mkdir new dir", mkdirat(d, "newdir", 0755));
	mkfile(d, "newdir/n", "n", 0644);
	res("rename new dir to new name", renameat(d, "newdir", d, "newdir2"));
	list_line("rename new dir: content", d, "newdir2");
	res("rename new dir over non-empty lower dir", renameat(d, "newdir2", d, "ren_dir_target"));
	list_line("rename new dir over non-empty: target", d, "ren_dir_target");
	res("rename new dir over empty lower dir", renameat(d, "newdir2", d, "empty"));
	list_line("rename new dir over empty: target", d, "empty");
	res("rename new dir: old name gone", faccessat(d, "newdir2", F_OK, AT_SYMLINK_NOFOLLOW));
	res("rename lower dir", renameat(d, "lowerdir_ren", d, "lowerdir_ren2"));
	list_line("rename lower dir: parent", d, ".");
	res("rename lower dir over non-empty dir", renameat(d, "full", d, "dir"));
	res("rename to another file system", renameat(d, "trunc", AT_FDCWD, "/dev/shm/slimfs-posix-x"));
	unlink("/dev/shm/slimfs-posix-x");
}

static void check_dirs(int d)
{
	res("rmdir non-empty lower dir", unlinkat(d, "full", AT_REMOVEDIR));
	res("unlink rmall/p", unlinkat(d, "rmall/p", 0));
	res("unlink rmall/q", unlinkat(d, "rmall/q", 0));
	list_line("emptied lower dir lists", d, "rmall");
	res("rmdir emptied lower dir", unlinkat(d, "rmall", AT_REMOVEDIR));
	res("rmdir emptied lower dir: gone", faccessat(d, "rmall", F_OK, 0));

	/* rm -r dir && mkdir dir: the old entries must not come back */
	res("unlink replace/old", unlinkat(d, "replace/old", 0));
	res("rmdir replace", unlinkat(d, "replace", AT_REMOVEDIR));
	res("mkdir replace again", mkdirat(d, "replace", 0700));
	list_line("replaced dir lists", d, "replace");
	stat_line("replaced dir: stat", d, "replace");
	res("replaced dir: old entry", faccessat(d, "replace/old", F_OK, 0));

	res("mkdir existing", mkdirat(d, "dir", 0755));
	res("mkdir over file", mkdirat(d, "excl", 0755));
	res("rmdir file", unlinkat(d, "excl", AT_REMOVEDIR));
	res("unlink dir", unlinkat(d, "dir", 0));
	res("rmdir missing", unlinkat(d, "missing", AT_REMOVEDIR));
	res("rmdir dot", unlinkat(d, "dir/.", AT_REMOVEDIR));
	res("link to dir", linkat(d, "dir", d, "dirlink", 0));
	res("symlink existing", symlinkat("x", d, "sym"));
	res("mkfifo", mkfifoat(d, "fifo", 0644));
	stat_line("mkfifo: stat", d, "fifo");
	res("mknod char dev", mknodat(d, "chr", S_IFCHR | 0600, makedev(1, 3)));
	stat_line("mknod char dev: stat", d, "chr");
	list_line("lower dir with new entry", d, "dir");
	mkfile(d, "dir/added", "a", 0644);
	list_line("lower dir with new entry", d, "dir");
}

static void check_unlink_open(int d)
{
	char buf[64] = "";
	struct stat st;
	int fd = openat(d, "unlink_open", O_RDONLY);

	res("open lower file to unlink", fd);
	if (fd < 0)
		return;
	res("unlink open lower file", unlinkat(d, "unlink_open", 0));
	res("unlinked: gone by name", faccessat(d, "unlink_open", F_OK, 0));
	res("unlinked: still readable", pread(fd, buf, sizeof(buf) - 1, 0));
	line("unlinked: content", "\"%s\"", buf);
	res("unlinked: fstat", fstat(fd, &st));
	close(fd);

	fd = openat(d, "new_unlink_open", O_RDWR | O_CREAT | O_EXCL, 0644);
	res("open new file to unlink", fd);
	if (fd < 0)
		return;
	res("unlink open new file", unlinkat(d, "new_unlink_open", 0));
	res("unlinked new: write", write(fd, "still", 5));
	memset(buf, 0, sizeof(buf));
	res("unlinked new: read", pread(fd, buf, sizeof(buf) - 1, 0));
	line("unlinked new: content", "\"%s\"", buf);
	res("unlinked new: fstat", fstat(fd, &st));
	line("unlinked new: nlink", "%lu", (unsigned long)st.st_nlink);
	close(fd);
}

static int same_ino(int d, const char *a, const char *b)
{
	struct stat sa, sb;

	if (fstatat(d, a, &sa, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(d, b, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static void check_links(int d)
{
	int fd;

	line("lower hardlinks: same inode", "%d", same_ino(d, "cu_hl1", "cu_hl2"));
	stat_line("lower hardlinks: stat", d, "cu_hl1");
	res("link lower file", linkat(d, "link_src", d, "link_new", 0));
	line("link lower file: same inode", "%d", same_ino(d, "link_src", "link_new"));
	stat_line("link lower file: stat", d, "link_src");
	fd = openat(d, "link_new", O_WRONLY | O_APPEND);
	res("write through new link", fd < 0 ? -1 : write(fd, "+", 1));
	if (fd >= 0)
		close(fd);
	content_line("write through new link: other name", d, "link_src");

	/* copy-up of one name of a lower hardlink pair */
	fd = openat(d, "cu_hl1", O_WRONLY | O_APPEND);
	res("write to lower hardlink", fd < 0 ? -1 : write(fd, "+", 1));
	if (fd >= 0)
		close(fd);
	content_line("write to lower hardlink: other name", d, "cu_hl2");
	line("copied-up hardlinks: same inode", "%d", same_ino(d, "cu_hl1", "cu_hl2"));
	stat_line("copied-up hardlinks: stat", d, "cu_hl2");

	res("unlink one name of a link pair", unlinkat(d, "link_new", 0));
	stat_line("unlink one name: other", d, "link_src");
}

static void check_attrs(int d)
{
	char buf[64];
	ssize_t n;
	struct stat st, st2;

	res("chmod lower file", fchmodat(d, "chmod", 04711, 0));
	stat_line("chmod lower file: stat", d, "chmod");
	res("chown lower file", fchownat(d, "chown", 123, 456, 0));
	stat_line("chown lower file: stat", d, "chown");
	res("lchown symlink", fchownat(d, "sym", 7, 8, AT_SYMLINK_NOFOLLOW));
	stat_line("lchown symlink: stat", d, "sym");
	stat_line("lchown symlink: target untouched", d, "nofollow_target");
	res("truncate grow", truncate("grow", 10000));
	stat_line("truncate grow: stat", d, "grow");

	res("setxattr user", setxattr("xattr", "user.test", "v1", 2, 0));
	n = getxattr("xattr", "user.test", buf, sizeof(buf));
	res("getxattr user", n);
	line("getxattr user: value", "\"%.*s\"", n > 0 ? (int)n : 0, buf);
	res("getxattr missing", getxattr("xattr", "user.none", buf, sizeof(buf)));
	res("setxattr XATTR_CREATE existing", setxattr("xattr", "user.test", "v2", 2, XATTR_CREATE));
	res("setxattr XATTR_REPLACE missing", setxattr("xattr", "user.none", "v", 1, XATTR_REPLACE));
	res("removexattr", removexattr("xattr", "user.test"));
	res("removexattr missing", removexattr("xattr", "user.test"));

	/* timestamps */
	struct timespec ts[2] = { { 1234567890, 123456789 }, { 1234567891, 987654321 } };
	res("utimensat exact", utimensat(d, "time_set", ts, 0));
	fstatat(d, "time_set", &st, 0);
	line("utimensat exact: times", "atime=%lld.%09ld mtime=%lld.%09ld",
	     (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 42, 0 } };
	res("utimensat UTIME_OMIT", utimensat(d, "time_set", omit, 0));
	fstatat(d, "time_set", &st, 0);
	line("utimensat UTIME_OMIT: times", "atime=%lld.%09ld mtime=%lld.%09ld",
	     (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	fstatat(d, "time_write", &st, 0);
	line("lower mtime visible", "%lld", (long long)st.st_mtim.tv_sec);
	int fd = openat(d, "time_write", O_WRONLY);
	res("write updates mtime: write", fd < 0 ? -1 : write(fd, "w", 1));
	if (fd >= 0)
		close(fd);
	fstatat(d, "time_write", &st2, 0);
	line("write updates mtime", "%d", st2.st_mtim.tv_sec > st.st_mtim.tv_sec);
	line("write updates ctime", "%d", st2.st_ctim.tv_sec >= st2.st_mtim.tv_sec - 1 &&
	     (st2.st_ctim.tv_sec > st.st_ctim.tv_sec || st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec));
	fstatat(d, "time_chmod", &st, 0);
	res("chmod updates ctime: chmod", fchmodat(d, "time_chmod", 0600, 0));
	fstatat(d, "time_chmod", &st2, 0);
	line("chmod keeps mtime", "%d", st2.st_mtim.tv_sec == st.st_mtim.tv_sec);
	line("chmod updates ctime", "%d", st2.st_ctim.tv_sec > st.st_ctim.tv_sec ||
	     st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec);
	fstatat(d, "dir", &st, 0);
	usleep(20000);
	mkfile(d, "dir/tick", "t", 0644);
	fstatat(d, "dir", &st2, 0);
	line("create updates dir mtime", "%d", st2.st_mtim.tv_sec > st.st_mtim.tv_sec ||
	     (st2.st_mtim.tv_sec == st.st_mtim.tv_sec && st2.st_mtim.tv_nsec > st.st_mtim.tv_nsec));
}

static void check_errors(int d)
{
	char name[300], path[5000];

	memset(name, 'n', 256);
	name[256] = 0;
	res("ENAMETOOLONG name of 256", openat(d, name, O_WRONLY | O_CREAT, 0644));
	res("ENAMETOOLONG mkdir 256", mkdirat(d, name, 0755));
	name[255] = 0;
	res("name of 255 create", openat(d, name, O_WRONLY | O_CREAT, 0644));
	res("name of 255 stat", faccessat(d, name, F_OK, 0));
	res("name of 255 unlink", unlinkat(d, name, 0));
	memset(path, 'a', sizeof(path) - 1);
	for (size_t i = 100; i < sizeof(path) - 1; i += 101)
		path[i] = '/';
	path[sizeof(path) - 1] = 0;
	res("ENAMETOOLONG path of 4999", faccessat(d, path, F_OK, 0));
	res("ELOOP symlink loop", openat(d, "loop1", O_RDONLY));
	res("ELOOP stat loop", faccessat(d, "loop1", F_OK, 0));
	res("lstat loop", faccessat(d, "loop1", F_OK, AT_SYMLINK_NOFOLLOW));
	char tgt[64] = "";
	res("readlink", readlinkat(d, "sym", tgt, sizeof(tgt) - 1));
	line("readlink: target", "%s", tgt);
	res("readlink on file", readlinkat(d, "excl", tgt, sizeof(tgt)));
	res("flock", ({
		int fd = openat(d, "lock", O_RDWR), r = fd < 0 ? -1 : flock(fd, LOCK_EX | LOCK_NB);
		if (fd >= 0)
			close(fd);
		r;
	}));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = openat(d, "lock", O_RDWR);
	res("fcntl F_SETLK", fd < 0 ? -1 : fcntl(fd, F_SETLK, &fl));
	if (fd >= 0)
		close(fd);
	fd = openat(d, "dir", O_WRONLY | O_TMPFILE, 0600);
	res_fd("O_TMPFILE", fd);
}

/* ---- checks as a non-root user ---------------------------------------------- */

static void check_user(int d)
{
	res("user: read 0600 root file", openat(d, "priv/secret", O_RDONLY));
	res("user: list 0700 root dir", openat(d, "priv", O_RDONLY | O_DIRECTORY));
	res("user: read 0644 root file", openat(d, "as_user_ro", O_RDONLY));
	res("user: write 0644 root file", openat(d, "as_user_ro", O_WRONLY));
	res("user: truncate 0644 root file", truncate("as_user_ro", 0));
	res("user: create in 0755 root dir", openat(d, "rootdir/x", O_WRONLY | O_CREAT, 0644));
	res("user: mkdir in 0755 root dir", mkdirat(d, "rootdir/x", 0755));
	res("user: unlink in 0755 root dir", unlinkat(d, "excl", 0));
	res("user: enter dir without x", faccessat(d, "noenter/x", F_OK, 0));
	res("user: exec 0644 file", faccessat(d, "noexec", X_OK, 0));
	res("user: chmod root file", fchmodat(d, "other_file", 0666, 0));
	res("user: chown own file", fchownat(d, "mine", 0, 0, 0));
	res("user: chmod own file", fchmodat(d, "mine", 0600, 0));
	stat_line("user: chmod own file: stat", d, "mine");
	res("user: utimensat NULL on root file", utimensat(d, "other_file", NULL, 0));
	res("user: utimensat NULL on own file", utimensat(d, "mine", NULL, 0));
	res("user: write own lower file", ({
		int fd = openat(d, "mine", O_WRONLY | O_APPEND), r = fd < 0 ? -1 : write(fd, "+", 1);
		if (fd >= 0)
			close(fd);
		r;
	}));
	res("user: setxattr on root file", setxattr("other_file", "user.u", "v", 1, 0));
	int fd = openat(d, "shared/u", O_WRONLY | O_CREAT | O_EXCL, 0640);
	res_fd("user: create in 0777 dir", fd);
	stat_line("user: create in 0777 dir: stat", d, "shared/u");
	fd = openat(d, "sticky/own", O_WRONLY | O_CREAT | O_EXCL, 0644);
	res_fd("user: create in sticky dir", fd);
	res("user: unlink root's file in sticky dir", unlinkat(d, "sticky/roots", 0));
	res("user: rename root's file in sticky dir", renameat(d, "sticky/roots", d, "sticky/r2"));
	res("user: unlink own file in sticky dir", unlinkat(d, "sticky/own", 0));
	res("user: access W_OK root file", faccessat(d, "as_user_ro", W_OK, 0));
	res("user: access R_OK root file", faccessat(d, "as_user_ro", R_OK, 0));
}

/* ---- setgid and sticky as root ------------------------------------------------ */

static void check_sgid(int d)
{
	int fd = openat(d, "sgid/f", O_WRONLY | O_CREAT | O_EXCL, 0644);

	res_fd("create in setgid dir", fd);
	stat_line("create in setgid dir: stat", d, "sgid/f");
	res("mkdir in setgid dir", mkdirat(d, "sgid/sub", 0755));
	stat_line("mkdir in setgid dir: stat", d, "sgid/sub");
	stat_line("setgid dir: stat", d, "sgid");
	stat_line("sticky dir: stat", d, "sticky");
}

/* Run FN as uid/gid USER_ID without supplementary groups, in a child. */
static void as_user(int d, void (*fn)(int))
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(USER_ID, USER_ID, USER_ID) < 0 ||
		    setresuid(USER_ID, USER_ID, USER_ID) < 0) {
			perror("posix_check: drop to user");
			_exit(2);
		}
		fn(d);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		printf("as user: child failed\n");
}

int main(int argc, char **argv)
{
	int d;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("usage: posix_check --setup DIR | posix_check DIR\n"
		       "Make the fixture in DIR, or run the conformance checks in DIR\n"
		       "(one line per check on stdout).\n");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--setup"))
		return setup(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: posix_check [--setup] DIR\n");
		return 2;
	}
	if (chdir(argv[1]) < 0 || (d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "posix_check: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	as_user(d, check_user);    /* first: before root's checks change the fixture */
	check_open(d);
	check_rename(d);
	check_dirs(d);
	check_unlink_open(d);
	check_links(d);
	check_attrs(d);
	check_errors(d);
	check_sgid(d);
	return 0;
}
