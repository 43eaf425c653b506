/* runc.c — the runc runtime: an OCI bundle whose root is the slimfs mount, handed to
 * `runc run`.
 *
 * The bundle (config.json, written with jansson) lives in a private temporary
 * directory and gives CMD what the built-in runtime gives it: the same process
 * (args, env, cwd, user), hostname, PID/IPC/UTS/mount namespaces (+ network for
 * --net none), /proc, a tmpfs /dev with devpts, shm and mqueue, read-only /sys, and the
 * capabilities the runner has.  runc forwards the signals it gets to CMD and exits with CMD's
 * status; `runc delete -f` runs on every way out.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

/* Capability names by number (linux/capability.h).  CMD gets those of them in the
 * runner's bounding set: root in the container keeps what the runner has, as in the
 * built-in runtime (asking for more makes runc fail). */
static const char *const capabilities[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

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

static json_t *our_capabilities(void)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < sizeof capabilities / sizeof capabilities[0]; i++)
		if (prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) == 1)
			json_array_append_new(a, json_string(capabilities[i]));
	return a;
}

static json_t *config(const struct container *c)
{
	json_t *caps = json_pack("{s:o, s:o, s:o, s:o}",
				 "bounding", our_capabilities(),
				 "effective", our_capabilities(),
				 "permitted", our_capabilities(),
				 "ambient", json_array());
	json_t *process = json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:o, s:b}",
				    "terminal", 0,
				    "user", "uid", (json_int_t)c->uid, "gid", (json_int_t)c->gid,
				    "args", strings(c->argv),
				    "env", strings(c->envp),
				    "cwd", c->cwd,
				    "capabilities", caps,
				    "noNewPrivileges", 0);
	json_t *mounts = json_array();
	json_t *ns = json_array();

	json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs",
						  "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(mounts, mount_entry("/dev/pts", "devpts", "devpts",
						  "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm",
						  "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts, mount_entry("/dev/mqueue", "mqueue", "mqueue",
						  "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
	if (c->o->net_none)
		json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
	return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:{s:o}}",
			 "ociVersion", "1.0.2",
			 "process", process,
			 "root", "path", c->root, "readonly", 0,
			 "hostname", c->o->hostname ? c->o->hostname : RUN_DEFAULT_HOSTNAME,
			 "mounts", mounts,
			 "linux", "namespaces", ns);
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
	if (write_bundle(c, dir, err) < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		sfs_fail(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		char *argv[] = { "runc", "run", "--bundle", dir, id, NULL };

		run_unblock_signals();
		if ((c->stdin_fd >= 0 && dup2(c->stdin_fd, 0) < 0) ||
		    (c->stdout_fd >= 0 && dup2(c->stdout_fd, 1) < 0))
			_exit(RUN_EXIT_ERROR);
		execvp(argv[0], argv);
		fprintf(stderr, "slimfs-run: runc: %s\n", strerror(errno));
		_exit(RUN_EXIT_ERROR);
	}
	*status = wait_forwarding(pid, c->daemon);
	ret = 0;
out:
	{
		char *del[] = { "runc", "delete", "-f", id, NULL };

		run_quiet(del);
	}
	sfs_rm_tree(dir, NULL);
	return ret;
}
