/* json.c — the readers of an image's JSON: index (image-index.md), manifest
 * (manifest.md), config (config.md) and a docker-archive's manifest.json.  Every input
 * is untrusted: parsed with jansson (duplicate keys refused: two readers must never
 * see two different documents), every field type-checked, every digest a valid sha256
 * one, sizes non-negative.  A wrong document is a one-line error naming WHAT and the
 * field; fields slimfs does not use are ignored, as the spec asks of unknown ones.
 */
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

bool mt_is_index(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool mt_is_manifest(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

bool mt_is_config(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_CONFIG) == 0 || strcmp(mt, MT_DOCKER_CONFIG) == 0);
}

void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void desc_free(struct desc *d)
{
	free(d->media_type);
	free(d->ref_name);
	free(d->image_name);
	memset(d, 0, sizeof *d);
}

void descs_free(struct desc *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		desc_free(&d[i]);
	free(d);
}

void manifest_free(struct manifest *m)
{
	free(m->media_type);
	desc_free(&m->config);
	descs_free(m->layers, m->nlayers);
	memset(m, 0, sizeof *m);
}

void config_info_free(struct config_info *ci)
{
	strv_free(ci->diff_ids);
	memset(ci, 0, sizeof *ci);
}

void img_config_free(struct img_config *c)
{
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->env);
	free(c->working_dir);
	free(c->user);
	strv_free(c->exposed_ports);
	free(c->stop_signal);
	free(c->os);
	free(c->architecture);
	free(c->variant);
	memset(c, 0, sizeof *c);
}

void docker_item_free(struct docker_item *it)
{
	free(it->config);
	strv_free(it->layers);
	free(it->tag);
	memset(it, 0, sizeof *it);
}

char *img_docker_name(const char *ref)
{
	const char *slash = strchr(ref, '/'), *last = strrchr(ref, '/');
	bool domain = slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
				memchr(ref, ':', (size_t)(slash - ref)) ||
				!strncmp(ref, "localhost/", 10));
	bool tagged = strchr(last ? last : ref, ':') || strchr(ref, '@');
	char *out;

	if (asprintf(&out, "%s%s%s%s", domain ? "" : "docker.io/", (!domain && !slash) ? "library/" : "",
		     ref, tagged ? "" : ":latest") < 0)
		return NULL;
	return out;
}

bool ref_equal(const char *ref, const char *name, bool docker)
{
	_cleanup_free_ char *a = NULL, *b = NULL;

	if (!name)
		return false;
	if (!strcmp(ref, name))
		return true;
	if (!docker)
		return false;
	a = img_docker_name(ref);
	b = img_docker_name(name);
	return a && b && !strcmp(a, b);
}

static json_t *load(const char *buf, size_t len, const char *what, struct sfs_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		sfs_fail(err, 0, "%s: not JSON (%s, line %d)", what, je.text, je.line);
	return j;
}

/* An optional string field: 0 with *OUT NULL when absent or null. */
static int opt_string(json_t *obj, const char *key, const char *what, char **out,
		      struct sfs_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return sfs_fail(err, 0, "%s: %s is not a string", what, key);
	/* a NUL inside would cut the string short where a shell or a path needs it whole */
	if (strlen(json_string_value(v)) != json_string_length(v))
		return sfs_fail(err, 0, "%s: %s holds a NUL byte", what, key);
	*out = strdup(json_string_value(v));
	if (!*out)
		return sfs_fail(err, ENOMEM, "%s", what);
	return 0;
}

/* The keys of an optional object (ExposedPorts: {"80/tcp": {}}): 0 with *OUT NULL
 * when absent or null. */
static int opt_keys(json_t *obj, const char *key, const char *what, char ***out,
		    struct sfs_err *err)
{
	json_t *v = json_object_get(obj, key), *e;
	const char *k;
	size_t i = 0;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return sfs_fail(err, 0, "%s: %s is not an object", what, key);
	*out = calloc(json_object_size(v) + 1, sizeof **out);
	if (!*out)
		return sfs_fail(err, ENOMEM, "%s", what);
	json_object_foreach(v, k, e) {
		(*out)[i] = strdup(k);
		if (!(*out)[i++])
			return sfs_fail(err, ENOMEM, "%s", what);
	}
	return 0;
}

/* An optional array of strings: 0 with *OUT NULL when absent or null. */
static int opt_strings(json_t *obj, const char *key, const char *what, char ***out,
		       struct sfs_err *err)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t i;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return sfs_fail(err, 0, "%s: %s is not an array of strings", what, key);
	*out = calloc(json_array_size(v) + 1, sizeof **out);
	if (!*out)
		return sfs_fail(err, ENOMEM, "%s", what);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
			return sfs_fail(err, 0, "%s: %s[%zu] is not a string", what, key, i);
		(*out)[i] = strdup(json_string_value(e));
		if (!(*out)[i])
			return sfs_fail(err, ENOMEM, "%s", what);
	}
	return 0;
}

static int schema_version_2(json_t *obj, const char *what, struct sfs_err *err)
{
	json_t *v = json_object_get(obj, "schemaVersion");

	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return sfs_fail(err, 0, "%s: schemaVersion is not 2", what);
	return 0;
}

static int word(json_t *obj, const char *key, char out[PLATFORM_WORD], bool required,
		const char *what, struct sfs_err *err)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (!v && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= PLATFORM_WORD ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return sfs_fail(err, 0, "%s: platform %s is not a short string", what, key);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* descriptor.md "Properties": mediaType, digest, size REQUIRED; annotations and (in an
 * index) platform optional. */
static int desc_parse(json_t *j, const char *what, struct desc *d, struct sfs_err *err)
{
	json_t *size = json_object_get(j, "size"), *ann, *p, *t;
	char *digest = NULL;

	memset(d, 0, sizeof *d);
	if (!json_is_object(j))
		return sfs_fail(err, 0, "%s: not an object", what);
	if (opt_string(j, "mediaType", what, &d->media_type, err) < 0 ||
	    opt_string(j, "digest", what, &digest, err) < 0)
		goto fail;
	if (!digest_valid(digest)) {
		sfs_fail(err, 0, "%s: digest %s: not a sha256 digest", what, digest ? digest : "missing");
		goto fail;
	}
	memcpy(d->digest, digest, strlen(digest) + 1);
	free(steal_pointer(&digest));
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		sfs_fail(err, 0, "%s: size is not a non-negative integer", what);
		goto fail;
	}
	d->size = json_integer_value(size);
	ann = json_object_get(j, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann)) {
			sfs_fail(err, 0, "%s: annotations is not an object", what);
			goto fail;
		}
		if (opt_string(ann, ANN_REF_NAME, what, &d->ref_name, err) < 0 ||
		    opt_string(ann, ANN_CONTAINERD_NAME, what, &d->image_name, err) < 0)
			goto fail;
		t = json_object_get(ann, "vnd.docker.reference.type");
		d->attestation = json_is_string(t) &&
				 strcmp(json_string_value(t), "attestation-manifest") == 0;
	}
	p = json_object_get(j, "platform");
	if (p && !json_is_null(p)) {
		if (!json_is_object(p)) {
			sfs_fail(err, 0, "%s: platform is not an object", what);
			goto fail;
		}
		if (word(p, "os", d->platform.os, true, what, err) < 0 ||
		    word(p, "architecture", d->platform.arch, true, what, err) < 0 ||
		    word(p, "variant", d->platform.variant, false, what, err) < 0)
			goto fail;
		d->has_platform = true;
	}
	return 0;
fail:
	free(digest);
	return -1;
}

static int descs_parse(json_t *arr, const char *what, const char *key, struct desc **out,
		       size_t *n, struct sfs_err *err)
{
	json_t *e;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return sfs_fail(err, 0, "%s: %s is not an array", what, key);
	*out = calloc(json_array_size(arr) + 1, sizeof **out);
	if (!*out)
		return sfs_fail(err, ENOMEM, "%s", what);
	json_array_foreach(arr, i, e) {
		char w[256];

		snprintf(w, sizeof w, "%s: %s[%zu]", what, key, i);
		(*n)++;
		if (desc_parse(e, w, &(*out)[i], err) < 0)
			return -1;
	}
	return 0;
}

int index_parse(const char *buf, size_t len, const char *what, struct desc **out, size_t *n,
		struct sfs_err *err)
{
	json_auto_t *j = load(buf, len, what, err);
	json_t *mt;

	*out = NULL;
	*n = 0;
	if (!j)
		return -1;
	if (!json_is_object(j))
		return sfs_fail(err, 0, "%s: not a JSON object", what);
	if (schema_version_2(j, what, err) < 0)
		return -1;
	mt = json_object_get(j, "mediaType");
	if (mt && !(json_is_string(mt) && mt_is_index(json_string_value(mt))))
		return sfs_fail(err, 0, "%s: not an image index (mediaType %s)", what,
				json_is_string(mt) ? json_string_value(mt) : "not a string");
	return descs_parse(json_object_get(j, "manifests"), what, "manifests", out, n, err);
}

int manifest_parse(const char *buf, size_t len, const char *what, struct manifest *m,
		   struct sfs_err *err)
{
	json_auto_t *j = load(buf, len, what, err);
	char w[256];

	memset(m, 0, sizeof *m);
	if (!j)
		return -1;
	if (!json_is_object(j))
		return sfs_fail(err, 0, "%s: not a JSON object", what);
	if (schema_version_2(j, what, err) < 0 ||
	    opt_string(j, "mediaType", what, &m->media_type, err) < 0)
		return -1;
	if (m->media_type && !mt_is_manifest(m->media_type))
		return sfs_fail(err, 0, "%s: unknown media type %s (not an image manifest)", what,
				m->media_type);
	snprintf(w, sizeof w, "%s: config", what);
	if (desc_parse(json_object_get(j, "config"), w, &m->config, err) < 0)
		return -1;
	return descs_parse(json_object_get(j, "layers"), what, "layers", &m->layers, &m->nlayers,
			   err);
}

int config_parse(const char *buf, size_t len, const char *what, struct img_config *c,
		 struct config_info *ci, struct sfs_err *err)
{
	json_auto_t *j = load(buf, len, what, err);
	json_t *cfg, *rootfs, *type;
	char w[256];

	memset(c, 0, sizeof *c);
	memset(ci, 0, sizeof *ci);
	if (!j)
		return -1;
	if (!json_is_object(j))
		return sfs_fail(err, 0, "%s: not a JSON object", what);
	if (opt_string(j, "os", what, &c->os, err) < 0 ||
	    opt_string(j, "architecture", what, &c->architecture, err) < 0 ||
	    opt_string(j, "variant", what, &c->variant, err) < 0)
		return -1;
	cfg = json_object_get(j, "config");
	snprintf(w, sizeof w, "%s: config", what);
	if (cfg && !json_is_null(cfg)) {
		if (!json_is_object(cfg))
			return sfs_fail(err, 0, "%s: not an object", w);
		if (opt_strings(cfg, "Entrypoint", w, &c->entrypoint, err) < 0 ||
		    opt_strings(cfg, "Cmd", w, &c->cmd, err) < 0 ||
		    opt_strings(cfg, "Env", w, &c->env, err) < 0 ||
		    opt_string(cfg, "WorkingDir", w, &c->working_dir, err) < 0 ||
		    opt_string(cfg, "User", w, &c->user, err) < 0 ||
		    opt_keys(cfg, "ExposedPorts", w, &c->exposed_ports, err) < 0 ||
		    opt_string(cfg, "StopSignal", w, &c->stop_signal, err) < 0)
			return -1;
		if (c->stop_signal && !c->stop_signal[0])
			free(steal_pointer(&c->stop_signal));
		if (c->working_dir && !c->working_dir[0])
			free(steal_pointer(&c->working_dir));
		if (c->user && !c->user[0])
			free(steal_pointer(&c->user));
		for (char **e = c->env; e && *e; e++)
			if (!strchr(*e, '=') || (*e)[0] == '=')
				return sfs_fail(err, 0, "%s: Env entry '%s' is not K=V", w, *e);
	}
	/* config.md "rootfs": type "layers", diff_ids in layer order, REQUIRED */
	rootfs = json_object_get(j, "rootfs");
	snprintf(w, sizeof w, "%s: rootfs", what);
	type = json_object_get(rootfs, "type");
	if (!json_is_object(rootfs) || !json_is_string(type) ||
	    strcmp(json_string_value(type), "layers") != 0)
		return sfs_fail(err, 0, "%s: not an object of type \"layers\"", w);
	if (opt_strings(rootfs, "diff_ids", w, &ci->diff_ids, err) < 0)
		return -1;
	if (!ci->diff_ids)
		return sfs_fail(err, 0, "%s: no diff_ids", w);
	for (char **d = ci->diff_ids; *d; d++, ci->ndiff_ids++)
		if (!digest_valid(*d))
			return sfs_fail(err, 0, "%s: diff_id %s: not a sha256 digest", w, *d);
	return 0;
}

int docker_manifest_parse(const char *buf, size_t len, const char *what, const char *ref,
			  struct docker_item *it, struct sfs_err *err)
{
	json_auto_t *j = load(buf, len, what, err);
	json_t *e, *chosen = NULL;
	char w[256], **layers = NULL;
	size_t i;

	memset(it, 0, sizeof *it);
	if (!j)
		return -1;
	if (!json_is_array(j) || json_array_size(j) == 0)
		return sfs_fail(err, 0, "%s: not a non-empty array", what);
	json_array_foreach(j, i, e) {
		_cleanup_free_ char **tags = NULL;

		snprintf(w, sizeof w, "%s: [%zu]", what, i);
		if (!json_is_object(e))
			return sfs_fail(err, 0, "%s: not an object", w);
		if (opt_strings(e, "RepoTags", w, &tags, err) < 0) {
			strv_free(steal_pointer(&tags));
			return -1;
		}
		for (char **t = tags; ref && t && *t; t++)
			if (ref_equal(ref, *t, true) && !chosen) {
				chosen = e;
				it->tag = strdup(*t);
			}
		if (!ref && json_array_size(j) == 1) {
			chosen = e;
			it->tag = tags && tags[0] ? strdup(tags[0]) : NULL;
		}
		strv_free(steal_pointer(&tags));
	}
	if (!chosen && ref)
		return sfs_fail(err, 0, "%s: no image tagged %s", what, ref);
	if (!chosen)
		return sfs_fail(err, 0, "%s: %zu images; name one as ARCHIVE:TAG", what,
				json_array_size(j));
	if (opt_string(chosen, "Config", what, &it->config, err) < 0 ||
	    opt_strings(chosen, "Layers", what, &layers, err) < 0) {
		strv_free(layers);
		return -1;
	}
	it->layers = layers;
	if (!it->config)
		return sfs_fail(err, 0, "%s: no Config", what);
	if (!it->layers)
		return sfs_fail(err, 0, "%s: no Layers", what);
	while (it->layers[it->nlayers])
		it->nlayers++;
	return 0;
}
