/* dpkg.h — the image's dpkg database, read (never written) inside the image root.
 *
 * Read: /var/lib/dpkg/status with the journal in updates/ folded over it (as dpkg does
 * before anything else), diversions, and on demand a package's info/ files.  Files are
 * read through resolve.h, so a database that is a symlink out of the image reads
 * nothing of the host.  Stanzas are kept verbatim (deb822.h), so the trimmed database
 * of pkgdb.h copies them byte for byte.
 *
 * Why not libdpkg (libdpkg-dev): it opens its files by name under an admin directory,
 * following symlinks (so an image's /var/lib/dpkg pointing at / would read the host's),
 * it ends the process on a malformed stanza (ohshit) unless every call is wrapped in a
 * longjmp error context, it keeps its database in global state, and it re-serialises
 * stanzas rather than keep them verbatim.  See docs/export-rules.md.
 */
#ifndef SLIMFS_EXPORT_DPKG_H
#define SLIMFS_EXPORT_DPKG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "deb822.h"
#include "image.h"

#define DPKG_DIR "/var/lib/dpkg"

struct dpkg_pkg {
	struct deb822_stanza st;  /* verbatim, in one of the database's buffers */
	char *name, *arch, *version;
	bool present;             /* unpacked or further: its files are on disk */
	char *info;               /* info/ file stem ("libc6:amd64" or "bash"), NULL: none */
	/* for callers */
	int mark;
};

struct dpkg_diversion {
	char *from, *to, *by;     /* by: the diverting package, ":" for a local diversion */
};

struct dpkg_db {
	struct image *im;
	char **bufs;              /* status, then each updates/ file */
	size_t nbufs;
	struct dpkg_pkg *v;       /* in status order; updates replace in place or append */
	size_t n;
	struct dpkg_diversion *div;
	size_t ndiv;
};

/* 0 read, 1 the image has no /var/lib/dpkg/status (not a dpkg image), -1 error (a
 * malformed file is named with its line). */
int dpkg_open(struct dpkg_db *db, struct image *im, struct sfs_err *err);
void dpkg_close(struct dpkg_db *db);

/* The present package NAME ("name" or "name:arch"): its index, or -1. */
ssize_t dpkg_find(const struct dpkg_db *db, const char *name);

/* info/STEM.EXT of package I ("list", "md5sums", "conffiles") into *BUF (*LEN bytes,
 * NUL-terminated): 0, 1 when there is none, -1 error. */
int dpkg_info(struct dpkg_db *db, size_t i, const char *ext, char **buf, size_t *len,
	      struct sfs_err *err);

/* Where file PATH of package I really is: the diverted name when another package (or
 * the admin) diverted it, else PATH itself. */
const char *dpkg_divert(const struct dpkg_db *db, size_t i, const char *path);

/* The packages package I depends on (Depends and Pre-Depends): each alternative group
 * "a | b" resolved to its first alternative that a present package is, or provides (all
 * present providers of a virtual package).  CB gets each index; duplicates possible. */
typedef int (*dpkg_dep_cb)(void *ctx, size_t dep, struct sfs_err *err);
int dpkg_depends(const struct dpkg_db *db, size_t i, dpkg_dep_cb cb, void *ctx,
		 struct sfs_err *err);

/* The next line of BUF[*POS..LEN) into *LINE (*LLEN, no newline): false at the end. */
bool dpkg_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *llen);

#endif
