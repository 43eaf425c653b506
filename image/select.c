/* select.c — from a source to one image: its manifest, config and layers, every blob
 * read here checked against its digest and size (src_read_blob).
 *
 * OCI layouts and archives (image-layout.md "index.json"): the descriptors of
 * index.json, narrowed by REF (annotation org.opencontainers.image.ref.name; in a
 * Docker 25+ archive also io.containerd.image.name, compared as Docker names), then
 * expanded through nested indexes (image-index.md) to the manifests whose platform
 * matches; attestation manifests and unknown/unknown platforms are skipped, and so are
 * descriptors of unknown media types while another candidate remains.  One candidate
 * must be left (an exact variant match wins over a default one).
 *
 * Classic docker-archives: manifest.json's item (by RepoTags), its config member (whose
 * name is its digest: checked) and layer members.  The manifest is the Docker schema 2
 * manifest skopeo derives (layers by diff_id, with their uncompressed sizes), so the
 * manifest digest slimfs records is the one `skopeo inspect docker-archive:` shows.
 */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

void selection_free(struct selection *sel)
{
	free(sel->manifest_json);
	manifest_free(&sel->m);
	free(sel->config_json);
	img_config_free(&sel->config);
	config_info_free(&sel->ci);
	free(sel->reference);
	strv_free(sel->layer_files);
	memset(sel, 0, sizeof *sel);
}

/* Everything one selection walk saw; the indexes read stay alive for the pointers. */
struct walk {
	const struct src *s;
	const struct platform *want;
	struct { struct desc *d; size_t n; } *lists;
	size_t nlists;
	const struct desc **cand;       /* image manifests of a matching (or no) platform */
	size_t ncand;
	char others[512];               /* platforms seen and not taken */
	const char *unknown_mt;         /* a media type skipped */
	const char *unknown_digest;
};

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->nlists; i++)
		descs_free(w->lists[i].d, w->lists[i].n);
	free(w->lists);
	free(w->cand);
}

static int keep_list(struct walk *w, struct desc *d, size_t n, struct sfs_err *err)
{
	void *p = realloc(w->lists, (w->nlists + 1) * sizeof *w->lists);

	if (!p) {
		descs_free(d, n);
		return sfs_fail(err, ENOMEM, "%s", w->s->name);
	}
	w->lists = p;
	w->lists[w->nlists].d = d;
	w->lists[w->nlists].n = n;
	w->nlists++;
	return 0;
}

static void note_other(struct walk *w, const struct platform *p)
{
	char s[PLATFORM_SIZE];
	size_t len = strlen(w->others);

	platform_format(p, s);
	if (strstr(w->others, s) || len + strlen(s) + 3 >= sizeof w->others)
		return;
	snprintf(w->others + len, sizeof w->others - len, "%s%s", len ? ", " : "", s);
}

static int collect(struct walk *w, const struct desc *d, int depth, struct sfs_err *err)
{
	if (d->attestation || (d->has_platform && platform_unknown(&d->platform)))
		return 0;
	if (mt_is_index(d->media_type)) {
		_cleanup_free_ char *buf = NULL;
		struct desc *sub = NULL;
		size_t len, n = 0;
		char what[256];

		if (depth >= INDEX_DEPTH)
			return sfs_fail(err, 0, "%s: index %s: indexes nested deeper than %d: refused",
					w->s->name, d->digest, INDEX_DEPTH);
		if (src_read_blob(w->s, d, "index", JSON_MAX, &buf, &len, err) < 0)
			return -1;
		snprintf(what, sizeof what, "%s: index %s", w->s->name, d->digest);
		if (index_parse(buf, len, what, &sub, &n, err) < 0) {
			descs_free(sub, n);
			return -1;
		}
		if (keep_list(w, sub, n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (collect(w, &sub[i], depth + 1, err) < 0)
				return -1;
		return 0;
	}
	if (!mt_is_manifest(d->media_type)) {
		w->unknown_mt = d->media_type ? d->media_type : "(none)";
		w->unknown_digest = d->digest;
		return 0;
	}
	if (d->has_platform && !platform_match(w->want, &d->platform)) {
		note_other(w, &d->platform);
		return 0;
	}
	{
		const struct desc **c = realloc(w->cand, (w->ncand + 1) * sizeof *c);

		if (!c)
			return sfs_fail(err, ENOMEM, "%s", w->s->name);
		w->cand = c;
		w->cand[w->ncand++] = d;
	}
	return 0;
}

/* The names index.json offers, for "name one of" messages. */
static void list_names(const struct desc *d, size_t n, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(out);

		if (d[i].ref_name && !strstr(out, d[i].ref_name) && len + strlen(d[i].ref_name) + 3 < cap)
			snprintf(out + len, cap - len, "%s%s", len ? ", " : "", d[i].ref_name);
	}
	if (!out[0])
		snprintf(out, cap, "none carries a name");
}

/* layer.c knows the layer media types; check them before anything is unpacked. */
static int check_layers(const struct src *s, const struct manifest *m, struct sfs_err *err)
{
	for (size_t i = 0; i < m->nlayers; i++)
		if (layer_compression(m->layers[i].media_type) == LAYER_UNKNOWN)
			return sfs_fail(err, 0, "%s: layer %s: unknown media type %s", s->name,
					m->layers[i].digest, m->layers[i].media_type ?: "(none)");
	return 0;
}

static int read_config(const struct src *s, struct selection *sel, struct sfs_err *err)
{
	char what[256];

	snprintf(what, sizeof what, "%s: config %s", s->name, sel->m.config.digest);
	if (!mt_is_config(sel->m.config.media_type))
		return sfs_fail(err, 0, "%s: unknown media type %s (not an image config)", what,
				sel->m.config.media_type ?: "(none)");
	if (src_read_blob(s, &sel->m.config, "config", CONFIG_MAX, &sel->config_json,
			  &sel->config_len, err) < 0)
		return -1;
	if (config_parse(sel->config_json, sel->config_len, what, &sel->config, &sel->ci, err) < 0)
		return -1;
	if (sel->ci.ndiff_ids != sel->m.nlayers)
		return sfs_fail(err, 0, "%s: %zu diff_ids for %zu layers", what, sel->ci.ndiff_ids,
				sel->m.nlayers);
	return 0;
}

static void config_platform(const struct img_config *c, struct platform *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->os, sizeof p->os, "%s", c->os ?: "");
	snprintf(p->arch, sizeof p->arch, "%s", c->architecture ?: "");
	snprintf(p->variant, sizeof p->variant, "%s", c->variant ?: "");
}

/* The config's platform against the one asked for (when the index did not say). */
static int check_platform(const struct src *s, struct selection *sel, const struct platform *want,
			  bool explicit, bool checked, const char *prog, struct sfs_err *err)
{
	struct platform have;
	char w[PLATFORM_SIZE];

	config_platform(&sel->config, &have);
	platform_format(&have, sel->platform);
	if (checked || platform_match(want, &have))
		return 0;
	platform_format(want, w);
	if (explicit)
		return sfs_fail(err, 0, "%s: no manifest for platform %s (the image is %s)", s->name, w,
				sel->platform);
	sfs_warn(prog, "%s: the image's platform %s is not the host's (%s)", s->name,
		 sel->platform, w);
	return 0;
}

static int select_oci(const struct src *s, const char *ref, const struct platform *want,
		      bool explicit, const char *prog, struct selection *sel, struct sfs_err *err)
{
	_cleanup_free_ char *buf = NULL;
	struct walk w = { .s = s, .want = want };
	struct desc *top = NULL, *chosen;
	size_t len, ntop = 0, nchosen;
	char what[256], names[512], wp[PLATFORM_SIZE];
	bool named = false;
	int ret = -1;

	snprintf(what, sizeof what, "%s: index.json", s->name);
	if (src_read_file(s, "index.json", JSON_MAX, &buf, &len, err) < 0)
		return -1;
	if (index_parse(buf, len, what, &top, &ntop, err) < 0) {
		descs_free(top, ntop);
		return -1;
	}
	if (keep_list(&w, top, ntop, err) < 0)
		goto out;
	for (size_t i = 0; i < ntop; i++) {
		if (ref && !ref_equal(ref, top[i].ref_name, false) &&
		    !ref_equal(ref, top[i].image_name, true))
			continue;
		named = true;
		if (collect(&w, &top[i], 0, err) < 0)
			goto out;
	}
	platform_format(want, wp);
	list_names(top, ntop, names, sizeof names);
	if (ref && !named) {
		sfs_fail(err, 0, "%s: no image named %s (names: %s)", s->name, ref, names);
		goto out;
	}
	if (w.ncand == 0) {
		if (w.others[0])
			sfs_fail(err, 0, "%s: no manifest for platform %s (platforms: %s)", s->name, wp,
				 w.others);
		else if (w.unknown_mt)
			sfs_fail(err, 0, "%s: manifest %s: unknown media type %s", s->name,
				 w.unknown_digest, w.unknown_mt);
		else
			sfs_fail(err, 0, "%s: no image manifest in index.json", s->name);
		goto out;
	}
	/* several left: those matching the platform exactly */
	nchosen = w.ncand;
	if (w.ncand > 1) {
		size_t k = 0;

		for (size_t i = 0; i < w.ncand; i++)
			if (w.cand[i]->has_platform && platform_exact(want, &w.cand[i]->platform))
				w.cand[k++] = w.cand[i];
		nchosen = k ? k : w.ncand;
	}
	if (nchosen > 1) {
		if (ref)
			sfs_fail(err, 0, "%s: %zu manifests named %s for platform %s", s->name, nchosen,
				 ref, wp);
		else
			sfs_fail(err, 0, "%s: %zu images for platform %s; name one as %s:NAME (names: %s)",
				 s->name, nchosen, wp, s->name, names);
		goto out;
	}
	chosen = (struct desc *)w.cand[0];
	/* the name of the top-level descriptor that led here */
	for (size_t i = 0; i < ntop && !sel->reference; i++)
		if ((!ref || ref_equal(ref, top[i].ref_name, false) ||
		     ref_equal(ref, top[i].image_name, true)) && (top[i].ref_name || top[i].image_name))
			sel->reference = strdup(ref ? ref : top[i].ref_name ?: top[i].image_name);
	if (src_read_blob(s, chosen, "manifest", JSON_MAX, &sel->manifest_json, &sel->manifest_len,
			  err) < 0)
		goto out;
	memcpy(sel->manifest_digest, chosen->digest, DIGEST_SIZE);
	snprintf(what, sizeof what, "%s: manifest %s", s->name, chosen->digest);
	if (manifest_parse(sel->manifest_json, sel->manifest_len, what, &sel->m, err) < 0)
		goto out;
	if (sel->m.media_type && strcmp(sel->m.media_type, chosen->media_type) != 0) {
		sfs_fail(err, 0, "%s: media type %s, the index says %s", what, sel->m.media_type,
			 chosen->media_type);
		goto out;
	}
	if (check_layers(s, &sel->m, err) < 0 || read_config(s, sel, err) < 0 ||
	    check_platform(s, sel, want, explicit, chosen->has_platform, prog, err) < 0)
		goto out;
	ret = 0;
out:
	walk_free(&w);
	return ret;
}

/* ---- classic docker-archive ---- */

/* The uncompressed size of member FILE (a layer tar, maybe gzipped or zstd'ed). */
static int layer_size(const struct src *s, const char *file, int64_t member_size, int64_t *size,
		      struct sfs_err *err)
{
	struct stream st;
	const void *chunk;
	ssize_t n;
	bool compressed;

	if (stream_open(&st, s, file, err) < 0)
		return -1;
	n = stream_read(&st, &chunk, err);
	if (n < 0) {
		stream_close(&st);
		return -1;
	}
	compressed = n >= 4 && (!memcmp(chunk, "\x1f\x8b", 2) || !memcmp(chunk, "\x28\xb5\x2f\xfd", 4));
	stream_close(&st);
	*size = member_size;
	if (!compressed)
		return 0;
	return layer_uncompressed_size(s, file, size, err);
}

static int select_docker(const struct src *s, const char *ref, const struct platform *want,
			 bool explicit, const char *prog, struct selection *sel, struct sfs_err *err)
{
	_cleanup_free_ char *buf = NULL, *json = NULL;
	struct docker_item it;
	json_t *m = NULL, *layers;
	char what[256], path[128];
	const char *base;
	size_t len;
	int ret = -1;

	snprintf(what, sizeof what, "%s: manifest.json", s->name);
	if (src_read_file(s, "manifest.json", JSON_MAX, &buf, &len, err) < 0)
		return -1;
	if (docker_manifest_parse(buf, len, what, ref, &it, err) < 0)
		goto out;
	sel->reference = it.tag ? strdup(it.tag) : NULL;
	snprintf(what, sizeof what, "%s: config %s", s->name, it.config);
	if (src_read_file(s, it.config, CONFIG_MAX, &sel->config_json, &sel->config_len, err) < 0)
		goto out;
	if (digest_of(sel->config_json, sel->config_len, sel->m.config.digest, err) < 0)
		goto out;
	/* the member is named by its digest: <hex>.json, or blobs/sha256/<hex> */
	base = strrchr(it.config, '/') ? strrchr(it.config, '/') + 1 : it.config;
	if (strspn(base, "0123456789abcdef") == 64 && (!base[64] || !strcmp(base + 64, ".json")) &&
	    strncmp(base, sel->m.config.digest + 7, 64) != 0) {
		sfs_fail(err, 0, "%s: digest mismatch (the member's is %s)", what, sel->m.config.digest);
		goto out;
	}
	if (config_parse(sel->config_json, sel->config_len, what, &sel->config, &sel->ci, err) < 0)
		goto out;
	if (sel->ci.ndiff_ids != it.nlayers) {
		sfs_fail(err, 0, "%s: %zu diff_ids for %zu layers", what, sel->ci.ndiff_ids, it.nlayers);
		goto out;
	}
	m = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:[]}", "schemaVersion", 2,
		      "mediaType", MT_DOCKER_MANIFEST,
		      "config", "mediaType", MT_DOCKER_CONFIG, "size", (json_int_t)sel->config_len,
		      "digest", sel->m.config.digest, "layers");
	layers = m ? json_object_get(m, "layers") : NULL;
	if (!layers) {
		sfs_fail(err, ENOMEM, "%s", s->name);
		goto out;
	}
	for (size_t i = 0; i < it.nlayers; i++) {
		int64_t size = 0;
		struct sfs_err e2 = { 0 };

		if (layer_size(s, it.layers[i], 0, &size, &e2) < 0) {
			if (e2.code == ENOENT)
				sfs_fail(err, 0, "%s: layer %s: missing member", s->name, it.layers[i]);
			else
				*err = e2;
			goto out;
		}
		if (!size) {
			struct stream st;

			if (stream_open(&st, s, it.layers[i], err) < 0)
				goto out;
			size = st.size;
			stream_close(&st);
		}
		json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "mediaType", MT_DOCKER_LAYER,
							"size", (json_int_t)size,
							"digest", sel->ci.diff_ids[i]));
	}
	json = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!json) {
		sfs_fail(err, ENOMEM, "%s", s->name);
		goto out;
	}
	sel->manifest_len = strlen(json);
	sel->manifest_json = steal_pointer(&json);
	if (digest_of(sel->manifest_json, sel->manifest_len, sel->manifest_digest, err) < 0)
		goto out;
	snprintf(what, sizeof what, "%s: manifest", s->name);
	manifest_free(&sel->m);
	if (manifest_parse(sel->manifest_json, sel->manifest_len, what, &sel->m, err) < 0)
		goto out;
	sel->layer_files = steal_pointer(&it.layers);
	it.nlayers = 0;
	(void)path;
	ret = check_platform(s, sel, want, explicit, false, prog, err);
out:
	json_decref(m);
	docker_item_free(&it);
	return ret;
}

int select_image(const struct src *s, const char *ref, const char *platform, const char *prog,
		 struct selection *sel, struct sfs_err *err)
{
	struct platform want;

	memset(sel, 0, sizeof *sel);
	if (platform) {
		if (platform_parse(platform, &want, err) < 0)
			return -1;
	} else {
		platform_host(&want);
	}
	if (s->has_layout)
		return select_oci(s, ref, &want, platform != NULL, prog, sel, err);
	return select_docker(s, ref, &want, platform != NULL, prog, sel, err);
}
