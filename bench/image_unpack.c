/* image_unpack.c — one image unpacked into a fresh cache and nothing else: what
 * bench/image_unpack.sh times against `umoci unpack`.
 *
 * usage: image_unpack IMAGE CACHE    (CACHE must not hold the image yet) */
#include <stdio.h>

#include "image/img.h"

int main(int argc, char **argv)
{
	struct img_opts o = { .prog = "image_unpack" };
	struct sfs_err err = { 0 };
	struct img *im;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: image_unpack IMAGE CACHE\n");
		return 2;
	}
	o.cache = argv[2];
	r = img_open(argv[1], &o, &im, &err);
	if (r < 0) {
		sfs_err_print("image_unpack", &err);
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "image_unpack: %s: not an image\n", argv[1]);
		return 1;
	}
	puts(im->rootfs);
	img_free(im);
	return 0;
}
