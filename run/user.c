/* user.c — a user as `podman run --user` and an image's User name it (NAME, UID,
 * NAME:GROUP, UID:GID, any mix), resolved through the image's own /etc/passwd and
 * /etc/group, opened with openat2(RESOLVE_IN_ROOT) so that the image's symlinks stay
 * inside it; never through the mount (the lookup leaves no trace) and never the host's.
 *
 * As podman (and runc's user lookup) resolve it:
 *   - a name must be in passwd, a number need not be;
 *   - without a group: the passwd entry's group (0 when there is none), and as
 *     supplementary groups every group of /etc/group that lists the user's name;
 *   - with a group (a name from /etc/group, or a number): that group alone;
 *   - HOME: the passwd entry's directory, when there is one.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/util.h"

#define ENT_BUF 16384

/* "1000" as an id; false for a name (or a number out of range). */
static bool parse_id(const char *s, size_t len, unsigned long *id)
{
	char buf[32], *end;

	if (len == 0 || len >= sizeof buf || strspn(s, "0123456789") < len)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*id = strtoul(buf, &end, 10);
	return !errno && *id <= 0xfffffffeUL;
}

static FILE *open_etc(int rootfd, const char *file)
{
	int fd = open_in_root(rootfd, file, O_RDONLY, 0);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

/* The passwd entry of NAME (or, NAME NULL, of UID): 1 found (*GID, *HOME, *PWNAME set),
 * 0 not. */
static int find_passwd(int rootfd, const char *name, uid_t *uid, gid_t *gid, char **home,
		       char **pwname)
{
	_cleanup_fclose_ FILE *f = open_etc(rootfd, "/etc/passwd");
	_cleanup_free_ char *buf = malloc(ENT_BUF);
	struct passwd pw, *res;

	if (!f || !buf)
		return 0;
	while (fgetpwent_r(f, &pw, buf, ENT_BUF, &res) == 0) {
		if (name ? strcmp(pw.pw_name, name) != 0 : pw.pw_uid != *uid)
			continue;
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
		*home = strdup(pw.pw_dir);
		*pwname = strdup(pw.pw_name);
		return 1;
	}
	return 0;
}

static int add_group(struct user *u, gid_t g)
{
	gid_t *n;

	for (size_t i = 0; i < u->ngroups; i++)
		if (u->groups[i] == g)
			return 0;
	n = realloc(u->groups, (u->ngroups + 1) * sizeof *n);
	if (!n)
		return -1;
	u->groups = n;
	u->groups[u->ngroups++] = g;
	return 0;
}

/* The group NAME's id (0 when NAME is NULL: only the members' scan is wanted), and
 * every group listing MEMBER (may be NULL) added to U's supplementary groups. */
static int scan_groups(int rootfd, const char *name, gid_t *gid, const char *member,
		       struct user *u)
{
	_cleanup_fclose_ FILE *f = open_etc(rootfd, "/etc/group");
	_cleanup_free_ char *buf = malloc(ENT_BUF);
	struct group gr, *res;
	int found = 0;

	if (!f || !buf)
		return 0;
	while (fgetgrent_r(f, &gr, buf, ENT_BUF, &res) == 0) {
		if (name && !found && strcmp(gr.gr_name, name) == 0) {
			*gid = gr.gr_gid;
			found = 1;
		}
		for (char **m = gr.gr_mem; member && m && *m; m++)
			if (strcmp(*m, member) == 0 && add_group(u, gr.gr_gid) < 0)
				return -1;
	}
	return found;
}

int image_resolve_user(const char *rootfs, const char *spec, struct user *u, int *status,
		       struct sfs_err *err)
{
	_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *uname = NULL, *pwname = NULL;
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	unsigned long id;
	bool found;

	memset(u, 0, sizeof *u);
	*status = RUN_EXIT_ERROR;
	if (rootfd < 0)
		return sfs_fail(err, errno, "%s", rootfs);
	if (ulen == 0 || (colon && !colon[1]))
		return sfs_fail(err, 0, "--user %s: expected NAME or UID, then :GROUP or :GID", spec);
	if (parse_id(spec, ulen, &id)) {
		u->uid = (uid_t)id;
		found = find_passwd(rootfd, NULL, &u->uid, &u->gid, &u->home, &pwname) == 1;
	} else {
		uname = strndup(spec, ulen);
		if (!uname)
			return sfs_fail(err, ENOMEM, "--user");
		found = find_passwd(rootfd, uname, &u->uid, &u->gid, &u->home, &pwname) == 1;
		if (!found) {
			*status = RUN_EXIT_NOEXEC;
			return sfs_fail(err, 0, "unable to find user %s: no matching entries in the "
					"image's /etc/passwd", uname);
		}
	}
	if (colon) {
		const char *g = colon + 1;

		if (parse_id(g, strlen(g), &id)) {
			u->gid = (gid_t)id;
		} else if (scan_groups(rootfd, g, &u->gid, NULL, u) != 1) {
			*status = RUN_EXIT_NOEXEC;
			return sfs_fail(err, 0, "unable to find group %s: no matching entries in the "
					"image's /etc/group", g);
		}
		if (add_group(u, u->gid) < 0)
			return sfs_fail(err, ENOMEM, "--user");
		return 0;
	}
	if (!found)
		u->gid = 0;
	if (add_group(u, u->gid) < 0 || (found && scan_groups(rootfd, NULL, NULL, pwname, u) < 0))
		return sfs_fail(err, ENOMEM, "--user");
	return 0;
}

void user_free(struct user *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof *u);
}
