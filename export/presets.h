/* presets.h — --include-preset NAME: small, documented lists of what a program may need
 * on a path its trace did not take (the table and its rules are in presets.c; the README
 * documents each preset). */
#ifndef SLIMFS_EXPORT_PRESETS_H
#define SLIMFS_EXPORT_PRESETS_H

#include "common/error.h"
#include "elfdeps.h"
#include "export.h"
#include "image.h"
#include "resolve.h"

/* Keep what preset NAME lists: VISIT gets every path (with *DETAIL set to the entry it
 * comes from), programs and libraries go through D.  0, or -1 with ERR (an unknown NAME
 * included). */
int presets_apply(struct image *im, const char *name, struct elfdeps *d, resolve_visit visit,
		  void *vctx, const char **detail, struct sfs_err *err);

#endif
