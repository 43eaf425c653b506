/* main.c — slimfs-export: parse the command line, call export_main(). */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "export.h"
#include "image/img.h"

static const char *prog = "slimfs-export";

static void usage(FILE *f)
{
	char names[256] = "";
	const struct preset_info *p;

	for (size_t i = 0; (p = presets_at(i)) != NULL; i++)
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "|" : "",
			 p->name);
	fprintf(f,
		"Usage: %s [OPTION]... TRACE...\n"
		"Write the lean image that the evidence of the TRACEs asks for.\n"
		"\n"
		"  -o, --output OUT        write OUT.  A trace of a container image (or --from\n"
		"                          one): an image archive, --format oci-archive, by\n"
		"                          default.  A trace of a directory or a flat tarball:\n"
		"                          the lean tree as a tarball compressed by OUT's suffix\n"
		"                          (.tar, .tar.gz or .tgz, .tar.zst, .tar.xz), or a\n"
		"                          directory with --format dir\n"
		"      --format FORMAT     oci-archive (an OCI layout with a docker manifest.json,\n"
		"                          Docker 25's docker save form: podman load and skopeo\n"
		"                          read it), docker-archive (podman keeps a Healthcheck\n"
		"                          only from this one), oci (an OCI layout directory),\n"
		"                          tar (the lean tree, compression by suffix), dir\n"
		"      --tag NAME[:TAG]    the lean image's name (default: the source's, with\n"
		"                          -slim appended to its tag)\n"
		"      --compression-format gzip|zstd|none\n"
		"                          the lean image's layer (default: gzip)\n"
		"      --keep LEVEL        keep paths with at least this evidence:\n"
		"                          lookup (default), open or read\n"
		"      --from IMAGE        the image: a directory, an OCI layout or image archive\n"
		"                          (default: the traces' lowerdir, only when it is an\n"
		"                          image slimfs-run unpacked); an image's config is kept\n"
		"      --include PATTERN   also keep image paths matching PATTERN (glob, ** = any\n"
		"                          number of directories; no leading / = at any depth)\n"
		"      --exclude PATTERN   drop paths matching PATTERN and all below them\n"
		"      --include-from FILE read include patterns from FILE, one per line\n"
		"      --include-exe PATH  also keep program PATH and everything it needs to\n"
		"                          start (#! interpreters, ELF interpreter, libraries)\n"
		"      --include-pkg NAME  also keep every file of Debian package NAME\n"
		"      --include-pkg-deps  ... and of the packages it depends on\n"
		"      --include-preset P  also keep preset P (%s)\n"
		"      --package-db MODE   the lean image's dpkg database: trimmed (default: the\n"
		"                          packages with a kept file), full or none\n"
		"      --sbom FILE         write the lean image's packages as SPDX 2.3 JSON\n"
		"      --list              print the kept paths, sorted, one per line\n"
		"      --stats             print what the image holds and what is kept\n"
		"      --json              print the statistics as one JSON object\n"
		"      --why PATH          explain why PATH is kept or left out\n"
		"  -q, --quiet             no warnings, no progress line\n"
		"  -h, --help              print this help\n"
		"  -V, --version           print the version\n", prog, names);
}

struct strv {
	const char **v;
	char **owned;   /* lines read from files, freed at exit */
	size_t n, nowned;
};

static int strv_add(struct strv *s, const char *str, bool own)
{
	const char **v = realloc(s->v, (s->n + 1) * sizeof *v);

	if (v == NULL)
		return -1;
	s->v = v;
	if (own) {
		char **o = realloc(s->owned, (s->nowned + 1) * sizeof *o);

		if (o == NULL)
			return -1;
		s->owned = o;
		o[s->nowned++] = (char *)str;
	}
	s->v[s->n++] = str;
	return 0;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->v);
}

/* Patterns from FILE, one per line; empty lines and lines starting with '#' skipped. */
static int read_patterns(struct strv *s, const char *file, struct sfs_err *err)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		return sfs_fail(err, errno, "--include-from %s", file);
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *copy;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		copy = strdup(line);
		if (copy == NULL || strv_add(s, copy, true) < 0) {
			free(copy);
			return sfs_fail(err, ENOMEM, "--include-from %s", file);
		}
	}
	if (ferror(f))
		return sfs_fail(err, errno, "--include-from %s", file);
	return 0;
}

enum { OPT_FORMAT = 256, OPT_KEEP, OPT_FROM, OPT_INCLUDE, OPT_EXCLUDE, OPT_INCLUDE_FROM,
       OPT_LIST, OPT_STATS, OPT_JSON, OPT_WHY, OPT_INCLUDE_EXE, OPT_INCLUDE_PKG,
       OPT_INCLUDE_PKG_DEPS, OPT_INCLUDE_PRESET, OPT_PACKAGE_DB, OPT_SBOM, OPT_TAG,
       OPT_COMPRESSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "compression-format", required_argument, NULL, OPT_COMPRESSION },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "include-from", required_argument, NULL, OPT_INCLUDE_FROM },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "why", required_argument, NULL, OPT_WHY },
		{ "include-exe", required_argument, NULL, OPT_INCLUDE_EXE },
		{ "include-pkg", required_argument, NULL, OPT_INCLUDE_PKG },
		{ "include-pkg-deps", no_argument, NULL, OPT_INCLUDE_PKG_DEPS },
		{ "include-preset", required_argument, NULL, OPT_INCLUDE_PRESET },
		{ "package-db", required_argument, NULL, OPT_PACKAGE_DB },
		{ "sbom", required_argument, NULL, OPT_SBOM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct export_opts o = { .keep = EV_LOOKUP, .stdout_ = stdout, .prog = prog };
	struct strv inc = { 0 }, exc = { 0 }, exes = { 0 }, pkgs = { 0 }, presets = { 0 };
	struct sfs_err err = { 0 };
	_cleanup_free_ char *from = NULL;
	int c, ev, ret = 1;

	/* libarchive writes pax names as UTF-8 translated from the locale's charset;
	 * image names are UTF-8 (or bytes), whatever the caller's locale is. */
	setlocale(LC_CTYPE, "C.UTF-8");
	while ((c = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out = optarg;
			break;
		case OPT_FORMAT:
			ev = export_format_from_name(optarg);
			if (ev < 0) {
				fprintf(stderr, "%s: --format %s: expected oci-archive, docker-archive, "
					"oci, tar or dir\n", prog, optarg);
				goto bad_value;
			}
			o.format = (enum export_format)ev;
			break;
		case OPT_TAG:
			o.tag = optarg;
			break;
		case OPT_COMPRESSION:
			ev = export_compress_from_name(optarg);
			if (ev < 0) {
				fprintf(stderr, "%s: --compression-format %s: expected gzip, zstd or "
					"none\n", prog, optarg);
				goto bad_value;
			}
			o.compress = (enum export_compress)ev;
			o.compress_set = true;
			break;
		case OPT_KEEP:
			ev = trace_evidence_from_name(optarg);
			if (ev < EV_LOOKUP) {
				fprintf(stderr, "%s: --keep %s: expected lookup, open or read\n", prog,
					optarg);
				goto usage;
			}
			o.keep = (enum trace_evidence)ev;
			break;
		case OPT_FROM:
			o.from = optarg;
			break;
		case OPT_INCLUDE:
		case OPT_EXCLUDE:
			if (strv_add(c == OPT_INCLUDE ? &inc : &exc, optarg, false) < 0) {
				fprintf(stderr, "%s: out of memory\n", prog);
				goto out;
			}
			break;
		case OPT_INCLUDE_FROM:
			if (read_patterns(&inc, optarg, &err) < 0) {
				sfs_err_print(prog, &err);
				goto out;
			}
			break;
		case OPT_LIST:
			o.list = true;
			break;
		case OPT_STATS:
			o.stats = true;
			break;
		case OPT_JSON:
			o.json = o.stats = true;
			break;
		case OPT_WHY:
			o.why = optarg;
			break;
		case OPT_INCLUDE_EXE:
		case OPT_INCLUDE_PKG:
		case OPT_INCLUDE_PRESET:
			if (c == OPT_INCLUDE_PRESET && presets_find(optarg) == NULL) {
				fprintf(stderr, "%s: --include-preset %s: no such preset\n", prog, optarg);
				goto usage;
			}
			if (strv_add(c == OPT_INCLUDE_EXE ? &exes : c == OPT_INCLUDE_PKG ? &pkgs : &presets,
				     optarg, false) < 0) {
				fprintf(stderr, "%s: out of memory\n", prog);
				goto out;
			}
			break;
		case OPT_INCLUDE_PKG_DEPS:
			o.include_pkg_deps = true;
			break;
		case OPT_PACKAGE_DB:
			if (strcmp(optarg, "trimmed") == 0)
				o.package_db = EXPORT_PKGDB_TRIMMED;
			else if (strcmp(optarg, "full") == 0)
				o.package_db = EXPORT_PKGDB_FULL;
			else if (strcmp(optarg, "none") == 0)
				o.package_db = EXPORT_PKGDB_NONE;
			else {
				fprintf(stderr, "%s: --package-db %s: expected trimmed, full or none\n",
					prog, optarg);
				goto usage;
			}
			break;
		case OPT_SBOM:
			o.sbom = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		case 'V':
			printf("%s %s\n", prog, SLIMFS_VERSION);
			ret = 0;
			goto out;
		default:
			goto usage;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no TRACE given\n", prog);
		goto usage;
	}
	if (!o.out && !o.list && !o.stats && !o.why && !o.sbom) {
		fprintf(stderr, "%s: nothing to do: give -o OUT, --list, --stats, --why PATH or "
			"--sbom FILE\n", prog);
		goto usage;
	}
	if ((o.format == EXPORT_FMT_DIR || o.format == EXPORT_FMT_OCI) && !o.out) {
		fprintf(stderr, "%s: --format %s needs -o DIR\n", prog,
			o.format == EXPORT_FMT_DIR ? "dir" : "oci");
		goto usage;
	}
	/* --from IMAGE: an OCI layout or image archive stands for its unpacked rootfs */
	if (o.from && img_resolve_rootfs(o.from, &from, &err) < 0) {
		sfs_err_print(prog, &err);
		goto out;
	}
	o.from = from ? from : o.from;
	o.traces = (const char *const *)argv + optind;
	o.ntraces = (size_t)(argc - optind);
	o.includes = inc.v;
	o.nincludes = inc.n;
	o.excludes = exc.v;
	o.nexcludes = exc.n;
	o.include_exes = exes.v;
	o.ninclude_exes = exes.n;
	o.include_pkgs = pkgs.v;
	o.ninclude_pkgs = pkgs.n;
	o.presets = presets.v;
	o.npresets = presets.n;
	o.progress = !o.quiet && isatty(STDERR_FILENO);
	tmp_out_signals();
	if (export_main(&o, &err) < 0) {
		sfs_err_print(prog, &err);
		tmp_out_reraise();      /* a ^C: die of it, now that the stand-in is gone */
		goto out;
	}
	tmp_out_reraise();
	ret = 0;
	goto out;
usage:
	fprintf(stderr, "Try '%s --help'.\n", prog);
bad_value:   /* the message named the choices: one line */
	ret = 2;
out:
	strv_free(&inc);
	strv_free(&exc);
	strv_free(&exes);
	strv_free(&pkgs);
	strv_free(&presets);
	return ret;
}
