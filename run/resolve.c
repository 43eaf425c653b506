/* resolve.c — ROOTFS (and --check's LEAN) as the user names them: a container image
 * (image/img.h: an OCI layout, an oci-archive or a docker-archive, unpacked once into
 * the image cache, with its config) or, as before, a root filesystem directory or a
 * flat tarball (image.c).
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/img.h"

int run_resolve(const char *arg, const char *platform, struct run_image *ri, struct sfs_err *err)
{
	struct img_opts io = { .platform = platform, .prog = "slimfs-run",
			       .interrupted = run_pending_signal };
	int r;

	memset(ri, 0, sizeof *ri);
	r = img_open(arg, &io, &ri->img, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return image_resolve(arg, &ri->dir, err);
	ri->dir = strdup(ri->img->rootfs);
	return ri->dir ? 0 : sfs_fail(err, ENOMEM, "%s", arg);
}

int run_resolve_image(const char *arg, const char *platform, struct run_image *ri,
		      struct sfs_err *err)
{
	struct img_opts io = { .platform = platform, .prog = "slimfs-run",
			       .interrupted = run_pending_signal };
	int r;

	memset(ri, 0, sizeof *ri);
	r = img_open(arg, &io, &ri->img, err);
	if (r <= 0)
		return r;
	ri->dir = strdup(ri->img->rootfs);
	return ri->dir ? 1 : sfs_fail(err, ENOMEM, "%s", arg);
}

void run_image_free(struct run_image *ri)
{
	free(ri->dir);
	img_free(ri->img);
	memset(ri, 0, sizeof *ri);
}
