/* export.c — export_main(): the stages of one export in order (see ctx.h). */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

void ctx_free(struct export_ctx *c)
{
	pathset_free(&c->ps);
	if (c->image_open)
		image_close(&c->im);
	free(c->imagedir);
	free(c->why_ev);
	free(c->hl);
	free(c->lost_ino);
	free(c->link_first);
}

int export_main(const struct export_opts *o, struct sfs_err *err)
{
	struct export_ctx c = { .o = o };
	int ret;

	if (o->ntraces == 0)
		return sfs_fail(err, 0, "no trace given");
	if (o->why && !path_is_clean(o->why, strlen(o->why)))
		return sfs_fail(err, 0, "--why %s: not an absolute path without '.', '..' or "
				"trailing '/'", o->why);
	ret = evidence_load(&c, err);
	if (ret == 0)
		ret = closure_compute(&c, err);
	if (ret == 0 && o->list)
		ret = report_list(&c, err);
	if (ret == 0 && o->why)
		ret = report_why(&c, err);
	if (ret == 0 && o->out)
		ret = write_output(&c, err);
	if (ret == 0 && o->stats)
		ret = report_stats(&c, err);
	ctx_free(&c);
	return ret;
}
