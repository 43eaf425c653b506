/* platform.c — platforms as the image-spec names them (image-index.md, "platform":
 * os, architecture, variant; values as Go's GOOS/GOARCH): the host's, "os/arch[/variant]"
 * as --platform takes it, and whether a manifest's platform matches the one asked for.
 *
 * Matching: os and architecture equal; a variant only when one is asked for, with the
 * defaults image-spec's table of variants implies (arm64 without a variant is v8, amd64
 * v1, arm v7).  "unknown/unknown" (buildkit's attestation manifests) never matches.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static const struct {
	const char *machine, *arch, *variant;
} arches[] = {
	{ "x86_64", "amd64", "" }, { "amd64", "amd64", "" },
	{ "aarch64", "arm64", "v8" }, { "arm64", "arm64", "v8" },
	{ "armv8l", "arm", "v8" }, { "armv7l", "arm", "v7" }, { "armv7", "arm", "v7" },
	{ "armv6l", "arm", "v6" }, { "armv5tel", "arm", "v5" },
	{ "i386", "386", "" }, { "i486", "386", "" }, { "i586", "386", "" }, { "i686", "386", "" },
	{ "ppc64le", "ppc64le", "" }, { "ppc64", "ppc64", "" }, { "s390x", "s390x", "" },
	{ "riscv64", "riscv64", "" }, { "mips64", "mips64", "" }, { "loongarch64", "loong64", "" },
};

void platform_host(struct platform *p)
{
	struct utsname u;
	const char *arch = "", *variant = "";

	if (uname(&u) == 0) {
		arch = u.machine;
		for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
			if (strcmp(u.machine, arches[i].machine) == 0) {
				arch = arches[i].arch;
				variant = arches[i].variant;
				break;
			}
	}
	snprintf(p->os, sizeof p->os, "linux");
	snprintf(p->arch, sizeof p->arch, "%.31s", arch);
	snprintf(p->variant, sizeof p->variant, "%s", variant);
}

const char *img_host_platform(void)
{
	static char s[PLATFORM_SIZE];
	struct platform p;

	platform_host(&p);
	platform_format(&p, s);
	return s;
}

static bool word_ok(const char *s, size_t len)
{
	if (len == 0 || len >= PLATFORM_WORD)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int platform_parse(const char *s, struct platform *p, struct sfs_err *err)
{
	const char *a = strchr(s, '/'), *v = a ? strchr(a + 1, '/') : NULL;
	size_t los, larch, lvar;

	memset(p, 0, sizeof *p);
	if (!a)
		goto bad;
	los = (size_t)(a - s);
	larch = v ? (size_t)(v - a - 1) : strlen(a + 1);
	lvar = v ? strlen(v + 1) : 0;
	if (!word_ok(s, los) || !word_ok(a + 1, larch) || (v && !word_ok(v + 1, lvar)))
		goto bad;
	memcpy(p->os, s, los);
	memcpy(p->arch, a + 1, larch);
	if (v)
		memcpy(p->variant, v + 1, lvar);
	return 0;
bad:
	return sfs_fail(err, 0, "--platform %s: expected os/arch[/variant] (e.g. linux/amd64)", s);
}

void platform_format(const struct platform *p, char out[PLATFORM_SIZE])
{
	snprintf(out, PLATFORM_SIZE, "%s/%s%s%s", p->os[0] ? p->os : "?", p->arch[0] ? p->arch : "?",
		 p->variant[0] ? "/" : "", p->variant);
}

/* The variant ARCH implies when none is written. */
static const char *default_variant(const char *arch)
{
	if (strcmp(arch, "arm64") == 0)
		return "v8";
	if (strcmp(arch, "amd64") == 0)
		return "v1";
	if (strcmp(arch, "arm") == 0)
		return "v7";
	return "";
}

bool platform_unknown(const struct platform *p)
{
	return strcmp(p->os, "unknown") == 0 && strcmp(p->arch, "unknown") == 0;
}

bool platform_match(const struct platform *want, const struct platform *have)
{
	const char *wv, *hv;

	if (platform_unknown(have) || strcmp(want->os, have->os) != 0 ||
	    strcmp(want->arch, have->arch) != 0)
		return false;
	if (!want->variant[0])
		return true;
	wv = want->variant;
	hv = have->variant[0] ? have->variant : default_variant(have->arch);
	return strcmp(wv, hv) == 0 || (strcmp(wv, default_variant(want->arch)) == 0 && !hv[0]);
}

bool platform_exact(const struct platform *want, const struct platform *have)
{
	return platform_match(want, have) && strcmp(want->variant, have->variant) == 0;
}
