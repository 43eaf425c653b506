/* inode.c — the inode table (see inode.h for the invariants).
 *
 * A chained hash on (st_dev, st_ino) that doubles when it holds more inodes than
 * buckets.  Every field that links inodes together (hash chain, parent, name) and
 * every count is changed under the one table lock; the lock is held only for memory
 * work, except that freeing an inode closes its fds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inode.h"

static size_t hash_key(dev_t dev, ino_t ino, size_t n)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
	return (size_t)(h ^ (h >> 29)) & (n - 1);
}

int itable_init(struct inode_table *t, int lower_root, int upper_root,
		const struct stat *lower_st)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -1;
	t->root.dev = lower_st->st_dev;
	t->root.ino = lower_st->st_ino;
	t->root.shown_ino = lower_st->st_ino;
	t->root.type = S_IFDIR;
	t->root.lower_fd = lower_root;
	atomic_init(&t->root.upper_fd, upper_root);
	atomic_init(&t->root.node, 1);
	t->root.nlookup = 1;    /* never reaches zero: the kernel never forgets the root */
	return 0;
}

static void unlink_hash(struct inode_table *t, struct sfs_inode *i)
{
	struct sfs_inode **pp = &t->buckets[hash_key(i->dev, i->ino, t->nbuckets)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == i) {
			*pp = i->hnext;
			i->hnext = NULL;
			return;
		}
	}
}

static void link_hash(struct inode_table *t, struct sfs_inode *i)
{
	size_t h = hash_key(i->dev, i->ino, t->nbuckets);

	i->hnext = t->buckets[h];
	t->buckets[h] = i;
}

static void grow(struct inode_table *t)
{
	size_t n = t->nbuckets * 2;
	struct sfs_inode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;         /* longer chains, still correct */
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct sfs_inode *i = t->buckets[b], *next;

		for (; i; i = next) {
			size_t h = hash_key(i->dev, i->ino, n);

			next = i->hnext;
			i->hnext = nb[h];
			nb[h] = i;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

/* Free I and, as their last child goes, the parents it kept alive.  Lock held. */
static void put_locked(struct inode_table *t, struct sfs_inode *i)
{
	while (i && i != &t->root && i->nlookup == 0 && i->refs == 0) {
		struct sfs_inode *parent = i->parent;
		int u = atomic_load(&i->upper_fd);

		unlink_hash(t, i);
		t->count--;
		if (i->lower_fd >= 0)
			close(i->lower_fd);
		if (u >= 0)
			close(u);
		free(i->name);
		free(i);
		if (parent && parent != &t->root)
			parent->refs--;
		i = parent;
	}
}

static struct sfs_inode *find_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct sfs_inode *i = t->buckets[hash_key(dev, ino, t->nbuckets)];

	for (; i; i = i->hnext)
		if (i->ino == ino && i->dev == dev)
			return i;
	if (t->root.dev == dev && t->root.ino == ino)
		return &t->root;
	return NULL;
}

/* Make PARENT/NAME the last name of I.  Lock held.  Returns -1 on out-of-memory. */
static int set_name_locked(struct inode_table *t, struct sfs_inode *i,
			   struct sfs_inode *parent, const char *name)
{
	struct sfs_inode *old = i->parent;

	if (i == &t->root)
		return 0;
	if (old != parent || !i->name || strcmp(i->name, name) != 0) {
		char *n = strdup(name);

		if (!n)
			return -1;
		free(i->name);
		i->name = n;
	}
	if (old != parent) {
		if (parent != &t->root)
			parent->refs++;
		i->parent = parent;
		if (old && old != &t->root) {
			old->refs--;
			put_locked(t, old);
		}
	}
	return 0;
}

struct sfs_inode *itable_lookup(struct inode_table *t, struct inode_key *k,
				struct sfs_inode *parent, const char *name, uint32_t node)
{
	struct sfs_inode *i;

	pthread_mutex_lock(&t->lock);
	i = find_locked(t, k->dev, k->ino);
	if (i) {
		/* Known already: the new fds are duplicates of what the inode holds. */
		if (k->lower_fd >= 0)
			close(k->lower_fd);
		if (k->upper_fd >= 0)
			close(k->upper_fd);
	} else {
		i = calloc(1, sizeof(*i));
		if (!i) {
			pthread_mutex_unlock(&t->lock);
			if (k->lower_fd >= 0)
				close(k->lower_fd);
			if (k->upper_fd >= 0)
				close(k->upper_fd);
			return NULL;
		}
		i->dev = k->dev;
		i->ino = k->ino;
		i->shown_ino = k->shown_ino;
		i->type = k->type;
		i->lower_fd = k->lower_fd;
		atomic_init(&i->upper_fd, k->upper_fd);
		link_hash(t, i);
		if (++t->count > t->nbuckets)
			grow(t);
	}
	k->lower_fd = k->upper_fd = -1;
	i->nlookup++;
	if (set_name_locked(t, i, parent, name) < 0 && !i->name) {
		/* A fresh inode without a name cannot be copied up; refuse it. */
		i->nlookup--;
		put_locked(t, i);
		pthread_mutex_unlock(&t->lock);
		return NULL;
	}
	atomic_store(&i->node, node);
	pthread_mutex_unlock(&t->lock);
	return i;
}

void itable_ref_lookup(struct inode_table *t, struct sfs_inode *i)
{
	pthread_mutex_lock(&t->lock);
	i->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void itable_forget(struct inode_table *t, struct sfs_inode *i, uint64_t n)
{
	if (i == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	i->nlookup = n > i->nlookup ? 0 : i->nlookup - n;
	put_locked(t, i);
	pthread_mutex_unlock(&t->lock);
}

struct sfs_inode *itable_find(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct sfs_inode *i;

	pthread_mutex_lock(&t->lock);
	i = find_locked(t, dev, ino);
	if (i && i != &t->root)
		i->refs++;
	pthread_mutex_unlock(&t->lock);
	return i;
}

void itable_unref(struct inode_table *t, struct sfs_inode *i)
{
	if (!i || i == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	i->refs--;
	put_locked(t, i);
	pthread_mutex_unlock(&t->lock);
}

void itable_rekey(struct inode_table *t, struct sfs_inode *i, dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&t->lock);
	if (i != &t->root)
		unlink_hash(t, i);
	i->dev = dev;
	i->ino = ino;
	if (i != &t->root)
		link_hash(t, i);
	pthread_mutex_unlock(&t->lock);
}

void itable_set_name(struct inode_table *t, struct sfs_inode *i, struct sfs_inode *parent,
		     const char *name)
{
	pthread_mutex_lock(&t->lock);
	set_name_locked(t, i, parent, name);
	pthread_mutex_unlock(&t->lock);
}

struct sfs_inode *itable_parent(struct inode_table *t, struct sfs_inode *i, char **name)
{
	struct sfs_inode *p;

	pthread_mutex_lock(&t->lock);
	p = i->parent;
	if (p && p != &t->root)
		p->refs++;
	*name = i->name ? strdup(i->name) : NULL;
	pthread_mutex_unlock(&t->lock);
	return p;
}

void itable_destroy(struct inode_table *t)
{
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct sfs_inode *i = t->buckets[b], *next;

		for (; i; i = next) {
			int u = atomic_load(&i->upper_fd);

			next = i->hnext;
			if (i->lower_fd >= 0)
				close(i->lower_fd);
			if (u >= 0)
				close(u);
			free(i->name);
			free(i);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	pthread_mutex_destroy(&t->lock);
}
