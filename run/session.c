/* session.c — one recorded run: CMD's process description, the slimfs mount, the
 * runtime, and the teardown that leaves a finished trace and nothing mounted.
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

struct env {
	char **v;
	size_t n;
};

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

/* Set "K=V" (KV), replacing an earlier K. */
static int env_set(struct env *e, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	char *copy = strdup(kv), **nv;

	if (!copy)
		return -1;
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], kv, klen) == 0 && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = copy;
			return 0;
		}
	nv = realloc(e->v, (e->n + 2) * sizeof *nv);
	if (!nv) {
		free(copy);
		return -1;
	}
	e->v = nv;
	e->v[e->n++] = copy;
	e->v[e->n] = NULL;
	return 0;
}

static const char *env_get(const struct env *e, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
			return e->v[i] + klen + 1;
	return NULL;
}

static int build_env(const struct run_opts *o, const char *home, struct env *e)
{
	_cleanup_free_ char *h = NULL, *term = NULL;
	const char *t = getenv("TERM");

	if (asprintf(&h, "HOME=%s", home) < 0 || env_set(e, "PATH=" RUN_DEFAULT_PATH) < 0 ||
	    env_set(e, h) < 0)
		return -1;
	if (t && (asprintf(&term, "TERM=%s", t) < 0 || env_set(e, term) < 0))
		return -1;
	for (char **kv = o->env; kv && *kv; kv++)
		if (env_set(e, *kv) < 0)
			return -1;
	return 0;
}

int run_session(const struct run_opts *o, const struct run_target *t, int *status,
		struct sfs_err *err)
{
	_cleanup_free_ char *home = NULL, *cmdline = NULL;
	struct env env = { 0 };
	struct container c = {
		.o = o,
		.argv = o->argv,
		.cwd = o->workdir ? o->workdir : "/",
		.uid = o->has_user ? o->uid : 0,
		.gid = o->has_user ? o->gid : 0,
		.stdin_fd = t->stdin_fd,
		.stdout_fd = t->stdout_fd,
	};
	struct daemon d = { .pid = -1 };
	struct sfs_err stop_err = { 0 };
	int ret = -1;

	*status = RUN_EXIT_ERROR;
	home = strdup(c.uid == 0 ? "/root" : "/");
	if (o->has_user)
		image_user(t->rootfs, o->uid, o->has_gid ? &(gid_t){ 0 } : &c.gid, &home);
	cmdline = sfs_join_argv(o->argv);
	if (!home || !cmdline || build_env(o, home, &env) < 0) {
		sfs_fail(err, ENOMEM, "environment");
		goto out;
	}
	c.envp = env.v;
	if (o->runtime == RUNTIME_RUNC && runc_check(err) < 0)
		goto out;
	if (image_find_cmd(t->rootfs, o->argv[0], env_get(&env, "PATH"), c.cwd, err) < 0) {
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
	if (o->runtime == RUNTIME_RUNC)
		ret = runc_run(&c, status, err);
	else
		ret = builtin_run(&c, status, err);
	if (ret == 0 && child_exited(d.pid)) {
		sfs_fail(err, 0, "the slimfs daemon died during the run (the trace holds what it "
			 "flushed before); %s was stopped", o->argv[0]);
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
	env_free(&env);
	return ret;
}
