/* error.c — filling and printing struct sfs_err (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

int sfs_fail(struct sfs_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (errnum != 0 && (size_t)n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
	err->code = errnum;
	return -1;
}

int sfs_wrap(struct sfs_err *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof err->msg];
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) >= (int)sizeof err->msg)
		memcpy(err->msg + sizeof err->msg - 4, "...", 4);   /* truncated, and says so */
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
