/* session.c — one recorded run: CMD's process (spec.c), the slimfs mount, the runtime,
 * and the teardown that leaves a finished trace and nothing mounted.
 *
 * Order matters: everything that can be refused without side effects (CMD missing in
 * the image, runc missing) is checked before the mount exists; once the daemon is
 * started, daemon_stop runs on every path out.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"

int run_session(const struct run_opts *o, const struct run_target *t, int *status,
		struct sfs_err *err)
{
	_cleanup_free_ char *cmdline = NULL;
	struct proc p;
	struct container c = {
		.o = o,
		.stdin_fd = t->stdin_fd,
		.stdout_fd = t->stdout_fd,
	};
	struct daemon d = { .pid = -1 };
	struct sfs_err stop_err = { 0 };
	int ret = -1;

	if (proc_build(o, t->rootfs, t->config, &p, status, err) < 0)
		goto out;
	*status = RUN_EXIT_ERROR;
	c.argv = p.argv;
	c.envp = p.envp;
	c.cwd = p.cwd;
	c.uid = p.uid;
	c.gid = p.gid;
	c.groups = p.groups;
	c.ngroups = p.ngroups;
	cmdline = sfs_join_argv(p.argv);
	if (!cmdline) {
		sfs_fail(err, ENOMEM, "command line");
		goto out;
	}
	if (o->runtime == RUNTIME_RUNC && runc_check(err) < 0)
		goto out;
	if (image_find_cmd(t->rootfs, p.argv[0], proc_path(&p), c.cwd, err) < 0) {
		*status = RUN_EXIT_NOTFOUND;
		goto out;
	}
	if (run_pending_signal()) {   /* a ^C while the image was looked at */
		sfs_fail(err, 0, "interrupted by signal %d", run_pending_signal());
		goto out;
	}
	if (daemon_start(&d, t, cmdline, o, err) < 0)
		goto stop;
	c.root = d.mnt;
	c.daemon = d.pid;
	if (p.make_cwd && make_workdir(d.mnt, &p, err) < 0)
		goto stop;
	if (o->runtime == RUNTIME_RUNC)
		ret = runc_run(&c, status, err);
	else
		ret = builtin_run(&c, status, err);
	if (ret == 0 && child_exited(d.pid)) {
		sfs_fail(err, 0, "the slimfs daemon died during the run (the trace holds what it "
			 "flushed before); %s was stopped", p.argv[0]);
		*status = RUN_EXIT_ERROR;
		ret = -1;
	}
stop:
	if (daemon_stop(&d, &stop_err) < 0 && ret == 0) {
		*err = stop_err;
		*status = RUN_EXIT_ERROR;
		ret = -1;
	}
out:
	proc_free(&p);
	return ret;
}
