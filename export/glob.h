/* glob.h — path patterns for --include/--exclude: fnmatch per component, plus `**`.
 *
 * A pattern is matched against an absolute, clean path ("/usr/lib/x.so") one
 * component at a time with fnmatch(3) (no flags: `*` and `?` never cross a '/'
 * because they only ever see one component).  A component that is exactly `**`
 * matches zero or more whole components, so /usr/share/doc/ followed by `**` matches the doc
 * directory and everything below it.  A pattern that does not start with '/'
 * matches at any depth: "*.pyc" behaves as a leading `**` component followed by it.
 */
#ifndef SLIMFS_EXPORT_GLOB_H
#define SLIMFS_EXPORT_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* True if PATTERN matches PATH (LEN bytes, need not be NUL-terminated). */
bool glob_match(const char *pattern, const char *path, size_t len);

#endif
