/* runc.c — the runc runtime: an OCI bundle whose root is the slimfs mount, handed to
 * `runc run`.
 *
 * The bundle (config.json, written with jansson) lives in a private temporary
 * directory and gives CMD what the built-in runtime gives it: the same process
 * (args, env, cwd, user), hostname, PID/IPC/UTS/mount namespaces (+ network for
 * --net none), /proc, a tmpfs /dev with devpts, shm and mqueue, read-only /sys, and the
 * confinement of policy.h: capabilities, seccomp (seccomp.c), masked and read-only
 * paths, and a device cgroup that denies every device but the ones runc makes.
 *
 * runc runs under a reaper: pid 1 of a PID namespace of its own, made with
 * clone_guarded, so when the runner dies (even by SIGKILL) the kernel kills the reaper
 * and with it everything in its namespace: runc and the container, whose PID
 * namespace is nested in it.  The reaper has its own /proc (runc reads pids there)
 * and keeps runc's state (--root) in the bundle.  It forwards the signals it gets to
 * runc, which forwards them to CMD and exits with CMD's status; `runc delete -f` runs
 * on every way out.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

int runc_check(struct sfs_err *err)
{
	_cleanup_free_ char *path = NULL;

	if (find_in_path("runc", &path) < 0)
		return sfs_fail(err, 0, "runc: not installed (no runc on PATH)");
	return 0;
}

static json_t *strings(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *src,
			   const char *opts)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type,
			      "source", src);
	json_t *o = json_array();
	_cleanup_free_ char *copy = strdup(opts);
	char *save = NULL;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(o, json_string(t));
	json_object_set_new(m, "options", o);
	return m;
}

static json_t *cap_names(uint64_t caps)
{
	json_t *a = json_array();

	for (int i = 0; a && i < POLICY_NCAPS; i++)
		if (caps & POLICY_CAP(i))
			json_array_append_new(a, json_string(policy_cap_names[i]));
	return a;
}

static json_t *config(const struct container *c)
{
	const struct policy *p = &c->o->policy;
	/* a user other than root starts without capabilities, as in podman */
	uint64_t held = c->uid == 0 ? p->caps : 0;
	json_t *caps = json_pack("{s:o, s:o, s:o, s:o}",
				 "bounding", cap_names(p->caps),
				 "effective", cap_names(held),
				 "permitted", cap_names(held),
				 "ambient", json_array());
	json_t *groups = json_array();
	json_t *process;

	for (size_t i = 0; groups && i < c->ngroups; i++)
		json_array_append_new(groups, json_integer(c->groups[i]));
	process = json_pack("{s:b, s:{s:I, s:I, s:o}, s:o, s:o, s:s, s:o, s:b}",
				    "terminal", 0,
				    "user", "uid", (json_int_t)c->uid, "gid", (json_int_t)c->gid,
				    "additionalGids", groups,
				    "args", strings(c->argv),
				    "env", strings(c->envp),
				    "cwd", c->cwd,
				    "capabilities", caps,
				    "noNewPrivileges", 0);
	json_t *mounts = json_array();
	json_t *ns = json_array();
	json_t *os;

	json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	/* not nodev: runc makes the device nodes here; the device cgroup guards them */
	json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs",
						  "nosuid,noexec,strictatime,mode=755,size=65536k"));
	json_array_append_new(mounts, mount_entry("/dev/pts", "devpts", "devpts",
						  "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm",
						  "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts, mount_entry("/dev/mqueue", "mqueue", "mqueue",
						  "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs",
						  p->privileged ? "nosuid,noexec,nodev"
								: "nosuid,noexec,nodev,ro"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
	if (c->o->net_none)
		json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
	/* by default every device is denied, but the ones runc makes (null, zero, ...);
	 * --privileged allows them all, as podman does */
	os = json_pack("{s:o, s:{s:[{s:b, s:s}]}}", "namespaces", ns,
		       "resources", "devices", "allow", p->privileged, "access", "rwm");
	if (os && !p->privileged) {
		json_object_set_new(os, "maskedPaths", strings((char *const *)policy_masked_paths));
		json_object_set_new(os, "readonlyPaths",
				    strings((char *const *)policy_readonly_paths));
		json_object_set_new(os, "seccomp", seccomp_oci(p));
	}
	return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}",
			 "ociVersion", "1.0.2",
			 "process", process,
			 "root", "path", c->root, "readonly", 0,
			 "hostname", c->o->hostname ? c->o->hostname : RUN_DEFAULT_HOSTNAME,
			 "mounts", mounts,
			 "linux", os);
}

static int write_bundle(const struct container *c, const char *dir, struct sfs_err *err)
{
	_cleanup_free_ char *file = NULL;
	json_t *cfg = config(c);
	int r;

	if (!cfg)
		return sfs_fail(err, ENOMEM, "OCI config");
	if (asprintf(&file, "%s/config.json", dir) < 0) {
		json_decref(cfg);
		return sfs_fail(err, ENOMEM, "OCI config");
	}
	r = json_dump_file(cfg, file, JSON_INDENT(2));
	json_decref(cfg);
	if (r < 0)
		return sfs_fail(err, errno, "%s", file);
	return 0;
}

/* "slimfs-<pid>" of a process that no longer exists. */
static bool stale_name(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "slimfs-", 7) != 0)
		return false;
	errno = 0;
	pid = strtol(name + 7, &end, 10);
	return !errno && end != name + 7 && !*end && pid > 0 && kill((pid_t)pid, 0) < 0 &&
	       errno == ESRCH;
}

/* rmdir the stale slimfs-<pid> cgroups in DIR (cgroup v2) or in each of its
 * hierarchies (v1).  rmdir only ever removes an empty cgroup. */
static void sweep_cgroups(const char *dir, int depth)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[512];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stale_name(e->d_name))
			rmdir(path);
		else if (depth > 0)
			sweep_cgroups(path, depth - 1);
	}
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* The reaper: pid 1 of its own PID and mount namespaces.  Runs runc, returns its
 * status once `runc delete -f` has run too. */
static int reaper(const struct container *c, const char *dir, const char *id)
{
	_cleanup_free_ char *state = NULL;
	int status;
	pid_t pid;

	if (asprintf(&state, "%s/state", dir) < 0)
		return RUN_EXIT_ERROR;
	/* runc reads /proc/PID of the processes it makes: a /proc of this namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		fprintf(stderr, "slimfs-run: cannot mount /proc for runc: %s\n", strerror(errno));
		return RUN_EXIT_ERROR;
	}
	/* pid 1 only receives signals it has a handler for (taken with sigwaitinfo) */
	forwarded_handle(noop_handler);
	forwarded_extra(c->stop_signal, noop_handler);
	pid = fork();
	if (pid < 0)
		return RUN_EXIT_ERROR;
	if (pid == 0) {
		char *argv[] = { "runc", "--root", state, "run", "--bundle", (char *)dir,
				 (char *)id, NULL };

		if (container_stdio(c) < 0)
			_exit(RUN_EXIT_ERROR);
		execvp(argv[0], argv);
		fprintf(stderr, "slimfs-run: runc: %s\n", strerror(errno));
		_exit(RUN_EXIT_ERROR);
	}
	status = reap_forwarding(pid, c->stop_signal);
	{
		char *del[] = { "runc", "--root", state, "delete", "-f", (char *)id, NULL };

		run_quiet(del);
	}
	return status;
}

int runc_run(const struct container *c, int *status, struct sfs_err *err)
{
	_cleanup_free_ char *dir = strdup(RUN_STATE_DIR "/bundle-XXXXXX");
	char id[64];
	pid_t pid;
	int ret = -1;

	if (!dir)
		return sfs_fail(err, ENOMEM, "bundle");
	if (mkdir(RUN_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return sfs_fail(err, errno, "%s", RUN_STATE_DIR);
	if (!mkdtemp(dir))
		return sfs_fail(err, errno, "cannot make a bundle in %s", RUN_STATE_DIR);
	snprintf(id, sizeof id, "slimfs-%d", (int)getpid());
	sweep_cgroups("/sys/fs/cgroup", 1);
	if (write_bundle(c, dir, err) < 0)
		goto out;
	pid = clone_guarded(CLONE_NEWPID | CLONE_NEWNS);
	if (pid < 0) {
		sfs_fail(err, errno, "cannot make runc's namespaces");
		goto out;
	}
	if (pid == 0)
		_exit(reaper(c, dir, id));
	if (c->svc)
		ret = service_drive(c, pid, true, status, err);
	else {
		*status = wait_forwarding(pid, c->daemon);
		ret = 0;
	}
out:
	sfs_rm_tree(dir, NULL);
	return ret;
}
