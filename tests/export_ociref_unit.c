/* export_ociref_unit.c — TAP test of the lean image's names (export/ociref.c): --tag
 * checked against docker's reference grammar, and the default made from the source. */
#include <stdlib.h>
#include <string.h>

#include "export/oci.h"
#include "tap.h"

static const struct {
	const char *tag, *want;   /* want NULL: refused */
} tags[] = {
	{ "app", "app:latest" },
	{ "app:1.0", "app:1.0" },
	{ "localhost/app:v2", "localhost/app:v2" },
	{ "registry.example:5000/team/app:v2", "registry.example:5000/team/app:v2" },
	{ "quay.io/a_b/c__d/e-f---g.h:Tag_1.x-2", "quay.io/a_b/c__d/e-f---g.h:Tag_1.x-2" },
	{ "host:5000/app", "host:5000/app:latest" },
	{ "a/b/c/d", "a/b/c/d:latest" },
	{ "App:1", NULL },                  /* upper case in a path component */
	{ "Upper/app", NULL },              /* "Upper" has no '.' or ':': a path component */
	{ "app:1@sha256:00", NULL },        /* no digest */
	{ "app:", NULL },
	{ "app:-x", NULL },
	{ "app:.x", NULL },
	{ "app:t!", NULL },
	{ "/app", NULL },
	{ "a//b", NULL },
	{ "app/", NULL },
	{ "a..b", NULL },
	{ "a___b", NULL },
	{ "a_", NULL },
	{ "-a", NULL },
	{ "host:port/app", NULL },          /* a port is digits */
	{ "-host.com/app", NULL },
	{ "", NULL },
};

static const struct {
	const char *reference, *want;
} defaults[] = {
	{ "localhost/app:1.0", "localhost/app:1.0-slim" },
	{ "localhost/app", "localhost/app:latest-slim" },
	{ "docker.io/library/debian:12", "docker.io/library/debian:12-slim" },
	{ "registry:5000/app", "registry:5000/app:latest-slim" },
	{ "app:1@sha256:abcd", "app:1-slim" },
	{ "1.0", "localhost/slimfs:1.0-slim" },      /* an OCI ref.name: a tag alone */
	{ NULL, "localhost/slimfs:0123456789ab-slim" },
	{ "Not/A/Name", "localhost/slimfs:0123456789ab-slim" },
};

int main(void)
{
	struct sfs_err err;

	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		char *out = NULL;
		int ret = oci_ref_check(tags[i].tag, &out, &err);

		if (tags[i].want)
			TAP_OK(ret == 0 && strcmp(out, tags[i].want) == 0, "--tag %s gives %s",
			       tags[i].tag, tags[i].want);
		else
			TAP_OK(ret < 0 && strstr(err.msg, tags[i].tag) && !strchr(err.msg, '\n'),
			       "--tag '%s' is refused in one line naming it", tags[i].tag);
		free(out);
	}
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		struct img im = {
			.reference = (char *)defaults[i].reference,
			.manifest_digest = "sha256:0123456789abcdef0123456789abcdef"
					   "0123456789abcdef0123456789abcdef",
		};
		char *out = NULL;
		int ret = oci_ref_default(&im, &out, &err);

		TAP_OK(ret == 0 && strcmp(out, defaults[i].want) == 0, "source %s: default %s",
		       defaults[i].reference ? defaults[i].reference : "(no name)", defaults[i].want);
		free(out);
	}
	return tap_done();
}
