/* ldcache.h — reading glibc's /etc/ld.so.cache of an image, bounds-checked.
 *
 * No library reads this file, and the image's copy is untrusted input: every offset
 * and count is checked against the buffer before use, and a string is returned only
 * when its terminating NUL lies inside the buffer.  Both layouts glibc writes are read:
 * the old "ld.so-1.7.0" table (12-byte entries, strings after the table), optionally
 * followed by the new table at the next 8-byte boundary, and the new
 * "glibc-ld.so.cache1.1" table alone (24-byte entries; string offsets relative to the
 * new header).  As in glibc's dl-cache.c, the new table wins when both are present, and
 * a cache of the other byte order is not read.  See docs/export-rules.md.
 */
#ifndef SLIMFS_EXPORT_LDCACHE_H
#define SLIMFS_EXPORT_LDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entry flags (glibc's ldconfig.h): the type in the low byte, the ABI in the high one. */
#define LDCACHE_FLAG_ELF_LIBC6 0x0003
#define LDCACHE_FLAG_TYPE_MASK 0x00ff
#define LDCACHE_HWCAP_EXTENSION (1ULL << 62)   /* entry of a glibc-hwcaps subdirectory */

struct ldcache {
	const unsigned char *base;   /* the whole file */
	size_t size;
	const unsigned char *table;  /* first entry */
	size_t nlibs, entsize;       /* entsize 12 (old) or 24 (new) */
	const unsigned char *strs;   /* string offsets count from here */
	size_t strsize;              /* bytes from strs to the end of the file */
};

struct ldcache_entry {
	int32_t flags;
	const char *key;     /* the soname, e.g. "libc.so.6" */
	const char *value;   /* the path, e.g. "/lib/x86_64-linux-gnu/libc.so.6" */
	uint64_t hwcap;      /* 0 in the old format */
};

/* 0 when DATA[0..SIZE) is a cache this reader can use, -1 otherwise. */
int ldcache_parse(struct ldcache *lc, const void *data, size_t size);

/* Entry I (< lc->nlibs); false when its strings are not inside the buffer. */
bool ldcache_entry(const struct ldcache *lc, size_t i, struct ldcache_entry *e);

#endif
