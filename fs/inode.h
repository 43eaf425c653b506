/* inode.h — the daemon's inode table: one struct sfs_inode per file the kernel knows.
 *
 * The FUSE node id of an inode is its address (the root is FUSE_ROOT_ID).  Inodes are
 * found by the identity of the file in the layer it lives in: (st_dev, st_ino) of the
 * upper file once there is one, else of the lower file; a copy-up re-keys the inode.
 * Two names of one file therefore share one inode (hardlink semantics through the
 * mount).
 *
 * Lifetime: nlookup counts exactly what fuse_lowlevel.h prescribes (one per entry
 * reply, minus what forget returns); refs counts internal holders (children whose
 * parent pointer is this inode, and callers that took a reference).  An inode is
 * freed, and its O_PATH fds closed, when both reach zero.  The root is never freed.
 *
 * Locking: the table lock guards the hash, nlookup, refs, parent and name.  upper_fd
 * goes once from -1 to an fd (under the overlay's namespace lock) and is read
 * atomically; lower_fd never changes; node is atomic.
 */
#ifndef SLIMFS_INODE_H
#define SLIMFS_INODE_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Inode numbers shown for files that exist only in the upper layer carry this bit,
 * so they never collide with the lower layer's numbers (two file systems). */
#define SFS_UPPER_INO_BIT (1ULL << 63)

struct sfs_inode {
	struct sfs_inode *hnext;        /* hash chain */
	dev_t dev;                      /* key: identity in the layer the file lives in */
	ino_t ino;
	uint64_t shown_ino;             /* st_ino reported through the mount, stable */
	mode_t type;                    /* S_IFMT bits */
	int lower_fd;                   /* O_PATH in the lower layer, or -1 */
	_Atomic int upper_fd;           /* O_PATH in the upper layer, or -1 */
	_Atomic uint32_t node;          /* trace node of the path it was last reached by */
	uint64_t nlookup;               /* table lock */
	uint64_t refs;                  /* table lock */
	struct sfs_inode *parent;       /* table lock; holds a ref; NULL for the root */
	char *name;                     /* table lock; name in parent */
};

struct inode_table {
	pthread_mutex_t lock;
	struct sfs_inode **buckets;
	size_t nbuckets;
	size_t count;
	struct sfs_inode root;
};

/* What a lookup found, to enter into the table.  The fds are consumed. */
struct inode_key {
	dev_t dev;
	ino_t ino;
	uint64_t shown_ino;
	mode_t type;
	int lower_fd;
	int upper_fd;
};

int itable_init(struct inode_table *t, int lower_root, int upper_root,
		const struct stat *lower_st);
void itable_destroy(struct inode_table *t);

static inline struct sfs_inode *itable_get(struct inode_table *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : (struct sfs_inode *)(uintptr_t)ino;
}

static inline fuse_ino_t itable_id(struct inode_table *t, struct sfs_inode *i)
{
	return i == &t->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

static inline int inode_fd(struct sfs_inode *i)
{
	int u = atomic_load(&i->upper_fd);
	return u >= 0 ? u : i->lower_fd;
}

/* Find the inode with K's identity or add one; count one lookup; make PARENT/NAME
 * its last name and NODE its trace node.  Consumes K's fds.  NULL on out-of-memory. */
struct sfs_inode *itable_lookup(struct inode_table *t, struct inode_key *k,
				struct sfs_inode *parent, const char *name, uint32_t node);

/* Count one more lookup of I (link replies with an existing inode). */
void itable_ref_lookup(struct inode_table *t, struct sfs_inode *i);

/* The kernel forgets N lookups of I. */
void itable_forget(struct inode_table *t, struct sfs_inode *i, uint64_t n);

/* The inode with identity (DEV, INO), with a reference taken, or NULL. */
struct sfs_inode *itable_find(struct inode_table *t, dev_t dev, ino_t ino);
void itable_unref(struct inode_table *t, struct sfs_inode *i);

/* I now lives at (DEV, INO) (after copy-up). */
void itable_rekey(struct inode_table *t, struct sfs_inode *i, dev_t dev, ino_t ino);

/* I's last name is now PARENT/NAME (rename, link). */
void itable_set_name(struct inode_table *t, struct sfs_inode *i, struct sfs_inode *parent,
		     const char *name);

/* I's parent (with a reference taken; NULL for the root) and a copy of its name. */
struct sfs_inode *itable_parent(struct inode_table *t, struct sfs_inode *i, char **name);

#endif
