/* ldcache.c — the bounds-checked reader of glibc's ld.so.cache (see ldcache.h). */
#include "ldcache.h"

#include <string.h>

#define OLD_MAGIC "ld.so-1.7.0"
#define OLD_HDR 16      /* magic[11], pad, uint32 nlibs */
#define OLD_ENT 12      /* int32 flags, uint32 key, uint32 value */
#define NEW_MAGIC "glibc-ld.so.cache1.1"
#define NEW_HDR 48      /* magic+version[20], nlibs, len_strings, flags, pad[3], ext, unused[3] */
#define NEW_ENT 24      /* int32 flags, uint32 key, value, osversion, uint64 hwcap */

static uint32_t u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static uint64_t u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static bool native_order(uint8_t flags)
{
	uint8_t endian = flags & 3;   /* 0 unset, 1 invalid, 2 little, 3 big */
	const uint16_t one = 1;
	bool little = *(const uint8_t *)&one == 1;

	return endian == 0 || endian == (little ? 2 : 3);
}

/* The new table at OFF, if there is one that fits. */
static int parse_new(struct ldcache *lc, const unsigned char *d, size_t size, size_t off)
{
	size_t n;

	if (off > size || size - off < NEW_HDR || memcmp(d + off, NEW_MAGIC, 20) != 0)
		return -1;
	n = u32(d + off + 20);
	if (!native_order(d[off + 28]) || n > (size - off - NEW_HDR) / NEW_ENT)
		return -1;
	lc->table = d + off + NEW_HDR;
	lc->nlibs = n;
	lc->entsize = NEW_ENT;
	lc->strs = d + off;
	lc->strsize = size - off;
	return 0;
}

int ldcache_parse(struct ldcache *lc, const void *data, size_t size)
{
	const unsigned char *d = data;
	size_t n, end;

	memset(lc, 0, sizeof *lc);
	lc->base = d;
	lc->size = size;
	if (size >= OLD_HDR && memcmp(d, OLD_MAGIC, 11) == 0) {
		n = u32(d + 12);
		if (n > (size - OLD_HDR) / OLD_ENT)
			return -1;
		end = OLD_HDR + n * OLD_ENT;
		if (parse_new(lc, d, size, (end + 7) & ~(size_t)7) == 0)
			return 0;
		lc->table = d + OLD_HDR;
		lc->nlibs = n;
		lc->entsize = OLD_ENT;
		lc->strs = d + end;
		lc->strsize = size - end;
		return 0;
	}
	return parse_new(lc, d, size, 0);
}

static const char *str_at(const struct ldcache *lc, uint32_t off)
{
	if (off >= lc->strsize || memchr(lc->strs + off, '\0', lc->strsize - off) == NULL)
		return NULL;
	return (const char *)lc->strs + off;
}

bool ldcache_entry(const struct ldcache *lc, size_t i, struct ldcache_entry *e)
{
	const unsigned char *p;

	if (i >= lc->nlibs)
		return false;
	p = lc->table + i * lc->entsize;
	e->flags = (int32_t)u32(p);
	e->key = str_at(lc, u32(p + 4));
	e->value = str_at(lc, u32(p + 8));
	e->hwcap = lc->entsize == NEW_ENT ? u64(p + 16) : 0;
	return e->key != NULL && e->value != NULL;
}
