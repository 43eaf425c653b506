/* session.c — one recorded run: CMD's process (spec.c), the slimfs mount, the runtime,
 * and the teardown that leaves a finished trace and nothing mounted.
 *
 * Order matters: everything that can be refused without side effects (CMD missing in
 * the image, runc missing, a service run with nothing to wait for) is checked before
 * the mount exists; once the daemon is started, daemon_stop runs on every path out.
 *
 * A service run (o->svc.on, service.c) gives the server /dev/null as stdin and a memfd
 * for its stdout and stderr (copied to our stderr, "server| " lines, once it stopped);
 * the steps' stdout is T's.  *STATUS is then the steps' status, and
 * *T->server_status the server's after the stop.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image/img.h"

/* The service's options made complete from the image: its ExposedPorts when nothing
 * else says when it is ready, its StopSignal. */
static int service_prepare(const struct run_opts *o, const struct run_target *t,
			   struct svc_opts *so, struct service *s, struct sfs_err *err)
{
	const struct img_config *cfg = t->config;

	*so = o->svc;
	s->o = so;
	s->out = t->stdout_fd;
	s->log = -1;
	if (!so->nports && !so->wait_cmd && cfg && cfg->exposed_ports)
		for (char **p = cfg->exposed_ports; *p && so->nports < SVC_MAX_PORTS; p++) {
			char *end;
			long port = strtol(*p, &end, 10);

			/* "80/tcp" or "80"; a udp port cannot be waited for with connect() */
			if (end != *p && port > 0 && port < 65536 &&
			    (!*end || strcmp(end, "/tcp") == 0))
				so->ports[so->nports++] = (int)port;
		}
	if (!so->nports && !so->wait_cmd)
		return sfs_fail(err, 0, "a service run needs --wait-port or --wait-cmd (%s)",
				cfg ? "the image exposes no TCP port" : "no image config gives ports");
	for (size_t i = 0; i < so->nsteps; i++)
		if (so->steps[i].kind == SVC_HTTP && !so->nports)
			return sfs_fail(err, 0, "--http-probe needs a port: --wait-port PORT");
	s->stop_signal = SIGTERM;
	if (cfg && cfg->stop_signal) {
		s->stop_signal = signal_parse(cfg->stop_signal);
		if (s->stop_signal < 0)
			return sfs_fail(err, 0, "the image's StopSignal %s: not a signal slimfs-run can send",
					cfg->stop_signal);
	}
	/* O_APPEND: the server's stdout and stderr both land here, from runc through
	 * two pipes and two copiers; a memfd's shared offset is not serialised between
	 * writers (it was seen to lose lines), an append is */
	s->log = memfd_create("server-log", MFD_CLOEXEC);
	if (s->log < 0 || fcntl(s->log, F_SETFL, O_APPEND) < 0)
		return sfs_fail(err, errno, "memfd");
	return 0;
}

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
	struct svc_opts so;
	struct service s = { .log = -1 };
	_cleanup_close_ int null = -1;
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
	c.stderr_fd = -1;
	if (o->svc.on) {
		if (service_prepare(o, t, &so, &s, err) < 0)
			goto out;
		null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0) {
			sfs_fail(err, errno, "/dev/null");
			goto out;
		}
		c.svc = &s;
		c.stop_signal = s.stop_signal == SIGKILL ? 0 : s.stop_signal;
		c.stdin_fd = null;
		c.stdout_fd = c.stderr_fd = s.log;
	}
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
	if (ret == 0 && o->svc.on) {
		log_dump(s.log, 0);     /* all of it */
		if (t->server_status)
			*t->server_status = s.server_status;
	}
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
	if (s.log >= 0)
		close(s.log);
	proc_free(&p);
	return ret;
}
