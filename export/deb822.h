/* deb822.h — the stanzas of dpkg's database files (status, available, updates/NNNN),
 * read in place, bounds-checked.
 *
 * A stanza is a run of lines "Name: value" (a value goes on over continuation lines,
 * which start with a space or a tab), ended by an empty line or the end of the buffer;
 * lines of blanks between stanzas are skipped.  deb822_next() checks every line of a stanza before it
 * returns it: a line that is neither a field nor a continuation, or a continuation
 * with no field before it, makes the file malformed (dpkg refuses such a file too).
 * Nothing is copied: stanzas and fields point into the caller's buffer, and never past
 * its LEN bytes (the buffer need not be NUL-terminated).  Fuzzed by tests/fuzz/fuzz_deb822.c.
 */
#ifndef SLIMFS_EXPORT_DEB822_H
#define SLIMFS_EXPORT_DEB822_H

#include <stdbool.h>
#include <stddef.h>

struct deb822_stanza {
	const char *start;   /* first byte of the first line */
	size_t len;          /* up to and including the last line's '\n' (if there is one) */
	size_t line;         /* its first line's number, from 1 */
};

struct deb822_field {
	const char *name;    /* "Package" */
	size_t namelen;
	const char *value;   /* blanks after ':' skipped; continuation lines included as they
			      * are; no final newline; trailing blanks of a one-line value cut */
	size_t vlen;
	const char *raw;     /* the field's lines as they are, with their newlines */
	size_t rawlen;
};

/* The next stanza of BUF[*POS..LEN): 1 (ST filled, *POS after it), 0 at the end, -1 when
 * malformed (*BADLINE: the line's number). *LINENO counts lines (start at 1). */
int deb822_next(const char *buf, size_t len, size_t *pos, size_t *lineno,
		struct deb822_stanza *st, size_t *badline);

/* The field at *POS of stanza ST (start with *POS = 0): true with F filled. */
bool deb822_field_next(const struct deb822_stanza *st, size_t *pos, struct deb822_field *f);

/* Field NAME (ASCII case-insensitive) of ST: true with F filled. */
bool deb822_get(const struct deb822_stanza *st, const char *name, struct deb822_field *f);

/* The N-th (from 0) blank-separated word of VALUE[0..VLEN): true with *W, *WLEN. */
bool deb822_word(const char *value, size_t vlen, size_t n, const char **w, size_t *wlen);

#endif
