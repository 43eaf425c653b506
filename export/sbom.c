/* sbom.c — --sbom FILE: the packages the lean image's database lists, as an SPDX 2.3
 * JSON document (jansson).
 *
 * The package set is exactly the one of the lean image's /var/lib/dpkg/status (trimmed:
 * the kept packages; full: every present package); an image without a dpkg database
 * gives a document with no package.  Each package carries its name, version, the source
 * it was built from, and a purl (pkg:deb/ID/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID,
 * ID and VERSION_ID from the image's /etc/os-release), the identifier scanners match on.
 * Licences are NOASSERTION: dpkg does not record them.  "created" is SOURCE_DATE_EPOCH
 * when set (reproducible builds' convention), else the time of the export; the document
 * namespace is derived from the package list, so one lean image gives one namespace.
 * Written under a temporary name and renamed, like the image.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ctx.h"
#include "dpkg.h"
#include "resolve.h"

/* VALUE of KEY= in os-release text BUF (quotes removed) into OUT. */
static void os_release(const char *buf, size_t len, const char *key, char *out, size_t size)
{
	size_t pos = 0, ll, kl = strlen(key);
	const char *l;

	out[0] = '\0';
	while (dpkg_line(buf, len, &pos, &l, &ll)) {
		if (ll > kl && memcmp(l, key, kl) == 0 && l[kl] == '=') {
			const char *v = l + kl + 1;
			size_t vl = ll - kl - 1;

			if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
				v++;
				vl -= 2;
			}
			snprintf(out, size, "%.*s", (int)vl, v);
		}
	}
}

/* Percent-encode S for a purl component (RFC 3986 unreserved characters stay). */
static void pct(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* An SPDX identifier: letters, digits, '.' and '-' only. */
static void spdx_id(const char *name, const char *arch, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "SPDXRef-Package-deb-");

	for (const char *s = name; *s && o + 2 < size; s++)
		out[o++] = (isalnum((unsigned char)*s) || *s == '.') ? *s : '-';
	if (o + 2 < size)
		out[o++] = '-';
	for (const char *s = arch; *s && o + 2 < size; s++)
		out[o++] = (isalnum((unsigned char)*s) || *s == '.') ? *s : '-';
	out[o] = '\0';
}

static bool in_lean_status(const struct export_ctx *c, const struct dpkg_db *db, size_t i)
{
	if (c->o->package_db == EXPORT_PKGDB_FULL)
		return db->v[i].present;
	return db->v[i].mark == 1;
}

static json_t *package(const struct dpkg_pkg *p, const char *id, const char *distro_q)
{
	char spdxid[512], purl[2048], name[512], version[512], arch[128], source[512], q[256];
	struct deb822_field f;
	json_t *o;

	spdx_id(p->name, p->arch, spdxid, sizeof spdxid);
	pct(p->name, name, sizeof name);
	pct(p->version, version, sizeof version);
	pct(p->arch, arch, sizeof arch);
	pct(distro_q, q, sizeof q);
	snprintf(purl, sizeof purl, "pkg:deb/%s/%s@%s?arch=%s%s%s", id, name, version, arch,
		 *distro_q ? "&distro=" : "", q);
	source[0] = '\0';
	if (deb822_get(&p->st, "Source", &f))
		snprintf(source, sizeof source, "built package from: %.*s", (int)f.vlen, f.value);
	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:s}]}",
		      "name", p->name, "SPDXID", spdxid, "versionInfo", p->version,
		      "downloadLocation", "NOASSERTION", "filesAnalyzed", 0,
		      "licenseConcluded", "NOASSERTION", "licenseDeclared", "NOASSERTION",
		      "copyrightText", "NOASSERTION", "supplier", "NOASSERTION",
		      "externalRefs", "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl",
		      "referenceLocator", purl);
	if (o && *source)
		json_object_set_new(o, "sourceInfo", json_string(source));
	return o;
}

static int put(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* TEXT and a newline into FILE, through a stand-in (tmpout.c). */
static int write_file(const char *file, const char *text, struct sfs_err *err)
{
	struct tmp_out t;
	int ret;

	if (tmp_out_open(&t, file, false, err) < 0)
		return -1;
	if (put(t.fd, text, strlen(text)) < 0 || put(t.fd, "\n", 1) < 0)
		ret = sfs_fail(err, errno, "--sbom %s", file);
	else
		ret = tmp_out_commit(&t, err);
	tmp_out_close(&t);
	return ret;
}

int sbom_write(struct export_ctx *c, struct sfs_err *err)
{
	struct dpkg_db *db = NULL;
	char id[64] = "debian", ver[64] = "", distro_q[160] = "", created[32], ns[256];
	_cleanup_free_ char *rel = NULL, *text = NULL;
	char digest[DIGEST_SIZE];
	time_t now = c->sde >= 0 ? (time_t)c->sde : time(NULL);
	struct resolved r;
	struct tm tm;
	json_t *doc, *pkgs, *rels;
	struct hasher h = { 0 };
	size_t rlen;
	int ret = ctx_dpkg(c, &db, err);

	if (ret < 0)
		return -1;
	if (image_resolve(&c->im, "/etc/os-release", RESOLVE_FOLLOW, NULL, NULL, &r, err) == 0 &&
	    image_read_file(&c->im, r.path, 1 << 20, &rel, &rlen, err) == 0) {
		os_release(rel, rlen, "ID", id, sizeof id);
		os_release(rel, rlen, "VERSION_ID", ver, sizeof ver);
		if (id[0] == '\0')
			snprintf(id, sizeof id, "debian");
		if (ver[0])
			snprintf(distro_q, sizeof distro_q, "%s-%s", id, ver);
	}
	pkgs = json_array();
	rels = json_array();
	if (pkgs == NULL || rels == NULL || hasher_init(&h, NULL) < 0)
		goto oom;
	for (size_t i = 0; db && i < db->n; i++) {
		const struct dpkg_pkg *p = &db->v[i];
		json_t *o;
		char sid[512];

		if (!in_lean_status(c, db, i))
			continue;
		o = package(p, id, distro_q);
		if (o == NULL || json_array_append_new(pkgs, o) < 0)
			goto oom;
		spdx_id(p->name, p->arch, sid, sizeof sid);
		if (json_array_append_new(rels, json_pack("{s:s,s:s,s:s}", "spdxElementId",
							  "SPDXRef-DOCUMENT", "relationshipType",
							  "DESCRIBES", "relatedSpdxElement", sid)) < 0)
			goto oom;
		hasher_update(&h, p->name, strlen(p->name) + 1);
		hasher_update(&h, p->arch, strlen(p->arch) + 1);
		hasher_update(&h, p->version, strlen(p->version) + 1);
	}
	hasher_final(&h, digest);
	hasher_free(&h);
	snprintf(ns, sizeof ns, "https://slimfs.invalid/spdx/lean-%s", digest + strlen("sha256:"));
	gmtime_r(&now, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:[s]},s:o,s:o}",
			"spdxVersion", "SPDX-2.3", "dataLicense", "CC0-1.0",
			"SPDXID", "SPDXRef-DOCUMENT", "name", c->o->out ? c->o->out : c->imagedir,
			"documentNamespace", ns, "creationInfo", "created", created, "creators",
			"Tool: slimfs-export-" SLIMFS_VERSION, "packages", pkgs, "relationships", rels);
	if (doc == NULL)
		return sfs_fail(err, ENOMEM, "--sbom %s", c->o->sbom);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL)
		return sfs_fail(err, ENOMEM, "--sbom %s", c->o->sbom);
	return write_file(c->o->sbom, text, err);
oom:
	hasher_free(&h);
	json_decref(pkgs);
	json_decref(rels);
	return sfs_fail(err, ENOMEM, "--sbom %s", c->o->sbom);
}
