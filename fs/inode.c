/* inode.c — the inode table and its fd cache (see inode.h for the invariants).
 *
 * Two chained hashes on (st_dev, st_ino) — the top identity of every inode, and the
 * lower identity of the inodes in both layers — that double together when the table
 * holds more inodes than buckets.  Every field that links inodes together (hash
 * chains, parent, name), every count and every fd slot is changed under the one table
 * lock.  The lock is held for
 * memory work and for closing evicted fds; reopening a closed fd (openat, fstat,
 * open_by_handle_at) runs without it, and a thread that loses the race to reopen the
 * same slot closes its own fd.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inode.h"

static size_t hash_key(dev_t dev, ino_t ino, size_t n)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
	return (size_t)(h ^ (h >> 29)) & (n - 1);
}

static void slot_init(struct fd_slot *s, enum sfs_layer l)
{
	s->layer = l;
	s->prev = s->next = NULL;
	s->fd = -1;
	s->pins = 0;
	s->fixed = false;
}

/* Do file handles of the file system behind DIR reopen?  The upper layer's answer
 * decides whether its fds may be cached.  DIR must be a real (not O_PATH) directory
 * fd: open_by_handle_at's mount fd. */
static bool inode_handles_work(int dir)
{
	struct {
		struct file_handle fh;
		unsigned char buf[MAX_HANDLE_SZ];
	} h;
	int mnt, fd;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (dir < 0 || name_to_handle_at(dir, "", &h.fh, &mnt, AT_EMPTY_PATH) < 0)
		return false;
	fd = open_by_handle_at(dir, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int itable_init(struct inode_table *t, int lower_root, int upper_root,
		const struct stat *lower_st, int upper_mount, size_t max_fds)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->copied, NULL);
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->lbuckets = calloc(t->nbuckets, sizeof(*t->lbuckets));
	if (!t->buckets || !t->lbuckets) {
		free(t->buckets);
		free(t->lbuckets);
		t->buckets = t->lbuckets = NULL;
		return -1;
	}
	t->lru.prev = t->lru.next = &t->lru;
	t->max_fds = max_fds ? max_fds : 1;
	/* open_by_handle_at refuses an O_PATH mount fd: open the directory for real. */
	t->upper_mount = upper_mount < 0 ? -1 :
			 openat(upper_mount, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t->upper_handles = inode_handles_work(t->upper_mount);
	t->root.dev = t->root.lower_dev = lower_st->st_dev;
	t->root.ino = t->root.lower_ino = lower_st->st_ino;
	t->root.shown_ino = lower_st->st_ino;
	t->root.type = S_IFDIR;
	slot_init(&t->root.slot[SFS_LOWER], SFS_LOWER);
	slot_init(&t->root.slot[SFS_UPPER], SFS_UPPER);
	/* The root's fds belong to the caller and live as long as the table. */
	t->root.has_lower = lower_root >= 0;
	t->root.slot[SFS_LOWER].fd = lower_root;
	t->root.slot[SFS_LOWER].fixed = true;
	atomic_init(&t->root.has_upper, upper_root >= 0);
	atomic_init(&t->root.upper_data, upper_root >= 0);
	t->root.slot[SFS_UPPER].fd = upper_root;
	t->root.slot[SFS_UPPER].fixed = true;
	atomic_init(&t->root.node, 1);
	t->root.nlookup = 1;    /* never reaches zero: the kernel never forgets the root */
	return 0;
}

/* ---- the fd cache (table lock held) ---------------------------------------- */

static void lru_unlink(struct fd_slot *s)
{
	if (!s->prev)
		return;
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void lru_push(struct inode_table *t, struct fd_slot *s)
{
	s->next = t->lru.next;
	s->prev = &t->lru;
	s->next->prev = s;
	t->lru.next = s;
}

/* The inode whose slot[S->layer] is S. */
static struct sfs_inode *slot_inode(struct fd_slot *s)
{
	return (struct sfs_inode *)((char *)(s - s->layer) - offsetof(struct sfs_inode, slot));
}

/* Before an upper fd is closed: take the handle that will reopen it.  false if none
 * can be taken (the fd then stays open for the inode's life). */
static bool upper_handle_locked(struct inode_table *t, struct sfs_inode *i)
{
	struct file_handle *fh;
	int mnt;

	if (i->upper_fh)
		return true;
	if (!t->upper_handles)
		return false;
	fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	if (!fh)
		return false;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(i->slot[SFS_UPPER].fd, "", fh, &mnt, AT_EMPTY_PATH) < 0) {
		free(fh);
		return false;
	}
	i->upper_fh = fh;
	return true;
}

/* Close the least recently used unpinned fds until at most max_fds are open. */
static void evict_locked(struct inode_table *t)
{
	while (t->open_fds > t->max_fds && t->lru.prev != &t->lru) {
		struct fd_slot *s = t->lru.prev;
		struct sfs_inode *i = slot_inode(s);

		lru_unlink(s);
		t->open_fds--;
		if (s->layer == SFS_UPPER && !upper_handle_locked(t, i)) {
			s->fixed = true;
			continue;
		}
		close(s->fd);
		s->fd = -1;
	}
}

/* Take an open fd into slot S (unpinned unless PIN). */
static void slot_fill_locked(struct inode_table *t, struct fd_slot *s, int fd, bool pin)
{
	s->fd = fd;
	if (s->fixed)
		return;
	t->open_fds++;
	if (pin)
		s->pins++;
	else
		lru_push(t, s);
	evict_locked(t);
}

static void slot_close_locked(struct inode_table *t, struct fd_slot *s)
{
	if (s->fd < 0)
		return;
	if (!s->fixed) {
		lru_unlink(s);
		t->open_fds--;
	}
	close(s->fd);
	s->fd = -1;
}

/* Reopen I's lower file through its parent's lower fd; check it is the same file. */
static int reopen_lower(struct inode_table *t, struct sfs_inode *p, const char *name,
			struct sfs_inode *i)
{
	struct stat st;
	int pfd, fd;

	pfd = inode_get_fd(t, p, SFS_LOWER);
	if (pfd < 0)
		return pfd == -ENOENT ? -ESTALE : pfd;
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	inode_put_fd(t, p, SFS_LOWER);
	if (fd < 0)
		return fd == -ENOENT ? -ESTALE : fd;
	if (fstat(fd, &st) < 0 || st.st_dev != i->lower_dev || st.st_ino != i->lower_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int inode_get_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l)
{
	struct fd_slot *s = &i->slot[l];
	struct sfs_inode *p = NULL;
	struct file_handle *fh = NULL;
	char name[NAME_MAX + 1];
	int fd;

	pthread_mutex_lock(&t->lock);
	if (s->fd >= 0) {
		if (!s->fixed && s->pins++ == 0)
			lru_unlink(s);
		fd = s->fd;
		pthread_mutex_unlock(&t->lock);
		return fd;
	}
	if (l == SFS_LOWER ? !i->has_lower : !atomic_load(&i->has_upper)) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	if (l == SFS_LOWER) {
		p = i->parent;
		if (!p || !i->name || strlen(i->name) > NAME_MAX) {
			pthread_mutex_unlock(&t->lock);
			return -ESTALE;
		}
		strcpy(name, i->name);
		if (p != &t->root)
			p->refs++;
	} else {
		/* Set before the fd was first closed and kept until the inode is freed,
		 * which our caller's use of I rules out. */
		fh = i->upper_fh;
	}
	t->reopens++;
	pthread_mutex_unlock(&t->lock);

	if (l == SFS_LOWER) {
		fd = reopen_lower(t, p, name, i);
		itable_unref(t, p);
	} else {
		fd = fh ? open_by_handle_at(t->upper_mount, fh, O_PATH | O_CLOEXEC) : -1;
		if (fd < 0)
			fd = fh ? -errno : -ESTALE;
	}
	if (fd < 0)
		return fd;

	pthread_mutex_lock(&t->lock);
	if (s->fd >= 0) {
		/* Another thread reopened it meanwhile: use theirs. */
		close(fd);
		if (!s->fixed && s->pins++ == 0)
			lru_unlink(s);
		fd = s->fd;
	} else {
		slot_fill_locked(t, s, fd, true);
	}
	pthread_mutex_unlock(&t->lock);
	return fd;
}

void inode_put_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l)
{
	struct fd_slot *s = &i->slot[l];

	pthread_mutex_lock(&t->lock);
	if (!s->fixed && s->pins > 0 && --s->pins == 0) {
		lru_push(t, s);
		evict_locked(t);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- the hashes ------------------------------------------------------------- */

static struct sfs_inode **chain_next(struct sfs_inode *i, bool lower)
{
	return lower ? &i->lnext : &i->hnext;
}

static void unlink_chain(struct inode_table *t, struct sfs_inode *i, bool lower)
{
	struct sfs_inode **pp = lower ? &t->lbuckets[hash_key(i->lower_dev, i->lower_ino, t->nbuckets)]
				      : &t->buckets[hash_key(i->dev, i->ino, t->nbuckets)];

	for (; *pp; pp = chain_next(*pp, lower)) {
		if (*pp == i) {
			*pp = *chain_next(i, lower);
			*chain_next(i, lower) = NULL;
			return;
		}
	}
}

static void link_chain(struct inode_table *t, struct sfs_inode *i, bool lower)
{
	struct sfs_inode **b = lower ? &t->lbuckets[hash_key(i->lower_dev, i->lower_ino, t->nbuckets)]
				     : &t->buckets[hash_key(i->dev, i->ino, t->nbuckets)];

	*chain_next(i, lower) = *b;
	*b = i;
}

static void unlink_hash(struct inode_table *t, struct sfs_inode *i)
{
	unlink_chain(t, i, false);
	if (i->lkeyed)
		unlink_chain(t, i, true);
	i->lkeyed = false;
}

static void grow(struct inode_table *t)
{
	size_t n = t->nbuckets * 2;
	struct sfs_inode **nb = calloc(n, sizeof(*nb)), **nl = calloc(n, sizeof(*nl));

	if (!nb || !nl) {
		free(nb);
		free(nl);
		return;         /* longer chains, still correct */
	}
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct sfs_inode *i, *next;

		for (i = t->buckets[b]; i; i = next) {
			size_t h = hash_key(i->dev, i->ino, n);

			next = i->hnext;
			i->hnext = nb[h];
			nb[h] = i;
		}
		for (i = t->lbuckets[b]; i; i = next) {
			size_t h = hash_key(i->lower_dev, i->lower_ino, n);

			next = i->lnext;
			i->lnext = nl[h];
			nl[h] = i;
		}
	}
	free(t->buckets);
	free(t->lbuckets);
	t->buckets = nb;
	t->lbuckets = nl;
	t->nbuckets = n;
}

static void free_inode_locked(struct inode_table *t, struct sfs_inode *i)
{
	if (t->freeing)
		t->freeing(t->freeing_arg, i);
	slot_close_locked(t, &i->slot[SFS_LOWER]);
	slot_close_locked(t, &i->slot[SFS_UPPER]);
	free(i->upper_fh);
	free(i->name);
	free(i);
}

/* Free I and, as their last child goes, the parents it kept alive.  Lock held. */
static void put_locked(struct inode_table *t, struct sfs_inode *i)
{
	while (i && i != &t->root && i->nlookup == 0 && i->refs == 0) {
		struct sfs_inode *parent = i->parent;

		unlink_hash(t, i);
		t->count--;
		free_inode_locked(t, i);
		if (parent && parent != &t->root)
			parent->refs--;
		i = parent;
	}
}

/* The inode whose top identity is (DEV, INO).  Lock held. */
static struct sfs_inode *find_top_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct sfs_inode *i = t->buckets[hash_key(dev, ino, t->nbuckets)];

	for (; i; i = i->hnext)
		if (i->ino == ino && i->dev == dev && !i->detached)
			return i;
	if (t->root.dev == dev && t->root.ino == ino)
		return &t->root;
	return NULL;
}

/* The inode in both layers whose lower identity is (DEV, INO).  Lock held. */
static struct sfs_inode *find_lower_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct sfs_inode *i = t->lbuckets[hash_key(dev, ino, t->nbuckets)];

	for (; i; i = i->lnext)
		if (i->lower_ino == ino && i->lower_dev == dev && !i->detached)
			return i;
	return NULL;
}

static struct sfs_inode *find_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct sfs_inode *i = find_top_locked(t, dev, ino);

	return i ? i : find_lower_locked(t, dev, ino);
}

/* I lives in the upper layer now, behind FD, the file UST.  Lock held. */
static void set_upper_locked(struct inode_table *t, struct sfs_inode *i, int fd,
			     const struct stat *ust, bool data)
{
	if (i != &t->root) {
		unlink_hash(t, i);
		i->dev = ust->st_dev;
		i->ino = ust->st_ino;
		link_chain(t, i, false);
		if (i->has_lower) {
			link_chain(t, i, true);
			i->lkeyed = true;
		}
	}
	/* The root joins with the caller's upper root, which stays open. */
	slot_fill_locked(t, &i->slot[SFS_UPPER], fd, false);
	atomic_store(&i->upper_data, data);
	atomic_store(&i->has_upper, true);
}

void itable_set_upper(struct inode_table *t, struct sfs_inode *i, int fd,
		      const struct stat *ust, bool data)
{
	pthread_mutex_lock(&t->lock);
	if (atomic_load(&i->has_upper)) {
		if (i != &t->root)      /* the root's upper fd is the caller's */
			close(fd);
	} else {
		set_upper_locked(t, i, fd, ust, data);
	}
	pthread_mutex_unlock(&t->lock);
}

void itable_set_upper_data(struct inode_table *t, struct sfs_inode *i)
{
	(void)t;
	atomic_store(&i->upper_data, true);
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

/* A slot of a known inode that is closed takes the fd the lookup just opened (saves
 * a reopen); otherwise the new fd is a duplicate and is closed. */
static void adopt_fd_locked(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l,
			    int fd)
{
	bool lives = l == SFS_LOWER ? i->has_lower : atomic_load(&i->has_upper);

	if (fd < 0)
		return;
	if (lives && i->slot[l].fd < 0)
		slot_fill_locked(t, &i->slot[l], fd, false);
	else
		close(fd);
}

struct sfs_inode *itable_lookup(struct inode_table *t, struct inode_key *k,
				struct sfs_inode *parent, const char *name, uint32_t node)
{
	struct sfs_inode *i;
	bool both = k->upper_fd >= 0 && k->lower_fd >= 0;

	pthread_mutex_lock(&t->lock);
	i = find_top_locked(t, k->dev, k->ino);
	if (!i && k->lower_fd >= 0) {
		/* A name that still reaches the image file of a copied-up inode (one its
		 * copy-up could not link, fs/copyup.h) reaches the copy. */
		i = find_lower_locked(t, k->lower_dev, k->lower_ino);
		/* Known by its image file only (entered by a name its copy did not
		 * reach): it takes the upper file it now has. */
		if (!i && both)
			i = find_top_locked(t, k->lower_dev, k->lower_ino);
		if (i && both && i != &t->root && !atomic_load(&i->has_upper)) {
			struct stat ust = { .st_dev = k->dev, .st_ino = k->ino };

			set_upper_locked(t, i, k->upper_fd, &ust, k->upper_data);
			k->upper_fd = -1;
		} else if (i && both && (i->dev != k->dev || i->ino != k->ino)) {
			i = NULL;       /* another copy: not this file */
		}
	}
	if (i) {
		adopt_fd_locked(t, i, SFS_LOWER, k->lower_fd);
		adopt_fd_locked(t, i, SFS_UPPER, k->upper_fd);
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
		i->lower_dev = k->lower_dev;
		i->lower_ino = k->lower_ino;
		i->shown_ino = k->shown_ino;
		i->type = k->type;
		i->generation = ++t->generations;
		slot_init(&i->slot[SFS_LOWER], SFS_LOWER);
		slot_init(&i->slot[SFS_UPPER], SFS_UPPER);
		i->has_lower = k->lower_fd >= 0;
		atomic_init(&i->has_upper, k->upper_fd >= 0);
		atomic_init(&i->upper_data, k->upper_fd >= 0 && (k->upper_data || !i->has_lower));
		link_chain(t, i, false);
		if (both && !find_lower_locked(t, k->lower_dev, k->lower_ino)) {
			link_chain(t, i, true);
			i->lkeyed = true;
		}
		if (++t->count > t->nbuckets)
			grow(t);
		if (k->lower_fd >= 0)
			slot_fill_locked(t, &i->slot[SFS_LOWER], k->lower_fd, false);
		if (k->upper_fd >= 0)
			slot_fill_locked(t, &i->slot[SFS_UPPER], k->upper_fd, false);
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

void itable_detach(struct inode_table *t, struct sfs_inode *i)
{
	pthread_mutex_lock(&t->lock);
	if (i != &t->root)
		i->detached = true;
	pthread_mutex_unlock(&t->lock);
}

void itable_gone(struct inode_table *t, const struct stat *st, int fd)
{
	struct sfs_inode *i;
	struct fd_slot *s;

	pthread_mutex_lock(&t->lock);
	i = find_top_locked(t, st->st_dev, st->st_ino);
	if (i && i != &t->root) {
		i->detached = true;
		/* The file lives on for the kernel's references only through an fd: the
		 * slot keeps one for good (a handle no longer opens a removed file). */
		s = &i->slot[SFS_UPPER];
		if (!s->fixed && s->fd >= 0) {
			lru_unlink(s);
			t->open_fds--;
			s->fixed = true;
		} else if (!s->fixed && atomic_load(&i->has_upper)) {
			s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			s->fixed = s->fd >= 0;
		}
	}
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

char *itable_path(struct inode_table *t, struct sfs_inode *i)
{
	size_t len = 0, pos;
	char *path = NULL;

	pthread_mutex_lock(&t->lock);
	for (struct sfs_inode *a = i; a != &t->root; a = a->parent) {
		if (!a->parent || !a->name)
			goto out;
		len += strlen(a->name) + 1;     /* the name and the '/' (or NUL) after it */
	}
	path = malloc(len ? len : 1);
	if (!path)
		goto out;
	pos = len ? len - 1 : 0;
	path[pos] = '\0';
	for (struct sfs_inode *a = i; a != &t->root; a = a->parent) {
		size_t n = strlen(a->name);

		pos -= n;
		memcpy(path + pos, a->name, n);
		if (pos > 0)
			path[--pos] = '/';
	}
out:
	pthread_mutex_unlock(&t->lock);
	return path;
}

bool itable_copy_begin(struct inode_table *t, struct sfs_inode *i,
		       bool (*done)(struct sfs_inode *i, const void *arg), const void *arg)
{
	bool start;

	pthread_mutex_lock(&t->lock);
	while (i->copying)
		pthread_cond_wait(&t->copied, &t->lock);
	start = !done(i, arg);
	i->copying = start;
	pthread_mutex_unlock(&t->lock);
	return start;
}

void itable_copy_end(struct inode_table *t, struct sfs_inode *i)
{
	pthread_mutex_lock(&t->lock);
	i->copying = false;
	pthread_cond_broadcast(&t->copied);
	pthread_mutex_unlock(&t->lock);
}

void itable_destroy(struct inode_table *t)
{
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct sfs_inode *i = t->buckets[b], *next;

		for (; i; i = next) {
			next = i->hnext;
			free_inode_locked(t, i);
		}
	}
	free(t->buckets);
	free(t->lbuckets);
	t->buckets = t->lbuckets = NULL;
	if (t->upper_mount >= 0)
		close(t->upper_mount);
	pthread_cond_destroy(&t->copied);
	pthread_mutex_destroy(&t->lock);
}
