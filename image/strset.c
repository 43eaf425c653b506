/* strset.c — a set of strings (the paths one layer created), open addressing with
 * linear probing, FNV-1a hashes, at most half full.  Strings are copied in. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fputs("slimfs: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* The slot of S: where it is, or the empty slot where it would go. */
static size_t slot_of(char **slots, size_t cap, const char *s, size_t len)
{
	size_t i = (size_t)hash(s, len) & (cap - 1);

	while (slots[i] && (strncmp(slots[i], s, len) != 0 || slots[i][len] != '\0'))
		i = (i + 1) & (cap - 1);
	return i;
}

static void grow(struct strset *set)
{
	size_t cap = set->cap ? set->cap * 2 : 1024;
	char **slots = xcalloc(cap, sizeof *slots);

	for (size_t i = 0; i < set->cap; i++)
		if (set->slots[i])
			slots[slot_of(slots, cap, set->slots[i], strlen(set->slots[i]))] = set->slots[i];
	free(set->slots);
	set->slots = slots;
	set->cap = cap;
}

bool strset_has(const struct strset *set, const char *s, size_t len)
{
	return set->n && set->slots[slot_of(set->slots, set->cap, s, len)] != NULL;
}

bool strset_add(struct strset *set, const char *s, size_t len)
{
	size_t i;
	char *copy;

	if (2 * (set->n + 1) > set->cap)
		grow(set);
	i = slot_of(set->slots, set->cap, s, len);
	if (set->slots[i])
		return false;
	copy = malloc(len + 1);
	if (!copy) {
		fputs("slimfs: out of memory\n", stderr);
		abort();
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	set->slots[i] = copy;
	set->n++;
	return true;
}

void strset_clear(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slots[i]);
	free(set->slots);
	memset(set, 0, sizeof *set);
}
