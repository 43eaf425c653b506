/* pathset.h — the set of image paths the exporter reasons about.
 *
 * Every path lives once in a byte arena; an entry names it by (offset, length), so
 * an ancestor directory is the same bytes with a shorter length and costs no copy.
 * Entries are appended in any order and then pathset_sort() sorts them by path
 * (byte order, so a directory always precedes what is below it) and folds the
 * duplicates into one entry: evidence is the maximum, reasons and flags are OR-ed,
 * the image metadata is taken from whichever copy has it.  Indices are stable
 * only between two calls of pathset_sort().
 *
 * Invariant kept by the callers: every path is absolute and clean — it starts with
 * '/', has no empty, "." or ".." component and no trailing '/' (except "/").
 */
#ifndef SLIMFS_EXPORT_PATHSET_H
#define SLIMFS_EXPORT_PATHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

/* The longest path the set holds (pent.len is 16 bits); a trace path longer than
 * that is refused with a warning. */
#define PATHSET_MAX_LEN 65535

/* Why a path is kept (pent.why). */
enum {
	W_EVIDENCE = 1 << 0,  /* recorded with at least --keep evidence */
	W_ANCESTOR = 1 << 1,  /* directory above a kept path */
	W_HARDLINK = 1 << 2,  /* another name of a kept inode */
	W_CREATED = 1 << 3,   /* the workload created something in it */
	W_MOUNT = 1 << 4,     /* /proc /sys /dev /run /tmp */
	W_INCLUDE = 1 << 5,   /* matched --include */
};

/* What is known about a path (pent.flags). */
enum {
	F_STAT = 1 << 0,      /* mode..rdev below are the image's (lstat inside the root) */
	F_MISSING = 1 << 1,   /* not in the image (or only through a symlink) */
	F_EXCLUDED = 1 << 2,  /* matched --exclude, or lies below such a path */
	F_SYNTH = 1 << 3,     /* mount point the image lacks: made up, 0755 root */
	F_CREATED_IN = 1 << 4,/* the workload created a child: resolve to an existing dir */
	F_RECORDED = 1 << 5,  /* named by a trace */
};

struct pent {
	uint32_t off;     /* into the arena */
	uint16_t len;
	uint8_t ev;       /* enum trace_evidence: max over the path's events */
	uint8_t why;      /* W_* */
	uint8_t flags;    /* F_* */
	/* The image's lstat when F_STAT (made up when F_SYNTH): everything a member
	 * header needs, kept from the closure's one lstat so that the writer never
	 * stats the path again.  pent_copy_meta() copies exactly these. */
	uint32_t mode;
	uint32_t nlink;
	uint64_t dev, ino;
	uint64_t size;    /* regular files only, else 0 */
	uint32_t uid, gid;
	uint32_t mtime_nsec;
	int64_t mtime_sec;
	uint64_t rdev;    /* character and block devices */
};

static inline void pent_copy_meta(struct pent *to, const struct pent *from)
{
	to->mode = from->mode;
	to->nlink = from->nlink;
	to->dev = from->dev;
	to->ino = from->ino;
	to->size = from->size;
	to->uid = from->uid;
	to->gid = from->gid;
	to->mtime_nsec = from->mtime_nsec;
	to->mtime_sec = from->mtime_sec;
	to->rdev = from->rdev;
}

struct pathset {
	char *arena;
	size_t arena_len, arena_cap;
	struct pent *v;
	size_t n, cap;
	size_t nsorted;   /* v[0..nsorted) is sorted and folded (pathset_sort) */
};

void pathset_free(struct pathset *ps);

/* Copy LEN bytes of PATH into the arena; returns the offset (aborts on OOM). */
uint32_t pathset_intern(struct pathset *ps, const char *path, size_t len);

/* Append an entry for arena bytes [OFF, OFF+LEN); returns a pointer valid until the
 * next add. */
struct pent *pathset_add(struct pathset *ps, uint32_t off, size_t len);

/* Sort by path and fold duplicates (see above). */
void pathset_sort(struct pathset *ps);

/* Index of PATH in a sorted set, or -1. */
ssize_t pathset_find(const struct pathset *ps, const char *path, size_t len);

static inline const char *pent_path(const struct pathset *ps, const struct pent *e)
{
	return ps->arena + e->off;
}

static inline bool pent_kept(const struct pent *e)
{
	return e->why != 0 && !(e->flags & F_EXCLUDED);
}

/* A non-directory with other names (hardlinks), as far as its stat tells. */
static inline bool pent_multilinked(const struct pent *e)
{
	return (e->flags & F_STAT) && !S_ISDIR(e->mode) && e->nlink > 1;
}

/* Length of the parent of PATH[0..LEN) ("/a/b" -> 2, "/a" -> 1, "/" -> 0). */
size_t path_parent_len(const char *path, size_t len);

/* True if A[0..ALEN) is B[0..BLEN) or a directory above it. */
bool path_is_at_or_above(const char *a, size_t alen, const char *b, size_t blen);

/* True if PATH[0..LEN) is absolute and clean (see the invariant above). */
bool path_is_clean(const char *path, size_t len);

#endif
