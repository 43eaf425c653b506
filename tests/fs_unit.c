/* fs_unit.c — unit tests of the daemon's inode table (fs/inode.c), in TAP.
 *
 * What is checked: one inode per (st_dev, st_ino), lookup counting as FUSE
 * prescribes, a child keeping its parent alive, fds closed exactly when an inode is
 * freed, re-keying after copy-up (found by both identities then), a new inode and
 * generation for a reused number, an inode's path, growth of the hash to many
 * inodes, and the fd cache: never more than its cap open, an evicted lower fd reopened
 * through the parent and checked against the file's identity, an upper fd reopened by
 * handle.  The image's hardlink index (fs/hardlinks.c).  And the ring's count of CPU
 * queues (fs/ring.c) from the kernel's possible-CPU list.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/hardlinks.h"
#include "fs/inode.h"
#include "fs/ring.h"
#include "tap.h"

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static struct inode_key key(ino_t ino, int fd)
{
	struct inode_key k = {
		.dev = 42, .ino = ino, .shown_ino = ino, .type = S_IFREG,
		.lower_fd = fd, .upper_fd = -1,
	};
	return k;
}

/* Enter file NAME of directory fd DIR (an inode of T under PARENT) as a lower file. */
static struct sfs_inode *enter_lower(struct inode_table *t, struct sfs_inode *parent, int dir,
				     const char *name)
{
	struct inode_key k = { .upper_fd = -1 };
	struct stat st;

	k.lower_fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (k.lower_fd < 0 || fstat(k.lower_fd, &st) < 0)
		return NULL;
	k.dev = k.lower_dev = st.st_dev;
	k.ino = k.lower_ino = st.st_ino;
	k.shown_ino = st.st_ino;
	k.type = st.st_mode & S_IFMT;
	return itable_lookup(t, &k, parent, name, 9);
}

static void fd_cache_tests(void)
{
	char lower[] = "/tmp/fs_unit.XXXXXX", upper[] = "/tmp/fs_unit_up.XXXXXX", name[32];
	struct sfs_inode *in[10], *sub;
	struct inode_table t;
	struct stat st, root_st;
	int lroot, uroot, sfd, fd, all = 1;

	if (!mkdtemp(lower) || !mkdtemp(upper)) {
		TAP_OK(0, "fd cache tests: mkdtemp: %s", strerror(errno));
		return;
	}
	lroot = open(lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	uroot = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fstat(lroot, &root_st);
	mkdirat(lroot, "sub", 0755);
	sfd = openat(lroot, "sub", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int k = 0; k < 10; k++) {
		snprintf(name, sizeof(name), "f%d", k);
		close(openat(sfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	}
	itable_init(&t, lroot, -1, &root_st, uroot, 4);
	sub = enter_lower(&t, &t.root, lroot, "sub");
	for (int k = 0; k < 10; k++) {
		snprintf(name, sizeof(name), "f%d", k);
		in[k] = enter_lower(&t, sub, sfd, name);
		all = all && in[k] && t.open_fds <= 4;
	}
	TAP_OK(all, "the cache never holds more fds than its cap");
	TAP_OK(in[0]->slot[SFS_LOWER].fd < 0 && sub->slot[SFS_LOWER].fd < 0,
	       "the least recently used fds were closed");
	fd = inode_get_fd(&t, in[0], SFS_LOWER);
	TAP_OK(fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == in[0]->lower_ino && t.reopens >= 2,
	       "an evicted lower fd is reopened through its (evicted) parent");
	inode_put_fd(&t, in[0], SFS_LOWER);

	/* A name that now leads to another file is refused, not followed. */
	close(openat(sfd, "g", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	renameat(sfd, "g", sfd, "f1");
	for (int k = 2; k < 10; k++) {   /* push f1 out of the cache */
		if (inode_get_fd(&t, in[k], SFS_LOWER) >= 0)
			inode_put_fd(&t, in[k], SFS_LOWER);
	}
	TAP_OK(in[1]->slot[SFS_LOWER].fd < 0 && inode_get_fd(&t, in[1], SFS_LOWER) == -ESTALE,
	       "a reopen that finds another file under the name fails with ESTALE");

	fd = openat(uroot, "u", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	close(fd);
	fd = openat(uroot, "u", O_PATH | O_CLOEXEC);
	fstat(fd, &st);
	itable_set_upper(&t, in[2], fd, &st, true);
	for (int k = 3; k < 10; k++) {   /* push u out of the cache */
		if (inode_get_fd(&t, in[k], SFS_LOWER) >= 0)
			inode_put_fd(&t, in[k], SFS_LOWER);
	}
	renameat(uroot, "u", uroot, "u2");
	fd = inode_get_fd(&t, in[2], SFS_UPPER);
	TAP_OK(t.upper_handles && (in[2]->upper_fh && fd >= 0 && fstat(fd, &root_st) == 0 &&
				   root_st.st_ino == st.st_ino),
	       "an evicted upper fd is reopened by handle, even after a rename");
	if (fd >= 0)
		inode_put_fd(&t, in[2], SFS_UPPER);
	for (int k = 0; k < 10; k++)
		itable_forget(&t, in[k], 1);
	itable_forget(&t, sub, 1);
	TAP_OK(t.count == 0 && t.open_fds == 0, "freeing every inode closes every cached fd");
	itable_destroy(&t);
	close(sfd);
	close(lroot);
	close(uroot);
	for (int k = 0; k < 10; k++) {
		snprintf(name, sizeof(name), "%s/sub/f%d", lower, k);
		unlink(name);
	}
	snprintf(name, sizeof(name), "%s/u2", upper);
	unlink(name);
	snprintf(name, sizeof(name), "%s/sub", lower);
	rmdir(name);
	rmdir(lower);
	rmdir(upper);
}

static void test_cpu_count(void)
{
	TAP_OK(ring_cpu_count("0-1\n") == 2, "CPU list 0-1: 2 queues");
	TAP_OK(ring_cpu_count("0\n") == 1, "CPU list 0: 1 queue");
	TAP_OK(ring_cpu_count("0-3,8-11\n") == 12, "CPU list 0-3,8-11: 12 queues (the highest + 1)");
	TAP_OK(ring_cpu_count("0,2\n") == 3, "CPU list 0,2: 3 queues");
	TAP_OK(ring_cpu_count("") == 0 && ring_cpu_count("x") == 0, "no list: 0");
}

static void test_hardlinks(void)
{
	char dir[] = "/tmp/fs_unit_hl.XXXXXX", cmd[256];
	const char *const *names;
	struct hl_index *h = hl_new();
	struct stat st;
	size_t n = 9;
	int root;

	if (!mkdtemp(dir) || !h) {
		TAP_OK(0, "hardlink tests: setup");
		return;
	}
	snprintf(cmd, sizeof(cmd), "cd %s && mkdir -p a/b c && echo x > a/x && ln a/x a/b/y && "
		 "ln a/x c/z && echo 1 > one", dir);
	root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (system(cmd) != 0 || root < 0 || fstatat(root, "a/x", &st, 0) < 0) {
		TAP_OK(0, "hardlink tests: setup");
		return;
	}
	TAP_OK(hl_names(h, root, st.st_dev, st.st_ino, &names, &n) == 0 && n == 3 &&
	       strcmp(names[0], "a/b/y") == 0 && strcmp(names[1], "a/x") == 0 &&
	       strcmp(names[2], "c/z") == 0, "the index holds every name of a hardlinked file");
	fstatat(root, "one", &st, 0);
	TAP_OK(hl_names(h, root, st.st_dev, st.st_ino, &names, &n) == 0 && n == 0,
	       "a file with one name is not in it");
	hl_free(h);
	close(root);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		TAP_OK(0, "hardlink tests: cleanup");
}

int main(void)
{
	struct inode_table t;
	struct stat root_st = { .st_dev = 42, .st_ino = 2 };
	struct sfs_inode *a, *a2, *dir, *child, *p;
	struct inode_key k;
	char *name;
	int fa, fa2, fdir, fchild;

	test_cpu_count();
	test_hardlinks();
	TAP_OK(itable_init(&t, -1, -1, &root_st, -1, 64) == 0, "table starts");

	fa = open("/dev/null", O_RDONLY);
	k = key(100, fa);
	a = itable_lookup(&t, &k, &t.root, "a", 5);
	fa2 = open("/dev/null", O_RDONLY);
	k = key(100, fa2);
	a2 = itable_lookup(&t, &k, &t.root, "b", 6);
	TAP_OK(a && a == a2 && a->nlookup == 2,
	       "two names of one file are one inode, counted twice");
	TAP_OK(!fd_open(fa2) && fd_open(fa), "the duplicate fd of a known inode is closed at once");
	TAP_OK(atomic_load(&a->node) == 6 && a->name && a->name[0] == 'b',
	       "the last name used wins");
	itable_forget(&t, a, 1);
	TAP_OK(fd_open(fa) && t.count == 1, "one forget of two lookups keeps the inode");
	itable_forget(&t, a, 1);
	TAP_OK(!fd_open(fa) && t.count == 0, "the last forget frees the inode and closes its fd");

	fdir = open("/dev/null", O_RDONLY);
	k = key(200, fdir);
	k.type = S_IFDIR;
	dir = itable_lookup(&t, &k, &t.root, "dir", 7);
	fchild = open("/dev/null", O_RDONLY);
	k = key(201, fchild);
	child = itable_lookup(&t, &k, dir, "child", 8);
	itable_forget(&t, dir, 1);
	TAP_OK(fd_open(fdir) && t.count == 2, "a child keeps its forgotten parent alive");
	p = itable_parent(&t, child, &name);
	TAP_OK(p == dir && name && name[0] == 'c', "the parent and name of an inode are known");
	free(name);
	itable_unref(&t, p);

	{
		struct stat ust = { .st_dev = 43, .st_ino = 900 };

		child->lower_dev = 42;
		child->lower_ino = 201;
		itable_set_upper(&t, child, open("/dev/null", O_RDONLY), &ust, true);
	}
	p = itable_find(&t, 43, 900);
	TAP_OK(p == child, "after copy-up the upper identity finds it");
	itable_unref(&t, p);
	p = itable_find(&t, 42, 201);
	TAP_OK(p == child, "and so does the image identity (a name not linked yet)");
	itable_unref(&t, p);
	name = itable_path(&t, child);
	TAP_OK(name && strcmp(name, "dir/child") == 0, "an inode's path is its names from the root");
	free(name);
	k = key(500, open("/dev/null", O_RDONLY));
	a = itable_lookup(&t, &k, &t.root, "gen", 10);
	{
		struct stat gone = { .st_dev = 42, .st_ino = 500 };

		itable_gone(&t, &gone, -1);
	}
	k = key(500, open("/dev/null", O_RDONLY));
	a2 = itable_lookup(&t, &k, &t.root, "gen", 11);
	TAP_OK(a && a2 && a != a2 && a->generation != a2->generation && a2->generation > 0,
	       "a file whose number was reused is a new inode with a new generation");
	itable_forget(&t, a, 1);
	itable_forget(&t, a2, 1);

	itable_forget(&t, child, 1);
	TAP_OK(!fd_open(fchild) && !fd_open(fdir) && t.count == 0,
	       "forgetting the child frees it and then its parent");

	for (ino_t i = 1000; i < 21000; i++) {
		k = key(i, -1);
		if (!itable_lookup(&t, &k, &t.root, "n", 9))
			break;
	}
	TAP_OK(t.count == 20000 && t.nbuckets >= 16384, "the hash grows to 20000 inodes");
	p = itable_find(&t, 42, 12345);
	TAP_OK(p && p->ino == 12345, "every inode is found after growth");
	itable_unref(&t, p);
	for (ino_t i = 1000; i < 21000; i++) {
		p = itable_find(&t, 42, i);
		itable_unref(&t, p);
		itable_forget(&t, p, 1);
	}
	TAP_OK(t.count == 0, "all of them are freed by their forgets");
	itable_destroy(&t);
	fd_cache_tests();
	return tap_done();
}
