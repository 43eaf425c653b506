/* deb822.c — dpkg database stanzas, in place and bounds-checked (see deb822.h). */
#include "deb822.h"

#include <string.h>
#include <strings.h>

/* End of the line at P (its '\n', or END). */
static const char *eol(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

static bool is_blank_line(const char *p, const char *e)
{
	for (; p < e; p++)
		if (*p != ' ' && *p != '\t')
			return false;
	return true;
}

/* A field's first line: a name of printable non-blank characters without ':', not
 * starting with '#' or '-', then ':'. */
static bool is_field_line(const char *p, const char *e)
{
	const char *c = memchr(p, ':', (size_t)(e - p));

	if (c == NULL || c == p || *p == '#' || *p == '-')
		return false;
	for (const char *q = p; q < c; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 127)
			return false;
	return true;
}

int deb822_next(const char *buf, size_t len, size_t *pos, size_t *lineno,
		struct deb822_stanza *st, size_t *badline)
{
	const char *end = buf + len, *p = buf + *pos, *e;

	/* blank lines between stanzas */
	while (p < end) {
		e = eol(p, end);
		if (!is_blank_line(p, e))
			break;
		p = e < end ? e + 1 : end;
		(*lineno)++;
	}
	if (p >= end) {
		*pos = len;
		return 0;
	}
	st->start = p;
	st->line = *lineno;
	for (bool first = true; p < end; first = false) {
		e = eol(p, end);
		if (p == e)
			break;   /* as in dpkg, only an empty line ends a stanza: " " continues */
		if (*p == ' ' || *p == '\t') {
			if (first) {
				*badline = *lineno;
				return -1;
			}
		} else if (!is_field_line(p, e)) {
			*badline = *lineno;
			return -1;
		}
		p = e < end ? e + 1 : end;
		(*lineno)++;
	}
	st->len = (size_t)(p - st->start);
	*pos = (size_t)(p - buf);
	return 1;
}

bool deb822_field_next(const struct deb822_stanza *st, size_t *pos, struct deb822_field *f)
{
	const char *end = st->start + st->len, *p = st->start + *pos, *e, *c, *v, *ve;

	if (p >= end)
		return false;
	e = eol(p, end);
	c = memchr(p, ':', (size_t)(e - p));
	if (c == NULL)
		return false;   /* not from deb822_next */
	f->name = p;
	f->namelen = (size_t)(c - p);
	v = c + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	ve = e;
	/* continuation lines */
	while (e < end && e + 1 < end && (e[1] == ' ' || e[1] == '\t'))
		e = eol(e + 1, end);
	if (ve == e)   /* one line: trailing blanks are not the value */
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
	else
		ve = e;
	f->value = v;
	f->vlen = (size_t)(ve - v);
	f->raw = p;
	p = e < end ? e + 1 : end;
	f->rawlen = (size_t)(p - f->raw);
	*pos = (size_t)(p - st->start);
	return true;
}

bool deb822_get(const struct deb822_stanza *st, const char *name, struct deb822_field *f)
{
	size_t pos = 0, n = strlen(name);

	while (deb822_field_next(st, &pos, f))
		if (f->namelen == n && strncasecmp(f->name, name, n) == 0)
			return true;
	return false;
}

bool deb822_word(const char *value, size_t vlen, size_t n, const char **w, size_t *wlen)
{
	size_t i = 0;

	for (;;) {
		size_t s;

		while (i < vlen && (value[i] == ' ' || value[i] == '\t' || value[i] == '\n'))
			i++;
		if (i == vlen)
			return false;
		s = i;
		while (i < vlen && value[i] != ' ' && value[i] != '\t' && value[i] != '\n')
			i++;
		if (n-- == 0) {
			*w = value + s;
			*wlen = i - s;
			return true;
		}
	}
}
