/* ociref.c — the lean image's name: --tag checked, the default made (see oci.h).
 *
 * The grammar is docker's reference grammar (distribution/reference), which podman
 * and skopeo share:
 *   name      := [domain '/'] component ('/' component)*        at most 255 bytes
 *   domain    := host [':' port]     (the first part, when it holds '.' or ':', or is
 *                                     "localhost", and more parts follow)
 *   component := [a-z0-9]+ (sep [a-z0-9]+)*,  sep := '.' | '_' | '__' | '-'+
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 * A digest ("@sha256:...") is refused: the lean image is a new image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "oci.h"

#define MAX_NAME 255
#define MAX_TAG 128
#define NONAME "localhost/slimfs"   /* the name of a lean image whose source had none */

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_alnum(char ch)
{
	return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* S[0..N) is one path component. */
static bool component_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (!is_lower_alnum(s[i]))
			return false;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == n)
			return true;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
		if (i == n)
			return false;   /* a separator must be followed by a character */
	}
	return n > 0;
}

/* S[0..N) is host[:port]. */
static bool domain_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n, i = 0;

	if (hn == 0)
		return false;
	while (i < hn) {   /* labels of [A-Za-z0-9-], not starting or ending in '-' */
		size_t start = i;

		while (i < hn && (is_alnum(s[i]) || s[i] == '-'))
			i++;
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return false;
		if (i < hn && s[i++] != '.')
			return false;
		if (i == hn && s[i - 1] == '.')
			return false;
	}
	if (colon) {
		if (colon + 1 == s + n)
			return false;
		for (const char *p = colon + 1; p < s + n; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	return true;
}

static bool name_ok(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t i = 0;

	if (n == 0 || n > MAX_NAME)
		return false;
	if (slash) {
		size_t fn = (size_t)(slash - s);

		if (memchr(s, '.', fn) || memchr(s, ':', fn) ||
		    (fn == 9 && memcmp(s, "localhost", 9) == 0)) {
			if (!domain_ok(s, fn))
				return false;
			i = fn + 1;
		}
	}
	while (i <= n) {
		const char *end = memchr(s + i, '/', n - i);
		size_t cn = end ? (size_t)(end - (s + i)) : n - i;

		if (!component_ok(s + i, cn))
			return false;
		i += cn + 1;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > MAX_TAG || !(is_alnum(t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

/* Split REF into its name length and tag (NULL: none): the tag follows the last ':'
 * after the last '/'. */
static size_t split(const char *ref, const char **tag)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');

	if (colon && (!slash || colon > slash)) {
		*tag = colon + 1;
		return (size_t)(colon - ref);
	}
	*tag = NULL;
	return strlen(ref);
}

int oci_ref_check(const char *ref, char **out, struct sfs_err *err)
{
	const char *tag;
	size_t n;

	if (strchr(ref, '@'))
		return sfs_fail(err, 0, "--tag %s: a digest cannot be given, only NAME[:TAG]", ref);
	n = split(ref, &tag);
	if (!name_ok(ref, n))
		return sfs_fail(err, 0, "--tag %s: not an image name (lower-case [a-z0-9._-] "
				"components separated by '/', an optional registry first)", ref);
	if (tag && !tag_ok(tag))
		return sfs_fail(err, 0, "--tag %s: not a tag ([A-Za-z0-9_.-], at most 128, not "
				"starting with '.' or '-')", ref);
	if (asprintf(out, "%.*s:%s", (int)n, ref, tag ? tag : "latest") < 0)
		return sfs_fail(err, ENOMEM, "--tag %s", ref);
	return 0;
}

int oci_ref_default(const struct img *im, char **out, struct sfs_err *err)
{
	const char *ref = im->reference, *tag = NULL, *digest;
	_cleanup_free_ char *name = NULL;
	size_t n = 0;

	if (ref && strchr(ref, '@'))   /* NAME[:TAG]@DIGEST: the digest names the source */
		name = strndup(ref, (size_t)(strchr(ref, '@') - ref));
	else if (ref)
		name = strdup(ref);
	if (ref && name == NULL)
		return sfs_fail(err, ENOMEM, "naming the image");
	if (name && (strchr(name, '/') || strchr(name, ':'))) {
		n = split(name, &tag);
		if (name_ok(name, n) && (!tag || tag_ok(tag)) &&
		    strlen(tag ? tag : "latest") + 5 <= MAX_TAG) {
			if (asprintf(out, "%.*s:%s-slim", (int)n, name, tag ? tag : "latest") < 0)
				return sfs_fail(err, ENOMEM, "naming the image");
			return 0;
		}
	} else if (name && tag_ok(name) && strlen(name) + 5 <= MAX_TAG) {
		/* An OCI layout's ref.name may be a tag alone ("latest", "1.0"). */
		if (asprintf(out, "%s:%s-slim", NONAME, name) < 0)
			return sfs_fail(err, ENOMEM, "naming the image");
		return 0;
	}
	digest = strchr(im->manifest_digest, ':') ? strchr(im->manifest_digest, ':') + 1
						   : im->manifest_digest;
	if (asprintf(out, "%s:%.12s-slim", NONAME, digest) < 0)
		return sfs_fail(err, ENOMEM, "naming the image");
	return 0;
}
