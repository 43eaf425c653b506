/* glob.c — the `**`-aware path matcher (see glob.h).
 *
 * Recursion is over components; a `**` tries every split point, so a pattern
 * with k `**` costs O(n^k) in the number of path components n, which is small.
 * Components longer than NAME_MAX never match (no path in an image has them).
 */
#include "glob.h"

#include <fnmatch.h>
#include <limits.h>
#include <string.h>

/* End of the component starting at S within [S, END). */
static const char *comp_end(const char *s, const char *end)
{
	const char *p = memchr(s, '/', (size_t)(end - s));

	return p ? p : end;
}

/* P..PEND: pattern components without the leading '/'; S..SEND: path components
 * likewise.  An empty range means "no more components". */
static bool match_from(const char *p, const char *pend, const char *s, const char *send)
{
	const char *pe, *pnext, *se, *snext;
	char pc[NAME_MAX + 1], sc[NAME_MAX + 1];

	while (p < pend && *p == '/')   /* "a//b" in a pattern is "a/b" */
		p++;
	if (p == pend)
		return s == send;
	pe = comp_end(p, pend);
	pnext = pe < pend ? pe + 1 : pe;
	if (pe - p == 2 && p[0] == '*' && p[1] == '*') {
		for (;;) {
			if (match_from(pnext, pend, s, send))
				return true;
			if (s == send)
				return false;
			se = comp_end(s, send);
			s = se < send ? se + 1 : se;
		}
	}
	if (s == send)
		return false;
	se = comp_end(s, send);
	snext = se < send ? se + 1 : se;
	if (pe - p > NAME_MAX || se - s > NAME_MAX)
		return false;
	memcpy(pc, p, (size_t)(pe - p));
	pc[pe - p] = '\0';
	memcpy(sc, s, (size_t)(se - s));
	sc[se - s] = '\0';
	if (fnmatch(pc, sc, 0) != 0)
		return false;
	return match_from(pnext, pend, snext, send);
}

bool glob_match(const char *pattern, const char *path, size_t len)
{
	const char *pend = pattern + strlen(pattern), *send = path + len;

	while (path < send && *path == '/')
		path++;
	if (*pattern == '/')
		return match_from(pattern + 1, pend, path, send);
	/* Relative pattern: at any depth, i.e. behind an implicit leading `**`. */
	for (;;) {
		const char *se;

		if (match_from(pattern, pend, path, send))
			return true;
		if (path == send)
			return false;
		se = comp_end(path, send);
		path = se < send ? se + 1 : se;
	}
}
