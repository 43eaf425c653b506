/* spec.c — the process a container runs, from the options and (for an image) its
 * config, made as `podman run` makes it (checked against podman 4.3):
 *
 *   argv   the image's Entrypoint + Cmd; `-- ARGS` replace Cmd; --entrypoint replaces
 *          the Entrypoint and drops Cmd (--entrypoint '' leaves only ARGS); nothing
 *          at all is an error (125, as podman's).
 *   env    the image's Env; PATH when it lacks one; HOME (the user's passwd entry;
 *          without one the working directory for an image, "/" otherwise, "/root" for
 *          root); TERM from slimfs-run's environment; then --env.
 *   cwd    --workdir, else the image's WorkingDir, else "/".  A --workdir missing in
 *          the image is an error (126, as podman's); a missing WorkingDir of the image
 *          is made when the container starts, owned by the user (make_workdir).
 *   user   --user, else the image's User, else root, resolved by user.c.
 *
 * Everything is looked up in the image directory, never through the mount, so the
 * lookups leave no trace.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"
#include "image/img.h"

static size_t count(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* A copy of A followed by B. */
static char **concat(char *const *a, char *const *b)
{
	size_t na = count(a), nb = count(b);
	char **v = calloc(na + nb + 1, sizeof *v);

	for (size_t i = 0; v && i < na + nb; i++) {
		v[i] = strdup(i < na ? a[i] : b[i - na]);
		if (!v[i]) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

/* ---- the environment ---- */

struct env {
	char **v;
	size_t n;
};

/* Set "K=V" (KV), replacing an earlier K unless KEEP. */
static int env_set(struct env *e, const char *kv, bool keep)
{
	size_t klen = strcspn(kv, "=");
	char *copy, **nv;

	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], kv, klen) == 0 && e->v[i][klen] == '=') {
			if (keep)
				return 0;
			copy = strdup(kv);
			if (!copy)
				return -1;
			free(e->v[i]);
			e->v[i] = copy;
			return 0;
		}
	copy = strdup(kv);
	nv = copy ? realloc(e->v, (e->n + 2) * sizeof *nv) : NULL;
	if (!nv) {
		free(copy);
		return -1;
	}
	e->v = nv;
	e->v[e->n++] = copy;
	e->v[e->n] = NULL;
	return 0;
}

static const char *env_get(char *const *v, const char *key)
{
	size_t klen = strlen(key);

	for (; v && *v; v++)
		if (strncmp(*v, key, klen) == 0 && (*v)[klen] == '=')
			return *v + klen + 1;
	return NULL;
}

static int build_env(const struct run_opts *o, const struct img_config *cfg, const char *home,
		     struct env *e)
{
	_cleanup_free_ char *h = NULL, *term = NULL;
	const char *t = getenv("TERM");

	for (char **kv = cfg ? cfg->env : NULL; kv && *kv; kv++)
		if (env_set(e, *kv, false) < 0)
			return -1;
	if (asprintf(&h, "HOME=%s", home) < 0 || env_set(e, "PATH=" RUN_DEFAULT_PATH, true) < 0 ||
	    env_set(e, h, true) < 0)
		return -1;
	if (t && (asprintf(&term, "TERM=%s", t) < 0 || env_set(e, term, true) < 0))
		return -1;
	for (char **kv = o->env; kv && *kv; kv++)
		if (env_set(e, *kv, false) < 0)
			return -1;
	if (!e->v && !(e->v = calloc(1, sizeof *e->v)))
		return -1;
	return 0;
}

/* ---- the process ---- */

static bool dir_in_image(const char *rootfs, const char *path)
{
	_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = rootfd < 0 ? -1 : open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0);

	return fd >= 0;
}

int proc_build(const struct run_opts *o, const char *rootfs, const struct img_config *cfg,
	       struct proc *p, int *status, struct sfs_err *err)
{
	char *const *ep = o->entrypoint ? o->entrypoint : cfg ? cfg->entrypoint : NULL;
	char *const *cmd = o->argv ? o->argv : o->entrypoint ? NULL : cfg ? cfg->cmd : NULL;
	const char *wd = o->workdir ? o->workdir : cfg && cfg->working_dir ? cfg->working_dir : "/";
	struct user u;
	struct env env = { 0 };
	const char *home;

	memset(p, 0, sizeof *p);
	*status = RUN_EXIT_ERROR;
	p->argv = concat(ep, cmd);
	if (!p->argv)
		return sfs_fail(err, ENOMEM, "command line");
	if (!p->argv[0])
		return sfs_fail(err, 0, "no command: %s; give one after --",
				cfg ? "the image has neither Entrypoint nor Cmd"
				    : "a directory or tarball has no Entrypoint or Cmd");
	if (asprintf(&p->cwd, "%s%s", wd[0] == '/' ? "" : "/", wd) < 0)
		return sfs_fail(err, ENOMEM, "workdir");
	if (!dir_in_image(rootfs, p->cwd)) {
		if (o->workdir || !cfg) {
			*status = RUN_EXIT_NOEXEC;
			return sfs_fail(err, 0, "workdir %s does not exist in the image", p->cwd);
		}
		p->make_cwd = true;
	}
	if (image_resolve_user(rootfs, o->user ? o->user : cfg && cfg->user ? cfg->user : "0",
			       &u, status, err) < 0) {
		user_free(&u);
		return -1;
	}
	p->uid = u.uid;
	p->gid = u.gid;
	p->groups = steal_pointer(&u.groups);
	p->ngroups = u.ngroups;
	home = u.home ? u.home : p->uid == 0 ? "/root" : cfg ? p->cwd : "/";
	if (build_env(o, cfg, home, &env) < 0) {
		user_free(&u);
		for (size_t i = 0; i < env.n; i++)
			free(env.v[i]);
		free(env.v);
		return sfs_fail(err, ENOMEM, "environment");
	}
	user_free(&u);
	p->envp = env.v;
	*status = 0;
	return 0;
}

const char *proc_path(const struct proc *p)
{
	return env_get(p->envp, "PATH");
}

void proc_free(struct proc *p)
{
	strv_free(p->argv);
	strv_free(p->envp);
	free(p->cwd);
	free(p->groups);
	memset(p, 0, sizeof *p);
}

/* Make P's missing working directory through the mount at ROOT: the directories on the
 * way root's (0755), the last one the user's, as podman makes it. */
int make_workdir(const char *root, const struct proc *p, struct sfs_err *err)
{
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char done[4096] = "/", name[256];
	const char *s = p->cwd;

	if (rootfd < 0)
		return sfs_fail(err, errno, "%s", root);
	for (;;) {
		_cleanup_close_ int parent = -1;
		size_t len;
		bool last;

		s += strspn(s, "/");
		len = strcspn(s, "/");
		if (len == 0)
			return 0;
		if (len >= sizeof name || strlen(done) + len + 2 > sizeof done)
			return sfs_fail(err, ENAMETOOLONG, "workdir %s", p->cwd);
		memcpy(name, s, len);
		name[len] = '\0';
		s += len;
		last = !s[strspn(s, "/")];
		parent = open_in_root(rootfd, done, O_PATH | O_DIRECTORY, 0);
		if (parent < 0)
			return sfs_fail(err, errno, "workdir %s", p->cwd);
		if (mkdirat(parent, name, 0755) == 0) {
			if (fchmodat(parent, name, 0755, 0) < 0 ||
			    (last && fchownat(parent, name, p->uid, p->gid, AT_SYMLINK_NOFOLLOW) < 0))
				return sfs_fail(err, errno, "workdir %s", p->cwd);
		} else if (errno != EEXIST) {
			return sfs_fail(err, errno, "workdir %s", p->cwd);
		}
		snprintf(done + strlen(done), sizeof done - strlen(done), "%s%s",
			 strcmp(done, "/") ? "/" : "", name);
	}
}
