/* fs_unit.c — unit tests of the daemon's inode table (fs/inode.c), in TAP.
 *
 * What is checked: one inode per (st_dev, st_ino), lookup counting as FUSE
 * prescribes, a child keeping its parent alive, fds closed exactly when an inode is
 * freed, re-keying after copy-up, and growth of the hash to many inodes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/inode.h"

static int ntest;
static int failed;

static void ok(int cond, const char *what)
{
	ntest++;
	if (!cond)
		failed = 1;
	printf("%sok %d - %s\n", cond ? "" : "not ", ntest, what);
}

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

int main(void)
{
	struct inode_table t;
	struct stat root_st = { .st_dev = 42, .st_ino = 2 };
	struct sfs_inode *a, *a2, *dir, *child, *p;
	struct inode_key k;
	char *name;
	int fa, fa2, fdir, fchild;

	printf("1..14\n");
	ok(itable_init(&t, -1, -1, &root_st) == 0, "table starts");

	fa = open("/dev/null", O_RDONLY);
	k = key(100, fa);
	a = itable_lookup(&t, &k, &t.root, "a", 5);
	fa2 = open("/dev/null", O_RDONLY);
	k = key(100, fa2);
	a2 = itable_lookup(&t, &k, &t.root, "b", 6);
	ok(a && a == a2 && a->nlookup == 2, "two names of one file are one inode, counted twice");
	ok(!fd_open(fa2) && fd_open(fa), "the duplicate fd of a known inode is closed at once");
	ok(atomic_load(&a->node) == 6 && a->name && a->name[0] == 'b', "the last name used wins");
	itable_forget(&t, a, 1);
	ok(fd_open(fa) && t.count == 1, "one forget of two lookups keeps the inode");
	itable_forget(&t, a, 1);
	ok(!fd_open(fa) && t.count == 0, "the last forget frees the inode and closes its fd");

	fdir = open("/dev/null", O_RDONLY);
	k = key(200, fdir);
	k.type = S_IFDIR;
	dir = itable_lookup(&t, &k, &t.root, "dir", 7);
	fchild = open("/dev/null", O_RDONLY);
	k = key(201, fchild);
	child = itable_lookup(&t, &k, dir, "child", 8);
	itable_forget(&t, dir, 1);
	ok(fd_open(fdir) && t.count == 2, "a child keeps its forgotten parent alive");
	p = itable_parent(&t, child, &name);
	ok(p == dir && name && name[0] == 'c', "the parent and name of an inode are known");
	free(name);
	itable_unref(&t, p);

	itable_rekey(&t, child, 43, 900);
	ok(itable_find(&t, 42, 201) == NULL, "after copy-up the image identity no longer finds it");
	p = itable_find(&t, 43, 900);
	ok(p == child, "the upper identity finds it");
	itable_unref(&t, p);

	itable_forget(&t, child, 1);
	ok(!fd_open(fchild) && !fd_open(fdir) && t.count == 0,
	   "forgetting the child frees it and then its parent");

	for (ino_t i = 1000; i < 21000; i++) {
		k = key(i, -1);
		if (!itable_lookup(&t, &k, &t.root, "n", 9))
			break;
	}
	ok(t.count == 20000 && t.nbuckets >= 16384, "the hash grows to 20000 inodes");
	p = itable_find(&t, 42, 12345);
	ok(p && p->ino == 12345, "every inode is found after growth");
	itable_unref(&t, p);
	for (ino_t i = 1000; i < 21000; i++) {
		p = itable_find(&t, 42, i);
		itable_unref(&t, p);
		itable_forget(&t, p, 1);
	}
	ok(t.count == 0, "all of them are freed by their forgets");
	itable_destroy(&t);
	return failed;
}
