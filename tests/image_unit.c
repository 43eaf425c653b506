/* image_unit.c — image/ as a library: platforms, names, digests, the path set, and the
 * public API the exporter builds on (img_open, img_from_rootfs, img_resolve_rootfs) on a
 * one-layer OCI layout this test writes itself (libarchive for the layer, jansson for
 * the JSON), into a private cache. */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"
#include "tap.h"

static char dir[] = "/tmp/slimfs-image-unit-XXXXXX";

static void test_platforms(void)
{
	struct platform want, have;
	struct sfs_err err;

	TAP_OK(platform_parse("linux/arm64/v8", &want, &err) == 0 && !strcmp(want.arch, "arm64") &&
	       !strcmp(want.variant, "v8"), "os/arch/variant parses");
	TAP_OK(platform_parse("linux", &want, &err) < 0 && platform_parse("linux//v8", &want, &err) < 0 &&
	       platform_parse("Linux/amd64", &want, &err) < 0, "malformed platforms are refused");
	platform_parse("linux/arm64/v8", &want, &err);
	platform_parse("linux/arm64", &have, &err);
	TAP_OK(platform_match(&want, &have), "arm64 without a variant is v8");
	platform_parse("linux/arm64", &want, &err);
	platform_parse("linux/arm64/v8", &have, &err);
	TAP_OK(platform_match(&want, &have) && !platform_exact(&want, &have),
	       "no variant asked: any matches, none exactly");
	platform_parse("linux/amd64", &want, &err);
	platform_parse("unknown/unknown", &have, &err);
	TAP_OK(!platform_match(&want, &have) && platform_unknown(&have),
	       "unknown/unknown (attestations) never matches");
	platform_host(&have);
	TAP_OK(!strcmp(have.os, "linux") && have.arch[0], "the host has a platform: %s",
	       img_host_platform());
}

static void test_names_digests_sets(void)
{
	struct strset set = { 0 };
	char d[DIGEST_SIZE];
	struct sfs_err err;

	TAP_OK(ref_equal("foo", "docker.io/library/foo:latest", true) &&
	       ref_equal("quay.io/a/b:1", "quay.io/a/b:1", true) &&
	       !ref_equal("foo", "docker.io/library/foo:latest", false) &&
	       !ref_equal("foo:1", "foo:2", true), "Docker names compare in full");
	static const char *const names[][2] = {
		{ "app", "docker.io/library/app:latest" },
		{ "app:1", "docker.io/library/app:1" },
		{ "user/app", "docker.io/user/app:latest" },
		{ "localhost/app:1", "localhost/app:1" },
		{ "host:5000/x", "host:5000/x:latest" },
		{ "quay.io/a/b@sha256:00", "quay.io/a/b@sha256:00" },
	};
	bool all = true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *full = img_docker_name(names[i][0]);

		all = all && full && !strcmp(full, names[i][1]);
		free(full);
	}
	TAP_OK(all, "img_docker_name: registry, library/ and :latest where Docker adds them");
	TAP_OK(digest_of("abc", 3, d, &err) == 0 &&
	       !strcmp(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	       "sha256 of abc");
	TAP_OK(digest_valid(d) && !digest_valid("sha256:BA78") && !digest_valid("sha512:ab") &&
	       !digest_valid(NULL), "only sha256 digests of 64 lowercase hex digits");
	for (int i = 0; i < 5000; i++) {
		char s[32];

		snprintf(s, sizeof s, "usr/lib/f%d", i);
		strset_add(&set, s, strlen(s));
	}
	TAP_OK(set.n == 5000 && strset_has(&set, "usr/lib/f4999", 13) &&
	       !strset_has(&set, "usr/lib/f5000", 13) && !strset_add(&set, "usr/lib/f7", 10) &&
	       strset_has(&set, "usr/lib/f12345", 10), "the path set grows and finds by length");
	strset_clear(&set);
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(buf, 1, len, f) != len)
		return -1;
	return fclose(f);
}

/* A blob of the layout at DIR: written, its digest into D. */
static void put_blob(const char *layout, const void *buf, size_t len, char d[DIGEST_SIZE])
{
	char path[512];
	struct sfs_err err;

	digest_of(buf, len, d, &err);
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, d + 7);
	write_file(path, buf, len);
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s;
}

/* A layout with one image: one layer holding etc/hello; config with the given bits. */
static void make_layout(const char *layout)
{
	char path[512], layer_d[DIGEST_SIZE], config_d[DIGEST_SIZE], manifest_d[DIGEST_SIZE];
	static char tar[10240];
	size_t used = 0;
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct platform p;
	char *config, *manifest, *index;

	snprintf(path, sizeof path, "%s/blobs/sha256", layout);
	mkdir(layout, 0755);
	snprintf(path, sizeof path, "%s/blobs", layout);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/blobs/sha256", layout);
	mkdir(path, 0755);
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, tar, sizeof tar, &used);
	archive_entry_set_pathname(e, "etc/hello");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 6);
	archive_write_header(a, e);
	archive_write_data(a, "hello\n", 6);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	put_blob(layout, tar, used, layer_d);   /* uncompressed: digest = diff_id */
	platform_host(&p);
	config = dump(json_pack("{s:s, s:s, s:{s:[s], s:[s], s:s, s:s}, s:{s:s, s:[s]}}",
				"os", p.os, "architecture", p.arch,
				"config", "Entrypoint", "/bin/app", "Env", "A=1", "User", "daemon",
				"WorkingDir", "/srv",
				"rootfs", "type", "layers", "diff_ids", layer_d));
	put_blob(layout, config, strlen(config), config_d);
	manifest = dump(json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}",
				  "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
				  "config", "mediaType", MT_OCI_CONFIG, "digest", config_d,
				  "size", (json_int_t)strlen(config),
				  "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar",
				  "digest", layer_d, "size", (json_int_t)used));
	put_blob(layout, manifest, strlen(manifest), manifest_d);
	index = dump(json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2,
			       "manifests", "mediaType", MT_OCI_MANIFEST, "digest", manifest_d,
			       "size", (json_int_t)strlen(manifest),
			       "annotations", ANN_REF_NAME, "unit"));
	snprintf(path, sizeof path, "%s/index.json", layout);
	write_file(path, index, strlen(index));
	snprintf(path, sizeof path, "%s/oci-layout", layout);
	write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(config);
	free(manifest);
	free(index);
}

/* img_cache_path: the entry and its rootfs spelt exactly, nothing else. */
static void test_cache_path(const struct img *im, const char *cache)
{
	char p[600], *hex = strrchr(im->entry, '/') + 1;

	TAP_OK(img_cache_path(im->entry, "") && img_cache_path(im->rootfs, "/rootfs"),
	       "img_cache_path: the entry, and its rootfs");
	TAP_OK(!img_cache_path(im->rootfs, "") && !img_cache_path(im->entry, "/rootfs"),
	       "img_cache_path: the suffix exactly");
	snprintf(p, sizeof p, "%s/", im->rootfs);
	TAP_OK(!img_cache_path(p, "/rootfs"), "img_cache_path: no trailing slash");
	snprintf(p, sizeof p, "%s/images/%.63s/rootfs", cache, hex);
	TAP_OK(!img_cache_path(p, "/rootfs"), "img_cache_path: 63 hex digits are not an entry");
	snprintf(p, sizeof p, "%s/images/%.63sA/rootfs", cache, hex);
	TAP_OK(!img_cache_path(p, "/rootfs"), "img_cache_path: upper-case hex is not an entry");
	snprintf(p, sizeof p, "%s/alias", dir);
	bool linked = symlink(cache, p) == 0;
	snprintf(p, sizeof p, "%s/alias/images/%s/rootfs", dir, hex);
	TAP_OK(linked && !img_cache_path(p, "/rootfs"),
	       "img_cache_path: the cache through a symlink is not its spelling");
	snprintf(p, sizeof p, "%s/layout/images/%s/rootfs", dir, hex);
	TAP_OK(!img_cache_path(p, "/rootfs"), "img_cache_path: images/<hex> elsewhere is no entry");
}

static void test_api(void)
{
	char layout[256], cache[256], arg[300], path[512], *rootfs = NULL;
	struct img *im = NULL, *back = NULL;
	struct img_opts o = { .prog = "image_unit" };
	struct sfs_err err = { 0 };
	struct stat st;
	FILE *f;

	snprintf(layout, sizeof layout, "%s/layout", dir);
	snprintf(cache, sizeof cache, "%s/cache", dir);
	make_layout(layout);
	setenv("SLIMFS_CACHE", cache, 1);
	snprintf(arg, sizeof arg, "%s:unit", layout);
	TAP_OK(img_open(arg, &o, &im, &err) == 1, "img_open: the layout by name (%s)", err.msg);
	if (!im)
		return;
	snprintf(path, sizeof path, "%s/etc/hello", im->rootfs);
	TAP_OK(stat(path, &st) == 0 && st.st_size == 6, "its layer is in rootfs/");
	TAP_OK(im->format == IMG_FMT_OCI && !strcmp(img_format_name(im->format), "oci") &&
	       im->reference && !strcmp(im->reference, "unit") && !strcmp(im->platform, img_host_platform()),
	       "format, reference and platform");
	TAP_OK(im->config.entrypoint && !strcmp(im->config.entrypoint[0], "/bin/app") &&
	       !im->config.cmd && !strcmp(im->config.env[0], "A=1") && !strcmp(im->config.user, "daemon") &&
	       !strcmp(im->config.working_dir, "/srv"), "the config's run fields");
	TAP_OK(!strncmp(im->entry, cache, strlen(cache)) &&
	       !strcmp(strrchr(im->entry, '/') + 1, im->manifest_digest + 7),
	       "the entry is CACHE/images/<manifest hex>");
	test_cache_path(im, cache);
	TAP_OK(img_from_rootfs(im->rootfs, &back, &err) == 1 && back, "img_from_rootfs: the entry's rootfs");
	if (back) {
		TAP_OK(!strcmp(back->manifest_digest, im->manifest_digest) &&
		       !strcmp(back->config_digest, im->config_digest) && !strcmp(back->source, layout) &&
		       !strcmp(back->reference, "unit") && back->format == IMG_FMT_OCI &&
		       back->config_len == im->config_len &&
		       !memcmp(back->config_json, im->config_json, im->config_len) &&
		       !strcmp(back->config.user, "daemon"), "reads back the record and the config");
		img_free(back);
		back = NULL;
	}
	TAP_OK(img_from_rootfs(layout, &back, &err) == 0 && !back, "any other directory is no entry");
	snprintf(path, sizeof path, "%s/config.json", im->entry);
	f = fopen(path, "a");
	if (f) {
		fputs(" ", f);
		fclose(f);
	}
	TAP_OK(img_from_rootfs(im->rootfs, &back, &err) < 0 && strstr(err.msg, "does not hash to"),
	       "a config.json changed in the cache is refused: %s", err.msg);
	TAP_OK(img_resolve_rootfs(layout, &rootfs, &err) == 0 && !strcmp(rootfs, im->rootfs),
	       "img_resolve_rootfs: an image gives its cached rootfs");
	free(rootfs);
	TAP_OK(img_resolve_rootfs(dir, &rootfs, &err) == 0 && !strcmp(rootfs, dir),
	       "img_resolve_rootfs: a directory stays as it is");
	free(rootfs);
	img_free(im);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	test_platforms();
	test_names_digests_sets();
	test_api();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
