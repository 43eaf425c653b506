/* error.h — the one error idiom of slimfs.
 *
 * A function that can fail returns int: 0 (or a count) on success, -1 on failure,
 * and fills the struct sfs_err its caller passed with errno and a one-line message
 * naming the thing that failed.  The caller either returns -1 again (optionally
 * prefixing context with sfs_wrap) or prints the message with sfs_err_print.
 */
#ifndef SLIMFS_ERROR_H
#define SLIMFS_ERROR_H

#include <stdarg.h>

struct sfs_err {
	int code;        /* errno value, 0 when the error is not a system error */
	char msg[1024];  /* one line, no trailing newline */
};

/* Fill err; append ": strerror(errnum)" when errnum != 0.  Returns -1. */
int sfs_fail(struct sfs_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an already filled error with more context ("what: old message").  Returns -1. */
int sfs_wrap(struct sfs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "prog: message\n" to stderr. */
void sfs_err_print(const char *prog, const struct sfs_err *err);

/* Print a warning "prog: warning: ...\n" to stderr. */
void sfs_warn(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
