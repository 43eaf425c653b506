/* ociconfig.c — the JSON documents of the lean image (see oci.h), made with jansson.
 *
 * The config is the source's, parsed and written back with every key kept in its
 * order (jansson keeps insertion order), so keys slimfs does not know survive —
 * Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal,
 * Healthcheck, Shell, OnBuild, ArgsEscaped, architecture, os, variant and any other.
 * Changed (image-spec config.md): rootfs (the one lean layer), history (every source
 * entry marked empty_layer, one slimfs entry added: the layer), created (see
 * oci_prepare), and three labels naming the source (io.slimfs.source.*).  Everything
 * is serialised compactly, in a fixed order, with no clock: the same input gives the
 * same bytes, and so the same digests.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "image/img.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"

void oci_docs_free(struct oci_docs *d)
{
	free(d->config);
	free(d->manifest);
	free(d->index);
	free(d->docker);
	memset(d, 0, sizeof *d);
}

static const char *layer_media_type(enum export_compress c)
{
	switch (c) {
	case EXPORT_COMPRESS_ZSTD:
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	case EXPORT_COMPRESS_NONE:
		return "application/vnd.oci.image.layer.v1.tar";
	default:
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	}
}

/* "slimfs-export --keep LEVEL [--include P]... [--exclude P]... TRACE...": what made
 * the layer.  Traces by their file names, so that where they lie changes nothing. */
static char *created_by(const struct export_opts *o)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "slimfs-export --keep %s", trace_evidence_name(o->keep));
	for (size_t i = 0; i < o->nincludes; i++)
		fprintf(f, " --include %s", o->includes[i]);
	for (size_t i = 0; i < o->nexcludes; i++)
		fprintf(f, " --exclude %s", o->excludes[i]);
	for (size_t i = 0; i < o->ntraces; i++) {
		_cleanup_free_ char *copy = strdup(o->traces[i]);

		fprintf(f, " %s", copy ? basename(copy) : o->traces[i]);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The object at KEY of O, made (replacing anything that is not an object) if needed. */
static json_t *object_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_object(v))
		return v;
	v = json_object();
	if (v == NULL || json_object_set_new(o, key, v) < 0)
		return NULL;
	return v;
}

static json_t *lean_config(struct export_ctx *c, const char *diff_id)
{
	const struct oci_source *src = c->src;
	json_t *cfg = json_deep_copy(src->config), *hist, *old, *entry, *labels;
	_cleanup_free_ char *by = created_by(c->o);
	size_t i;

	if (cfg == NULL || by == NULL)
		goto fail;
	if (c->plan.created && json_object_set_new(cfg, "created", json_string(c->plan.created)))
		goto fail;
	if (json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:[s]}", "type", "layers",
							  "diff_ids", diff_id)) < 0)
		goto fail;
	/* history: the source's entries made empty, then the one layer's */
	hist = json_array();
	if (hist == NULL)
		goto fail;
	old = json_object_get(cfg, "history");
	json_array_foreach(json_is_array(old) ? old : NULL, i, entry) {
		json_t *e = json_is_object(entry) ? json_copy(entry) : json_incref(entry);

		if (e == NULL || (json_is_object(e) &&
				  json_object_set_new(e, "empty_layer", json_true()) < 0) ||
		    json_array_append_new(hist, e) < 0) {
			json_decref(hist);
			goto fail;
		}
	}
	entry = json_object();
	if (entry == NULL || json_array_append_new(hist, entry) < 0 ||
	    (c->plan.created && json_object_set_new(entry, "created",
						    json_string(c->plan.created)) < 0) ||
	    json_object_set_new(entry, "created_by", json_string(by)) < 0 ||
	    json_object_set_new(entry, "comment", json_string(
		    "slimfs " SLIMFS_VERSION ": the paths the traces' evidence keeps")) < 0 ||
	    json_object_set_new(cfg, "history", hist) < 0)
		goto fail;
	/* labels naming the source */
	labels = object_at(object_at(cfg, "config"), "Labels");
	if (labels == NULL ||
	    json_object_set_new(labels, "io.slimfs.source.digest",
				json_string(src->im->manifest_digest)) < 0 ||
	    json_object_set_new(labels, "io.slimfs.source.config",
				json_string(src->im->config_digest)) < 0 ||
	    (src->im->reference && json_object_set_new(labels, "io.slimfs.source.reference",
						       json_string(src->im->reference)) < 0))
		goto fail;
	return cfg;
fail:
	json_decref(cfg);
	return NULL;
}

/* Serialise J (stolen) into *OUT / *LEN, with its digest in BLOB (may be NULL). */
static int dump(json_t *j, char **out, size_t *len, struct oci_blob *blob)
{
	if (j == NULL)
		return -1;
	*out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (*out == NULL)
		return -1;
	*len = strlen(*out);
	if (blob) {
		if (digest_of(*out, *len, blob->digest, NULL) < 0)
			return -1;
		blob->size = *len;
	}
	return 0;
}

static json_t *descriptor(const char *media_type, const struct oci_blob *b)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", b->digest,
			 "size", (json_int_t)b->size);
}

/* The index's platform of the lean config: os, architecture and variant, if given. */
static json_t *platform(json_t *cfg)
{
	json_t *p = json_object();
	const char *keys[] = { "architecture", "os", "variant" };

	for (size_t i = 0; p && i < sizeof keys / sizeof keys[0]; i++) {
		json_t *v = json_object_get(cfg, keys[i]);

		if (json_is_string(v) && json_object_set(p, keys[i], v) < 0) {
			json_decref(p);
			return NULL;
		}
	}
	return p;
}

int oci_docs_make(struct export_ctx *c, const struct oci_blob *layer, const char *diff_id,
		  struct oci_docs *d, struct sfs_err *err)
{
	json_t *cfg = lean_config(c, diff_id), *m, *plat = NULL, *desc = NULL;
	_cleanup_free_ char *full = img_docker_name(c->plan.ref);   /* containerd's name */

	memset(d, 0, sizeof *d);
	if (cfg == NULL || full == NULL || (plat = platform(cfg)) == NULL)
		goto fail;
	if (dump(cfg, &d->config, &d->config_len, &d->config_blob) < 0) {
		cfg = NULL;
		goto fail;
	}
	cfg = NULL;
	m = json_pack("{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
		      "config", descriptor(MT_CONFIG, &d->config_blob),
		      "layers", descriptor(layer_media_type(c->plan.compress), layer));
	if (dump(m, &d->manifest, &d->manifest_len, &d->manifest_blob) < 0)
		goto fail;
	desc = descriptor(MT_MANIFEST, &d->manifest_blob);
	if (desc == NULL || (json_object_size(plat) &&
			     json_object_set(desc, "platform", plat) < 0) ||
	    json_object_set_new(desc, "annotations", json_pack(
		    "{s:s, s:s}", "io.containerd.image.name", full,
		    "org.opencontainers.image.ref.name", c->plan.ref)) < 0)
		goto fail;
	if (dump(json_pack("{s:i, s:s, s:[O]}", "schemaVersion", 2, "mediaType", MT_INDEX,
			   "manifests", desc), &d->index, &d->index_len, NULL) < 0)
		goto fail;
	if (c->plan.format != EXPORT_FMT_OCI &&
	    dump(json_pack("[{s:s+, s:[s], s:[s+]}]",
			   "Config", "blobs/sha256/", d->config_blob.digest + 7,
			   "RepoTags", c->plan.ref,
			   "Layers", "blobs/sha256/", layer->digest + 7),
		 &d->docker, &d->docker_len, NULL) < 0)
		goto fail;
	json_decref(plat);
	json_decref(desc);
	return 0;
fail:
	json_decref(cfg);
	json_decref(plat);
	json_decref(desc);
	oci_docs_free(d);
	return sfs_fail(err, ENOMEM, "%s: making the image's config", c->o->out);
}
