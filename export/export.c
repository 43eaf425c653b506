/* export.c — export_main(): the stages of one export in order (see ctx.h); an image's
 * trace is written as an image (oci.h) unless --format says otherwise. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* SOURCE_DATE_EPOCH, reproducible builds' date: whole seconds since 1970 that gmtime
 * can spell in four digits, or unset (-1).  Anything else is refused before any work. */
static int source_date_epoch(int64_t *out, struct sfs_err *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;
	struct tm tm;
	time_t t;

	*out = -1;
	if (!sde || !*sde)
		return 0;
	errno = 0;
	v = strtoll(sde, &end, 10);
	t = (time_t)v;
	if (errno || *end || v < 0 || sde[0] < '0' || sde[0] > '9' || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999)
		return sfs_fail(err, 0, "SOURCE_DATE_EPOCH=%s: not a number of seconds since 1970", sde);
	*out = v;
	return 0;
}

int export_main(const struct export_opts *o, struct sfs_err *err)
{
	struct export_ctx c = { .o = o };
	int ret;

	if (o->ntraces == 0)
		return sfs_fail(err, 0, "no trace given");
	if (source_date_epoch(&c.sde, err) < 0)
		return -1;
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
