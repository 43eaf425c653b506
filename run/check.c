/* check.c — --check LEAN: does the lean image behave like the image?
 *
 * The container runs twice with identical options: in ROOTFS, then in LEAN (an image,
 * a directory, or a flat tarball unpacked into a temporary directory), each image with
 * its own config (Entrypoint, Cmd, Env, WorkingDir, User), a LEAN that is no image with
 * ROOTFS's.  Both runs go through a slimfs mount
 * with a throwaway trace and upper directory, so neither image is ever written.  CMD's
 * stdin is /dev/null (it cannot be replayed), its stdout is captured in a memfd, its
 * stderr passes through.  Exit status and stdout must agree byte for byte; on a
 * mismatch a unified diff goes to stdout.  One summary line ends the output.
 *
 * A service run (--wait-port, --probe, ...) compares what the probes saw instead: their
 * stdout and the run's status (the first failing probe's), and the server's exit
 * status after the stop signal; the server's own output (times, pids) is not compared.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image/img.h"

struct side {
	const char *tag;        /* "image" or "lean": names its scratch files */
	const char *name;       /* as the user gave it */
	const char *rootfs;     /* image directory */
	const struct img_config *config;  /* the config its process follows, or NULL */
	int out;                /* memfd with CMD's stdout (a service: the probes') */
	int status;
	int server_status;      /* a service: the server's exit status after the stop */
};

static int run_side(const struct run_opts *o, struct side *s, const char *scratch,
		    struct sfs_err *err)
{
	_cleanup_free_ char *trace = NULL, *upper = NULL;
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct run_target t = { .rootfs = s->rootfs, .config = s->config };
	int ret;

	s->out = memfd_create("stdout", MFD_CLOEXEC);
	if (s->out < 0 || null < 0)
		return sfs_fail(err, errno, "memfd");
	if (asprintf(&trace, "%s/%s.db", scratch, s->tag) < 0 ||
	    asprintf(&upper, "%s/%s-upper", scratch, s->tag) < 0)
		return sfs_fail(err, ENOMEM, "trace");
	if (mkdir(upper, 0755) < 0)
		return sfs_fail(err, errno, "%s", upper);
	t.trace = trace;
	t.upper = upper;
	t.stdin_fd = null;
	t.stdout_fd = s->out;
	t.server_status = &s->server_status;
	ret = run_session(o, &t, &s->status, err);
	if (ret < 0)
		sfs_wrap(err, "in %s", s->name);
	return ret;
}

static int same_bytes(int a, int b)
{
	char x[1 << 15], y[1 << 15];
	ssize_t n, m;

	if (lseek(a, 0, SEEK_SET) < 0 || lseek(b, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		n = read(a, x, sizeof x);
		m = read(b, y, sizeof y);   /* regular files: full reads until EOF */
		if (n < 0 || m < 0)
			return -1;
		if (n != m || memcmp(x, y, (size_t)n) != 0)
			return 0;
		if (n == 0)
			return 1;
	}
}

/* diff -u of the two outputs on our stdout (diffutils is essential on Debian). */
static void show_diff(const struct side *a, const struct side *b)
{
	pid_t pid = fork();

	if (pid < 0)
		return;
	if (pid == 0) {
		char la[4200], lb[4200];

		run_unblock_signals();
		snprintf(la, sizeof la, "%s (stdout)", a->name);
		snprintf(lb, sizeof lb, "%s (stdout)", b->name);
		if (dup2(a->out, 3) < 0 || dup2(b->out, 4) < 0 || lseek(3, 0, SEEK_SET) < 0 ||
		    lseek(4, 0, SEEK_SET) < 0)
			_exit(2);
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, "/dev/fd/3", "/dev/fd/4",
		       (char *)NULL);
		fprintf(stderr, "slimfs-run: diff: %s (outputs differ)\n", strerror(errno));
		_exit(2);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int run_check(const struct run_opts *o, const char *rootfs, const char *lean, int *status,
	      struct sfs_err *err)
{
	_cleanup_free_ char *lean_dir = NULL;
	struct run_image image = { 0 }, lean_image = { 0 };
	char scratch[] = "/var/tmp/slimfs-check-XXXXXX";
	struct side a = { .tag = "image", .name = rootfs, .out = -1 };
	struct side b = { .tag = "lean", .name = lean, .out = -1 };
	struct stat st;
	off_t size;
	int same, ret = -1;

	*status = RUN_EXIT_ERROR;
	if (run_resolve(rootfs, o->platform, &image, err) < 0)
		return -1;
	if (!mkdtemp(scratch)) {
		run_image_free(&image);
		return sfs_fail(err, errno, "cannot make a scratch directory in /var/tmp");
	}
	if (run_resolve_image(lean, o->platform, &lean_image, err) < 0)
		goto out;
	if (lean_image.img) {
		lean_dir = strdup(lean_image.dir);
		if (!lean_dir) {
			sfs_fail(err, ENOMEM, "%s", lean);
			goto out;
		}
	} else if (stat(lean, &st) < 0) {
		sfs_fail(err, errno, "%s", lean);
		goto out;
	} else if (S_ISREG(st.st_mode)) {
		if (image_unpack_tmp(lean, scratch, &lean_dir, err) < 0)
			goto out;
	} else if (!(lean_dir = realpath(lean, NULL))) {
		sfs_fail(err, errno, "%s", lean);
		goto out;
	}
	a.rootfs = image.dir;
	b.rootfs = lean_dir;
	/* each image runs with its own config; a lean tree that is none, with the image's */
	a.config = image.img ? &image.img->config : NULL;
	b.config = lean_image.img ? &lean_image.img->config : a.config;
	if (run_side(o, &a, scratch, err) < 0 || run_side(o, &b, scratch, err) < 0)
		goto out;
	same = same_bytes(a.out, b.out);
	if (same < 0) {
		sfs_fail(err, errno, "cannot compare the outputs");
		goto out;
	}
	size = lseek(a.out, 0, SEEK_END);
	fflush(stdout);
	if (!same)
		show_diff(&a, &b);
	if (same && a.status == b.status && o->svc.on && a.server_status != b.server_status)
		printf("slimfs-run: check FAILED: the server's exit status after the stop is %d in %s, %d in %s\n",
		       a.server_status, rootfs, b.server_status, lean);
	else if (same && a.status == b.status && o->svc.on)
		printf("slimfs-run: check passed: probes' exit status %d, %lld bytes of probes' stdout and the server's exit status %d identical in %s and %s\n",
		       a.status, (long long)size, a.server_status, rootfs, lean);
	else if (same && a.status == b.status)
		printf("slimfs-run: check passed: exit status %d and %lld bytes of stdout identical in %s and %s\n",
		       a.status, (long long)size, rootfs, lean);
	else if (a.status != b.status)
		printf("slimfs-run: check FAILED: exit status %d in %s, %d in %s%s\n", a.status,
		       rootfs, b.status, lean, same ? "" : "; stdout differs");
	else
		printf("slimfs-run: check FAILED: stdout differs (exit status %d in both)\n",
		       a.status);
	fflush(stdout);
	*status = same && a.status == b.status && a.server_status == b.server_status ? 0 : 1;
	ret = 0;
out:
	if (a.out >= 0)
		close(a.out);
	if (b.out >= 0)
		close(b.out);
	sfs_rm_tree(scratch, NULL);
	run_image_free(&image);
	run_image_free(&lean_image);
	return ret;
}
