/* inode.h — the daemon's inode table: one struct sfs_inode per file the kernel knows,
 * and a bounded cache of the O_PATH fds through which the daemon reaches those files.
 *
 * The FUSE node id of an inode is its address (the root is FUSE_ROOT_ID), and each
 * inode gets a generation no other inode of the mount had, which the entry replies
 * carry: a node id and generation never name two files, so the kernel never takes a
 * new file for an old one it still holds (libfuse's passthrough_hp does the same).
 *
 * Identity.  An inode is found by the identity of its file: (st_dev, st_ino) in the
 * layer on top (the upper file once there is one, else the lower file), and, for a
 * file in both layers (copied up, or a merged directory), also by the identity of its
 * lower file.  Two names of one file therefore share one inode (hardlinks through the
 * mount), and a name that still reaches the image's file of a copied-up inode (a name
 * the copy-up could not link, fs/copyup.h) still reaches the copy.  An inode whose
 * file lost its last upper name (unlink, rmdir, rename over it) is detached: never
 * found again, so when the upper file system gives that inode number to a new file
 * (ext4 does at once), the new file gets a new inode, node id and generation, while
 * the kernel's references to the old one (a process still in the removed directory)
 * keep working until it forgets them: its removed file is held open for them, since a
 * file handle no longer opens it.  A passthrough split detaches one too.
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
 *    inode's name only changes (rename, link) after its data was copied up, when its
 *    lower file is no longer used (a directory with a lower part is never renamed:
 *    EXDEV; the other names an image hardlink is looked up by are all names of that
 *    same lower file).  A reopen through the parent also keeps every lower fd on the
 *    verifier's private mount with a connected path, which is what fanotify reports.
 *  - upper: by a file handle (name_to_handle_at, taken when the fd is first evicted;
 *    open_by_handle_at relative to the upper root), since upper names do change and a
 *    file may be unlinked while the kernel still knows it.  Where handles do not work
 *    (probed once: file system or capability), upper fds stay open ("fixed").
 * A caller pins the fd it uses (inode_get_fd) and unpins it (inode_put_fd); a pinned
 * fd is never closed, so the cap is soft: pins are few and short.
 *
 * Locking: the table lock guards both hashes, nlookup, refs, parent, name, detached,
 * copying and every fd slot.  has_upper and upper_data each go once from false to
 * true (fs/copyup.c, itable_set_upper) and are read atomically; has_lower never
 * changes; node is atomic.
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

struct pt_inode;

struct sfs_inode {
	struct sfs_inode *hnext;        /* chain of the top identity's bucket */
	struct sfs_inode *lnext;        /* chain of the lower identity's bucket (lkeyed) */
	dev_t dev;                      /* top identity: upper once there is one, else lower */
	ino_t ino;
	dev_t lower_dev;                /* identity of the lower file (checked on reopen) */
	ino_t lower_ino;
	uint64_t shown_ino;             /* st_ino reported through the mount, stable */
	uint64_t generation;            /* FUSE generation: never reused in the mount */
	mode_t type;                    /* S_IFMT bits */
	bool has_lower;                 /* lives in the lower layer (never changes) */
	_Atomic bool has_upper;         /* lives in the upper layer (false -> true once) */
	/* The upper file holds the file's data (false -> true once).  False while there
	 * is no upper file, and for a metadata-only copy, whose data is still the lower
	 * file's (fs/copyup.h). */
	_Atomic bool upper_data;
	bool lkeyed;                    /* table lock; also found by its lower identity */
	bool detached;                  /* table lock; never found by identity again */
	bool copying;                   /* table lock; a copy-up of it runs (itable_copy_*) */
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
	struct pt_inode *pt;            /* FUSE passthrough's state (passthrough.c), or NULL */
};

struct inode_table {
	pthread_mutex_t lock;
	pthread_cond_t copied;          /* a copy-up ended (itable_copy_end) */
	struct sfs_inode **buckets;     /* by top identity */
	struct sfs_inode **lbuckets;    /* by lower identity, inodes in both layers */
	size_t nbuckets;                /* of each */
	size_t count;
	uint64_t generations;           /* the last generation given */
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

/* What a lookup found, to enter into the table.  The fds are consumed.  An entry in
 * both layers (upper_fd and lower_fd) is keyed by its upper identity and also found by
 * its lower one. */
struct inode_key {
	dev_t dev;
	ino_t ino;
	dev_t lower_dev;
	ino_t lower_ino;
	uint64_t shown_ino;
	mode_t type;
	int lower_fd;
	int upper_fd;
	bool upper_data;                /* the upper file holds the data (not a metacopy) */
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

/* The layer whose file shows through the mount (its metadata): upper wins. */
static inline enum sfs_layer inode_top(struct sfs_inode *i)
{
	return inode_has_upper(i) ? SFS_UPPER : SFS_LOWER;
}

/* The layer that holds I's data: the lower file until the data was copied up. */
static inline enum sfs_layer inode_data_layer(struct sfs_inode *i)
{
	return atomic_load(&i->upper_data) || !i->has_lower ? SFS_UPPER : SFS_LOWER;
}

/* I's O_PATH fd in layer L, pinned until inode_put_fd(L): an fd, -ENOENT if I does
 * not live in L, or another -errno if it cannot be reopened (-ESTALE: gone). */
int inode_get_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l);
void inode_put_fd(struct inode_table *t, struct sfs_inode *i, enum sfs_layer l);

/* I now lives in the upper layer too, behind FD (consumed), the file UST: I is
 * re-keyed to UST's identity (and still found by its lower one).  DATA: the upper
 * file holds the data.  If I already has an upper file, FD is closed. */
void itable_set_upper(struct inode_table *t, struct sfs_inode *i, int fd,
		      const struct stat *ust, bool data);

/* The data of I's upper file is complete (a metadata-only copy was filled). */
void itable_set_upper_data(struct inode_table *t, struct sfs_inode *i);

/* Find the inode with K's identity or add one; count one lookup; make PARENT/NAME
 * its last name and NODE its trace node.  Consumes K's fds.  An inode found by K's
 * lower identity only that has no upper file yet takes K's.  NULL on out-of-memory. */
struct sfs_inode *itable_lookup(struct inode_table *t, struct inode_key *k,
				struct sfs_inode *parent, const char *name, uint32_t node);

/* Count one more lookup of I (link replies with an existing inode). */
void itable_ref_lookup(struct inode_table *t, struct sfs_inode *i);

/* The kernel forgets N lookups of I. */
void itable_forget(struct inode_table *t, struct sfs_inode *i, uint64_t n);

/* The inode with identity (DEV, INO), in its top layer or its lower one, with a
 * reference taken, or NULL. */
struct sfs_inode *itable_find(struct inode_table *t, dev_t dev, ino_t ino);
void itable_unref(struct inode_table *t, struct sfs_inode *i);

/* I is no longer found by its identity: lookups make a new inode from now on, while
 * the kernel's old references to I keep working until it forgets them.  It stays in
 * the hash, skipped, until freed. */
void itable_detach(struct inode_table *t, struct sfs_inode *i);

/* The upper file FD (stat ST) has lost its last name: detach its inode, if the table
 * has one, and keep an fd of the file for the inode's remaining life (the kernel may
 * still stat it, as a process does its removed working directory). */
void itable_gone(struct inode_table *t, const struct stat *st, int fd);

/* I's last name is now PARENT/NAME (rename, link). */
void itable_set_name(struct inode_table *t, struct sfs_inode *i, struct sfs_inode *parent,
		     const char *name);

/* I's parent (with a reference taken; NULL for the root) and a copy of its name. */
struct sfs_inode *itable_parent(struct inode_table *t, struct sfs_inode *i, char **name);

/* The names from the root down to I (the root's own is not included), with "/"
 * between them, as a string the caller frees: I's path in the lower layer while I is
 * not renamed (see "lower" above).  NULL on out-of-memory or for an inode without a
 * name. */
char *itable_path(struct inode_table *t, struct sfs_inode *i);

/* One copy-up of I at a time: wait until none runs, then, unless DONE(I, ARG) holds,
 * start one (true).  false: DONE held, nothing started.  itable_copy_end ends it. */
bool itable_copy_begin(struct inode_table *t, struct sfs_inode *i,
		       bool (*done)(struct sfs_inode *i, const void *arg), const void *arg);
void itable_copy_end(struct inode_table *t, struct sfs_inode *i);

#endif
