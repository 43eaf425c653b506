/* inode.h — the daemon's inode table: one struct sfs_inode per file the kernel knows,
 * and a bounded cache of the O_PATH fds through which the daemon reaches those files.
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
 * freed, and its fds closed, when both reach zero.  The root is never freed.
 *
 * File descriptors: an idle inode needs none.  The kernel remembers almost every inode
 * it was shown (long timeouts, lots of RAM), images hold 100k+ files and RLIMIT_NOFILE
 * may be as low as 20000 with no way to raise it, so one fd per inode cannot work.
 * Each inode has one fd slot per layer; open slots form one LRU list capped at
 * max_fds, and a slot whose fd was closed is reopened on its next use:
 *  - lower: by the parent's lower fd and the inode's name, checked against the lower
 *    file's (st_dev, st_ino).  Sound because the lower layer never changes, and an
 *    inode's name only changes (rename, link) after its copy-up, when its lower file
 *    is no longer used (a directory with a lower part is never renamed: EXDEV).  A
 *    reopen through the parent also keeps every lower fd on the verifier's private
 *    mount with a connected path, which is what fanotify reports.
 *  - upper: by a file handle (name_to_handle_at, taken when the fd is first evicted;
 *    open_by_handle_at relative to the upper root), since upper names do change and a
 *    file may be unlinked while the kernel still knows it.  Where handles do not work
 *    (probed once: file system or capability), upper fds stay open ("fixed").
 * A caller pins the fd it uses (inode_get_fd) and unpins it (inode_put_fd); a pinned
 * fd is never closed, so the cap is soft: pins are few and short.
 *
 * Locking: the table lock guards the hash, nlookup, refs, parent, name and every fd
 * slot.  has_upper goes once from false to true (under the overlay's namespace lock)
 * and is read atomically; has_lower never changes; node is atomic.
 */
#ifndef SLIMFS_INODE_H
#define SLIMFS_INODE_H

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Inode numbers shown for files that exist only in the upper layer carry this bit,
 * so they never collide with the lower layer's numbers (two file systems). */
#define SFS_UPPER_INO_BIT (1ULL << 63)

/* Open O_PATH fds the cache keeps by default: far below RLIMIT_NOFILE (20000 on the
 * machines measured), leaving room for the workload's open files and the verifier. */
#define SFS_MAX_FDS 4096

enum sfs_layer { SFS_LOWER = 0, SFS_UPPER = 1 };

enum sfs_xattrs { SFS_XATTRS_UNKNOWN = 0, SFS_XATTRS_NONE, SFS_XATTRS_SOME };

struct fd_slot {
	struct fd_slot *prev, *next;    /* LRU list while open and unpinned, else NULL */
	int fd;                         /* O_PATH fd, or -1 while closed */
	uint32_t pins;                  /* users now: the fd is not closed while > 0 */
	bool fixed;                     /* open for the inode's whole life, not cached */
	unsigned char layer;            /* enum sfs_layer: which slot of its inode */
};

struct sfs_inode {
	struct sfs_inode *hnext;        /* hash chain */
	dev_t dev;                      /* key: identity in the layer the file lives in */
	ino_t ino;
	dev_t lower_dev;                /* identity of the lower file (checked on reopen) */
	ino_t lower_ino;
	uint64_t shown_ino;             /* st_ino reported through the mount, stable */
	mode_t type;                    /* S_IFMT bits */
	bool has_lower;                 /* lives in the lower layer (never changes) */
	_Atomic bool has_upper;         /* lives in the upper layer (false -> true once) */
	struct file_handle *upper_fh;   /* table lock; how a closed upper fd is reopened */
	struct fd_slot slot[2];         /* table lock; indexed by enum sfs_layer */
	_Atomic uint32_t node;          /* trace node of the path it was last reached by */
	/* Whether the lower file has any xattr (enum sfs_xattrs): learnt once, by the
	 * first getxattr, and valid for good since the lower layer never changes. */
	_Atomic unsigned char lower_xattrs;
	uint64_t nlookup;               /* table lock */
	uint64_t refs;                  /* table lock */
	struct sfs_inode *parent;       /* table lock; holds a ref; NULL for the root */
	char *name;                     /* table lock; name in parent */
	bool detached;                  /* table lock; split off: never found by identity */
	/* Passthrough (passthrough.h), under its lock. */
	bool pt_image;                  /* the data is the image file's: lower-only when
					 * entered, and no open to write since */
	bool pt_idle;                   /* on the list of kept, unused backing files */
	int pt_id;                      /* backing id, 0 if none */
	uint32_t pt_opens;              /* passthrough opens not yet released */
	struct sfs_inode *pt_prev, *pt_next;  /* the idle list, oldest first */
};

struct inode_table {
	pthread_mutex_t lock;
	struct sfs_inode **buckets;
	size_t nbuckets;
	size_t count;
	struct sfs_inode root;
	int upper_mount;                /* open_by_handle_at's mount fd (upper root, O_RDONLY) */
	bool upper_handles;             /* handles work on the upper file system */
	struct fd_slot lru;             /* list head: lru.next is the most recently used */
	size_t open_fds;                /* cached (not fixed) fds open now, pinned or not */
	size_t max_fds;
	void (*freeing)(void *arg, struct sfs_inode *i);  /* hook, or NULL */
	void *freeing_arg;
	uint64_t reopens;               /* fds reopened after eviction (statistics) */
};

/* What a lookup found, to enter into the table.  The fds are consumed. */
struct inode_key {
	dev_t dev;
	ino_t ino;
	dev_t lower_dev;
	ino_t lower_ino;
	uint64_t shown_ino;
	mode_t type;
	int lower_fd;
	int upper_fd;
};

/* LOWER_ROOT and UPPER_ROOT (or -1: the root has no upper side yet) belong to the
 * caller and stay open for the table's life; UPPER_MOUNT (-1: none) is the upper
 * directory, where upper handles are opened; MAX_FDS caps the cached fds. */
int itable_init(struct inode_table *t, int lower_root, int upper_root,
		const struct stat *lower_st, int upper_mount, size_t max_fds);
void itable_destroy(struct inode_table *t);

static inline struct sfs_inode *itable_get(struct inode_table *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : (struct sfs_inode *)(uintptr_t)ino;
}

static inline fuse_ino_t itable_id(struct inode_table *t, struct sfs_inode *i)
{
	return i == &t->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

static inline bool inode_has_upper(struct sfs_inode *i)
{
	return atomic_load(&i->has_upper);
}

/* The layer whose file shows through the mount: upper wins. */
static inline enum sfs_layer inode_top(struct sfs_inode *i)
{
	return inode_has_upper(i) ? SFS_UPPER : SFS_LOWER;
}

/* I's O_PATH fd in layer L, pinned until inode_put_fd(L): an fd, -ENOENT if I does
 * not live in L, or another -errno if it cannot be reopened (-ESTALE: gone). */
int inode_get_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l);
void inode_put_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l);

/* I now lives in the upper layer too, behind FD (consumed).  Namespace lock held. */
void inode_set_upper(struct inode_table *t, struct sfs_inode *i, int fd);

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

/* I is no longer found by its identity: lookups make a new inode from now on, while
 * the kernel's old references to I keep working until it forgets them
 * (passthrough.h).  It stays in the hash, skipped, until freed. */
void itable_detach(struct inode_table *t, struct sfs_inode *i);

/* I now lives at (DEV, INO) (after copy-up). */
void itable_rekey(struct inode_table *t, struct sfs_inode *i, dev_t dev, ino_t ino);

/* I's last name is now PARENT/NAME (rename, link). */
void itable_set_name(struct inode_table *t, struct sfs_inode *i, struct sfs_inode *parent,
		     const char *name);

/* I's parent (with a reference taken; NULL for the root) and a copy of its name. */
struct sfs_inode *itable_parent(struct inode_table *t, struct sfs_inode *i, char **name);

#endif
