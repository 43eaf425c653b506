/* tmpout.c — an output's temporary stand-in, so that OUT is either what it was or the
 * whole new output: every output (write.c, oci.c, sbom.c) is written to OUT.tmp-XXXXXX
 * beside OUT (same directory, so same file system) and renamed over OUT once complete;
 * on any failure the stand-in is removed.  A directory output (--format dir, an OCI
 * layout) must not exist yet: rename(2) would not replace a non-empty directory.
 *
 * Signals: SIGINT, SIGTERM and SIGHUP kill the export at once while no stand-in
 * exists; while one does, the handler only records the signal, the writers stop at
 * their next entry (tmp_out_signal) and fail, the stand-in is removed on the way out,
 * and main dies of the signal (tmp_out_reraise), so ^C never leaves OUT.tmp-XXXXXX. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "ctx.h"

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
static volatile sig_atomic_t caught;    /* the first stop signal, 0 if none */
static volatile sig_atomic_t standins;  /* stand-ins that exist (or are being made) */

static void on_stop_signal(int sig)
{
	if (!caught)
		caught = sig;
	if (!standins) {        /* nothing to remove: die of it (once this handler returns) */
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

void tmp_out_signals(void)
{
	/* SA_RESTART: a write the signal lands in goes on; the writer stops between entries */
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++)
		sigaddset(&sa.sa_mask, stop_signals[i]);
	for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++) {
		struct sigaction old;

		/* a signal the caller ignores (nohup, a shell's background job) stays so */
		if (sigaction(stop_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(stop_signals[i], &sa, NULL);
	}
}

int tmp_out_signal(void)
{
	return caught;
}

void tmp_out_reraise(void)
{
	int sig = caught;

	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

int tmp_out_open(struct tmp_out *t, const char *out, bool dir, struct sfs_err *err)
{
	char *dcopy = strdup(out), *bcopy = strdup(out);
	struct stat st;
	int ret = -1;

	*t = (struct tmp_out){ .out = out, .fd = -1, .is_dir = dir, .counted = true };
	standins++;             /* before the stand-in exists: a signal now is recorded */
	if (dcopy == NULL || bcopy == NULL) {
		sfs_fail(err, ENOMEM, "%s", out);
		goto done;
	}
	if ((t->dir = realpath(dirname(dcopy), NULL)) == NULL) {
		sfs_fail(err, errno, "%s", out);
		goto done;
	}
	if (dir && lstat(out, &st) == 0) {
		sfs_fail(err, EEXIST, "%s", out);
		goto done;
	}
	if (asprintf(&t->path, "%s/%s.tmp-XXXXXX", t->dir, basename(bcopy)) < 0) {
		t->path = NULL;
		sfs_fail(err, ENOMEM, "%s", out);
		goto done;
	}
	if (dir ? mkdtemp(t->path) == NULL : (t->fd = mkostemp(t->path, O_CLOEXEC)) < 0) {
		sfs_fail(err, errno, "%s", out);
		free(t->path);
		t->path = NULL;
		goto done;
	}
	if (!dir) {             /* mkostemp makes it 0600; a new file gets 0666 & ~umask */
		mode_t um = umask(0);

		umask(um);
		fchmod(t->fd, 0666 & ~um);
	}
	ret = 0;
done:
	free(dcopy);
	free(bcopy);
	if (ret < 0)
		tmp_out_close(t);
	return ret;
}

int tmp_out_commit(struct tmp_out *t, struct sfs_err *err)
{
	if (t->fd >= 0 && fsync(t->fd) < 0)
		return sfs_fail(err, errno, "%s", t->out);
	if (rename(t->path, t->out) < 0)
		return sfs_fail(err, errno, "%s", t->out);
	free(t->path);
	t->path = NULL;         /* OUT now: nothing left to remove */
	return 0;
}

void tmp_out_close(struct tmp_out *t)
{
	if (t->path) {
		if (t->is_dir)
			sfs_rm_tree(t->path, NULL);
		else
			unlink(t->path);
	}
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t->dir);
	t->path = t->dir = NULL;
	t->fd = -1;
	if (t->counted) {
		t->counted = false;
		standins--;
	}
}
