/* export.c — export_main(): the stages of one export in order (see ctx.h); an image's
 * trace is written as an image (oci.h) unless --format says otherwise. */
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "dpkg.h"

void ctx_free(struct export_ctx *c)
{
	pathset_free(&c->ps);
	if (c->image_open)
		image_close(&c->im);
	free(c->imagedir);
	free(c->why_ev);
	for (size_t i = 0; i < c->nwhy_rules; i++)
		free(c->why_rules[i]);
	free(c->why_rules);
	if (c->db) {
		dpkg_close(c->db);
		free(c->db);
	}
	for (size_t i = 0; i < c->ngen; i++) {
		free(c->gen[i].path);
		free(c->gen[i].data);
	}
	free(c->gen);
	free(c->dbdir);
	free(c->hl);
	free(c->lost_ino);
	free(c->link_first);
	oci_source_free(c->src);
	oci_plan_free(&c->plan);
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
	for (size_t i = 0; i < o->npresets; i++)
		if (presets_find(o->presets[i]) == NULL)
			return sfs_fail(err, 0, "--include-preset %s: no such preset", o->presets[i]);
	if (o->sbom && o->package_db == EXPORT_PKGDB_NONE)
		return sfs_fail(err, 0, "--sbom %s: --package-db none leaves no package to list",
				o->sbom);
	ret = evidence_load(&c, err);
	if (ret == 0)
		ret = oci_prepare(&c, err);
	if (ret == 0)
		ret = closure_compute(&c, err);
	if (ret == 0 && o->list)
		ret = report_list(&c, err);
	if (ret == 0 && o->why)
		ret = report_why(&c, err);
	if (ret == 0 && o->out)
		ret = c.plan.ref ? oci_write(&c, err) : write_output(&c, err);
	if (ret == 0 && o->sbom)
		ret = sbom_write(&c, err);
	if (ret == 0 && o->stats)
		ret = report_stats(&c, err);
	ctx_free(&c);
	return ret;
}
