/* ocisrc.c — the image cache entry behind the image root export reads (see oci.h).
 *
 * The entry's files are read only from an entry export trusts (docs/image-export.md,
 * "Where the config comes from"): the cache's own entry, CACHE/images/<64 hex>, found
 * from the image root's realpath by the image library (img_from_rootfs, which reads
 * image.json and config.json inside the entry and checks config.json against the
 * config_digest image.json records).  --from may name the entry directory itself, or
 * an image (main.c resolves that to its entry's rootfs).  A trace's lowerdir that merely
 * looks like an entry elsewhere is a plain directory: its neighbours are never opened.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "ctx.h"
#include "image/img.h"

void oci_source_free(struct oci_source *s)
{
	if (s == NULL)
		return;
	img_free(s->im);
	json_decref(s->config);
	free(s);
}

/* S with IM (now S's) and its config.json parsed. */
static int load(struct oci_source *s, struct img *im, struct sfs_err *err)
{
	json_error_t jerr;

	s->im = im;
	s->config = json_loadb(im->config_json, im->config_len, 0, &jerr);
	if (s->config == NULL)
		return sfs_fail(err, 0, "image %s: config.json: %s (line %d)", im->entry, jerr.text,
				jerr.line);
	if (!json_is_object(s->config))
		return sfs_fail(err, 0, "image %s: config.json is not a JSON object", im->entry);
	return 0;
}

int oci_source_find(struct export_ctx *c, struct sfs_err *err)
{
	_cleanup_free_ char *real = realpath(c->imagedir, NULL);
	struct img *im = NULL;
	int ret;

	if (real == NULL)
		return 0;   /* image_open names the problem */
	if (c->o->from && img_cache_path(real, "")) {   /* --from CACHE/images/<hex> */
		free(c->imagedir);
		if (asprintf(&c->imagedir, "%s/rootfs", real) < 0) {
			c->imagedir = NULL;
			return sfs_fail(err, ENOMEM, "image %s", real);
		}
	}
	ret = img_from_rootfs(c->imagedir, &im, err);
	if (ret <= 0)
		return ret;   /* 0: not an entry with a config; -1: a broken one */
	c->src = calloc(1, sizeof *c->src);
	if (c->src == NULL) {
		ret = sfs_fail(err, ENOMEM, "image %s", im->entry);
		img_free(im);
		return ret;
	}
	return load(c->src, im, err);
}
