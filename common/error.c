/* error.c — filling and printing struct sfs_err (see error.h).
 *
 * A message longer than struct sfs_err holds (a path of the image can be longer than
 * PATH_MAX) loses its middle, never its end: the end says why ("...: File name too
 * long") and names the last component, the start says what was being done.
 */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Put S into ERR->msg, eliding its middle with "..." if it does not fit. */
static void put_msg(struct sfs_err *err, const char *s)
{
	size_t n = strlen(s), cap = sizeof err->msg, head, tail;

	if (n < cap) {
		memcpy(err->msg, s, n + 1);
		return;
	}
	head = (cap - 4) / 3;
	tail = cap - 4 - head;          /* "..." and the NUL take the other 4 */
	memcpy(err->msg, s, head);
	memcpy(err->msg + head, "...", 3);
	memcpy(err->msg + head + 3, s + n - tail, tail);
	err->msg[cap - 1] = '\0';
}

/* FMT with AP, then SUFFIX, as one malloc'd string; NULL when out of memory. */
static char *format(const char *suffix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), nonnull(1, 2)));

static char *format(const char *suffix, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	s = malloc((size_t)n + strlen(suffix) + 1);
	if (!s)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	strcpy(s + n, suffix);
	return s;
}

int sfs_fail(struct sfs_err *err, int errnum, const char *fmt, ...)
{
	char reason[256] = "";
	va_list ap;
	char *s;

	if (err == NULL)
		return -1;
	if (errnum != 0)
		snprintf(reason, sizeof reason, ": %s", strerror(errnum));
	va_start(ap, fmt);
	s = format(reason, fmt, ap);
	va_end(ap);
	put_msg(err, s ? s : "out of memory while reporting an error");
	free(s);
	err->code = errnum;
	return -1;
}

int sfs_wrap(struct sfs_err *err, const char *fmt, ...)
{
	char old[sizeof err->msg + 2];
	va_list ap;
	char *s;

	if (err == NULL)
		return -1;
	snprintf(old, sizeof old, ": %s", err->msg);
	va_start(ap, fmt);
	s = format(old, fmt, ap);
	va_end(ap);
	if (s)
		put_msg(err, s);
	free(s);
	return -1;
}

void sfs_err_print(const char *prog, const struct sfs_err *err)
{
	fprintf(stderr, "%s: %s\n", prog, err->msg[0] ? err->msg : "unknown error");
}

void sfs_warn(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: warning: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
