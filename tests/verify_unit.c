/* verify_unit.c — the fanotify verifier without the FUSE daemon: the private lower
 * mount (both the open_tree road and the bind-mount fallback) is read-only and in no
 * mount table, and the verifier records verify_open / verify_read / verify_exec for
 * exactly the lower files that were opened, read and executed through it, under their
 * paths inside the root; a tiny limited queue overflows and marks the run.
 *
 * Runs as root (CAP_SYS_ADMIN for the mount and fanotify).  Speaks TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "fs/slimfs.h"
#include "fs/verify.h"
#include "store/trace.h"
#include "tap.h"

#define QUEUED_EVENTS "/proc/sys/fs/fanotify/max_queued_events"

struct collect {
	char *text;          /* "path op\n" lines */
	size_t len, cap;
	bool overflow;
	bool verifier;
};

static int collect_cb(void *ctx, const struct trace_event *ev)
{
	struct collect *c = ctx;
	size_t need = strlen(ev->path) + 32;

	if (c->len + need >= c->cap) {
		c->cap = (c->cap + need) * 2;
		c->text = realloc(c->text, c->cap);
		if (!c->text)
			abort();
	}
	c->len += (size_t)snprintf(c->text + c->len, c->cap - c->len, "%s %s\n", ev->path,
				   trace_op_name(ev->op));
	return 0;
}

static int read_trace(const char *file, struct collect *c)
{
	struct trace_reader *r;
	struct sfs_err err;
	int ret;

	memset(c, 0, sizeof(*c));
	c->text = calloc(1, 1);
	if (trace_reader_open(&r, file, &err) < 0) {
		printf("# %s\n", err.msg);
		return -1;
	}
	ret = trace_reader_foreach(r, collect_cb, c, &err);
	if (trace_reader_nruns(r) == 1) {
		c->overflow = trace_reader_run(r, 0)->overflow;
		c->verifier = trace_reader_run(r, 0)->verifier;
	}
	trace_reader_close(r);
	return ret;
}

static bool has(const struct collect *c, const char *path, const char *op)
{
	char line[512];

	snprintf(line, sizeof(line), "%s %s\n", path, op);
	for (const char *p = c->text; (p = strstr(p, line)); p++)
		if (p == c->text || p[-1] == '\n')
			return true;
	return false;
}

/* Any verify_* event recorded for PATH? */
static bool has_verify(const struct collect *c, const char *path)
{
	return has(c, path, "verify_open") || has(c, path, "verify_read") ||
	       has(c, path, "verify_exec");
}

static int count_verify(const struct collect *c)
{
	int n = 0;

	for (const char *p = c->text; (p = strstr(p, " verify_")); p++)
		n++;
	return n;
}

static void put_file(int dirfd, const char *name, const char *content)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
		printf("Bail out! cannot write %s: %s\n", name, strerror(errno));
		exit(1);
	}
}

static void copy_file(const char *from, int dirfd, const char *name)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	char buf[65536];
	ssize_t n;

	if (in < 0 || out < 0) {
		printf("Bail out! cannot copy %s: %s\n", from, strerror(errno));
		exit(1);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			exit(1);
}

/* The lower tree every test looks at. */
static void make_lower(const char *lower)
{
	_cleanup_close_ int d = -1;

	if (mkdir(lower, 0755) < 0) {
		printf("Bail out! mkdir %s: %s\n", lower, strerror(errno));
		exit(1);
	}
	d = open(lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	mkdirat(d, "a", 0755);
	mkdirat(d, "a/deep", 0755);
	mkdirat(d, "a/deep/er", 0755);
	mkdirat(d, "bin", 0755);
	mkdirat(d, "many", 0755);
	put_file(d, "a/read_me", "read me\n");
	put_file(d, "a/open_only", "only opened\n");
	put_file(d, "a/stat_only", "only stat'ed\n");
	put_file(d, "a/untouched", "never touched\n");
	put_file(d, "a/deep/er/file", "deep\n");
	put_file(d, "h1", "two names\n");
	linkat(d, "h1", d, "h2", 0);
	symlinkat("a/read_me", d, "link");
	copy_file("/bin/true", d, "bin/true");
	for (int i = 0; i < 2000; i++) {
		char name[64];

		snprintf(name, sizeof(name), "many/f%04d", i);
		put_file(d, name, "x\n");
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static char *slurp(const char *file)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;

	if (!f || !m)
		abort();
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	return buf;
}

static bool read_file_at(int root, const char *name)
{
	_cleanup_close_ int fd = openat(root, name, O_RDONLY | O_CLOEXEC);
	char buf[256];

	return fd >= 0 && read(fd, buf, sizeof(buf)) > 0;
}

/* Run the lower file NAME (a copy of /bin/true) through ROOT, as a container would. */
static bool exec_at(int root, const char *name)
{
	_cleanup_close_ int fd = openat(root, name, O_PATH | O_CLOEXEC);
	int status;
	pid_t pid;

	if (fd < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "true", NULL }, *envp[] = { NULL };

		execveat(fd, "", argv, envp, AT_EMPTY_PATH);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

typedef int (*mount_fn)(const char *lowerdir, int *root_fd, struct sfs_err *err);

/* The whole story on one road to the private mount. */
static void test_road(const char *road, mount_fn fn, const char *tmp)
{
	struct trace_run_info info = { .lowerdir = NULL, .command = "verify_unit", .verifier = true };
	struct verifier_opts opts = { .unlimited_queue = true };
	_cleanup_free_ char *mounts_before = NULL, *mounts_after = NULL;
	_cleanup_close_ int root = -1;
	char lower[512], trace[512];
	struct trace_writer *w;
	struct verifier *v = NULL;
	struct collect c;
	struct sfs_err err;
	struct stat st;
	int fd;

	snprintf(lower, sizeof(lower), "%s/lower", tmp);
	snprintf(trace, sizeof(trace), "%s/%s.trace", tmp, road);
	info.lowerdir = lower;

	mounts_before = slurp("/proc/self/mountinfo");
	TAP_OK(fn(lower, &root, &err) == 0, "%s: private mount of the lower tree", road);
	if (root < 0) {
		printf("# %s\n", err.msg);
		return;
	}
	mounts_after = slurp("/proc/self/mountinfo");
	TAP_OK(strcmp(mounts_before, mounts_after) == 0 && !strstr(mounts_after, tmp),
	       "%s: the private mount is in no mount table", road);
	TAP_OK(fstatat(root, "a/read_me", &st, 0) == 0 && S_ISREG(st.st_mode),
	       "%s: the lower tree is reachable through the root fd", road);

	errno = 0;
	fd = openat(root, "new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	TAP_OK(fd < 0 && errno == EROFS, "%s: creating a file through the root fd fails with EROFS", road);
	if (fd >= 0)
		close(fd);
	fd = openat(root, "a/read_me", O_WRONLY | O_CLOEXEC);
	TAP_OK(fd < 0 && errno == EROFS, "%s: opening a lower file for writing fails with EROFS", road);
	if (fd >= 0)
		close(fd);
	TAP_OK(mkdirat(root, "a/newdir", 0755) < 0 && errno == EROFS,
	       "%s: mkdir through the root fd fails with EROFS", road);

	if (trace_writer_open(&w, trace, &info, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}
	TAP_OK(verifier_start(&v, root, w, &opts, &err) == 0, "%s: verifier starts", road);
	if (!v)
		printf("# %s\n", err.msg);

	/* The workload, as the daemon would serve it. */
	read_file_at(root, "a/read_me");
	for (int i = 0; i < 1000; i++)         /* a read-heavy file */
		read_file_at(root, "a/deep/er/file");
	fd = openat(root, "a/open_only", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	fstatat(root, "a/stat_only", &st, 0);
	fd = openat(root, "a/stat_only", O_PATH | O_CLOEXEC);   /* the daemon's inode fds */
	if (fd >= 0)
		close(fd);
	read_file_at(root, "h1");
	read_file_at(root, "h2");
	read_file_at(root, "link");
	TAP_OK(exec_at(root, "bin/true"), "%s: a lower binary runs through the root fd", road);

	verifier_stop(v);
	if (trace_writer_close(w, &err) < 0)
		printf("# %s\n", err.msg);
	if (read_trace(trace, &c) < 0) {
		printf("Bail out! cannot read %s\n", trace);
		exit(1);
	}

	TAP_OK(has(&c, "/a/read_me", "verify_open") && has(&c, "/a/read_me", "verify_read"),
	       "%s: a read file has verify_open and verify_read", road);
	TAP_OK(has(&c, "/a/deep/er/file", "verify_read"),
	       "%s: a deep file read many times has verify_read under its path", road);
	TAP_OK(has(&c, "/a/open_only", "verify_open") && !has(&c, "/a/open_only", "verify_read"),
	       "%s: an opened, unread file has verify_open only", road);
	TAP_OK(!has_verify(&c, "/a/stat_only"), "%s: a stat'ed file has no verify event", road);
	TAP_OK(!has_verify(&c, "/a/untouched"), "%s: an untouched file has no verify event", road);
	TAP_OK(has(&c, "/h1", "verify_read") && has(&c, "/h2", "verify_read"),
	       "%s: both names of a hardlink read have verify_read", road);
	TAP_OK(!has_verify(&c, "/link"), "%s: a symlink opened is recorded at its target", road);
	TAP_OK(has(&c, "/bin/true", "verify_exec"), "%s: an executed binary has verify_exec", road);
	TAP_OK(!has_verify(&c, "/") && !has_verify(&c, "/a"),
	       "%s: no verify event for directories", road);
	/* read_me, deep/er/file, open_only, h1, h2, bin/true: nothing else. */
	{
		static const char *const touched[] = { "/a/read_me", "/a/deep/er/file",
						       "/a/open_only", "/h1", "/h2", "/bin/true" };
		int n = 0;

		for (size_t i = 0; i < sizeof(touched) / sizeof(touched[0]); i++)
			n += has(&c, touched[i], "verify_open") + has(&c, touched[i], "verify_read") +
			     has(&c, touched[i], "verify_exec");
		TAP_OK(n == count_verify(&c), "%s: verify events only for touched files (%d of %d)",
		       road, n, count_verify(&c));
	}
	TAP_OK(!c.overflow, "%s: an unlimited queue does not overflow", road);
	if (tap_failed)
		printf("# trace:\n# %s\n", c.text);
	free(c.text);
}

/* A tiny limited queue and a burst of distinct files: events are lost and the run
 * says so. */
static void test_overflow(const char *tmp)
{
	struct trace_run_info info = { .lowerdir = NULL, .command = "verify_unit", .verifier = true };
	struct verifier_opts opts = { .unlimited_queue = false };
	_cleanup_free_ char *saved = slurp(QUEUED_EVENTS);
	_cleanup_close_ int root = -1;
	char lower[512], trace[512];
	struct trace_writer *w;
	struct verifier *v = NULL;
	struct collect c;
	struct sfs_err err;
	FILE *f;

	snprintf(lower, sizeof(lower), "%s/lower", tmp);
	snprintf(trace, sizeof(trace), "%s/overflow.trace", tmp);
	info.lowerdir = lower;
	if (lower_private_mount(lower, &root, &err) < 0 ||
	    trace_writer_open(&w, trace, &info, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}

	/* The limit is read when the fanotify group is made: set, start, restore. */
	f = fopen(QUEUED_EVENTS, "we");
	TAP_OK(f && fputs("1\n", f) >= 0 && fclose(f) == 0, "overflow: lower %s to 1", QUEUED_EVENTS);
	TAP_OK(verifier_start(&v, root, w, &opts, &err) == 0, "overflow: verifier starts with a limited queue");
	f = fopen(QUEUED_EVENTS, "we");
	if (!f || fputs(saved, f) < 0 || fclose(f) != 0)
		printf("Bail out! cannot restore %s\n", QUEUED_EVENTS);

	for (int i = 0; i < 2000; i++) {
		char name[64];

		snprintf(name, sizeof(name), "many/f%04d", i);
		read_file_at(root, name);
	}
	verifier_stop(v);
	trace_writer_close(w, &err);
	if (read_trace(trace, &c) < 0) {
		printf("Bail out! cannot read %s\n", trace);
		exit(1);
	}
	TAP_OK(c.overflow, "overflow: a burst over a queue of 1 marks the run overflowed");
	TAP_OK(c.verifier, "overflow: the run says the verifier was on");
	free(c.text);
}

/* Drop CAP_SYS_ADMIN from the effective set of this (child) process, keep the rest. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data);
}

/* Without CAP_SYS_ADMIN: EPERM, so the daemon can fall back and warn once. */
static void test_no_cap(const char *tmp)
{
	char lower[512];
	int status = -1;
	pid_t pid;

	snprintf(lower, sizeof(lower), "%s/lower", tmp);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct trace_writer *w = NULL;
		struct verifier *v = NULL;
		struct sfs_err err = { 0 };
		int root = -1;

		if (drop_sys_admin() < 0)
			_exit(10);
		if (lower_private_mount(lower, &root, &err) == 0 || err.code != EPERM)
			_exit(11);
		if (lower_private_mount_bind(lower, &root, &err) == 0 || err.code != EPERM)
			_exit(12);
		root = open(lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (verifier_start(&v, root, w, &(struct verifier_opts){ .unlimited_queue = true },
				   &err) == 0 || err.code != EPERM)
			_exit(13);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "without CAP_SYS_ADMIN, private mount and verifier fail with EPERM (child status %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
	char tmp[] = "/tmp/slimfs-verify-XXXXXX";
	char lower[512];

	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(lower, sizeof(lower), "%s/lower", tmp);
	make_lower(lower);

	test_road("open_tree", lower_private_mount, tmp);
	test_road("bind", lower_private_mount_bind, tmp);
	test_overflow(tmp);
	test_no_cap(tmp);

	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
