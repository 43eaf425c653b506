/* source.c — where an image's files come from: an OCI image layout directory
 * (image-layout.md) or the members of an archive (an oci-archive, a docker-archive).
 *
 * A layout directory is read with openat2(RESOLVE_IN_ROOT): nothing outside it is
 * opened, whatever its symlinks say.  An archive is scanned once (headers only: the
 * data of an uncompressed archive is skipped with lseek) into a table of its members;
 * opening a member reads the archive again up to it, so no member is ever copied to
 * disk and the members can be used in any order.  Member names are compared without
 * a leading "./"; a symlink or hardlink member (podman writes `<id>/layer.tar` as a
 * symlink) is followed inside the archive, never outside it.
 *
 * Detection: a directory is a layout when it holds oci-layout; an archive is an image
 * when one of its first members is one only an image archive has (oci-layout,
 * index.json, manifest.json, repositories, blobs/..., <64 hex>/layer.tar or .json),
 * so a flat root filesystem tarball is recognised after a few headers.
 */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

#define DETECT_MEMBERS 16       /* an image archive shows itself within this many */
#define LINK_HOPS 8
#define READ_CHUNK (1 << 20)

struct member {
	char *name;             /* normalized: no leading "./" or "/", no trailing "/" */
	char *link;             /* symlink target as written, or hardlink target normalized */
	bool hardlink;
	mode_t type;            /* AE_IFREG, AE_IFLNK, AE_IFDIR */
	int64_t size;
	size_t ordinal;         /* the member's header number in the archive */
};

static const char *normalize(const char *name, char *out, size_t cap)
{
	size_t n;

	while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
		name += name[0] == '/' ? 1 : 2;
	n = strlen(name);
	while (n > 0 && name[n - 1] == '/')
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, name, n);
	out[n] = '\0';
	return out;
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A member name only image archives have at their top. */
static bool image_marker(const char *n)
{
	const char *slash = strchr(n, '/'), *dot = strchr(n, '.');

	if (!strcmp(n, "oci-layout") || !strcmp(n, "index.json") || !strcmp(n, "manifest.json") ||
	    !strcmp(n, "repositories") || !strncmp(n, "blobs/", 6))
		return true;
	if (slash && is_hex64(n, (size_t)(slash - n)))
		return !strcmp(slash, "/layer.tar") || !strcmp(slash, "/json") ||
		       !strcmp(slash, "/VERSION");
	return dot && is_hex64(n, (size_t)(dot - n)) && (!strcmp(dot, ".json") || !strcmp(dot, ".tar"));
}

static struct archive *archive_open_fd(int fd, const char *name, struct sfs_err *err)
{
	struct archive *a;

	if (lseek(fd, 0, SEEK_SET) < 0) {
		sfs_fail(err, errno, "%s", name);
		return NULL;
	}
	a = archive_read_new();
	if (!a) {
		sfs_fail(err, ENOMEM, "%s", name);
		return NULL;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		sfs_fail(err, 0, "%s: %s", name, archive_error_string(a) ?: "not a tar archive");
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static void members_free(struct src *s)
{
	for (size_t i = 0; i < s->nmembers; i++) {
		free(s->members[i].name);
		free(s->members[i].link);
	}
	free(s->members);
	s->members = NULL;
	s->nmembers = 0;
}

static int member_add(struct src *s, struct archive_entry *e, const char *name, size_t ordinal,
		      struct sfs_err *err)
{
	mode_t type = archive_entry_filetype(e);
	const char *hl = archive_entry_hardlink(e), *sl = archive_entry_symlink(e);
	char buf[4096];
	struct member *m;

	if (!hl && type != AE_IFREG && type != AE_IFLNK && type != AE_IFDIR)
		return 0;
	if (type != AE_IFDIR)
		for (size_t i = 0; i < s->nmembers; i++)
			if (s->members[i].type != AE_IFDIR && !strcmp(s->members[i].name, name))
				return sfs_fail(err, 0, "%s: member %s appears twice: refused", s->name,
						name);
	m = realloc(s->members, (s->nmembers + 1) * sizeof *m);
	if (!m)
		return sfs_fail(err, ENOMEM, "%s", s->name);
	s->members = m;
	m = &s->members[s->nmembers];
	memset(m, 0, sizeof *m);
	m->name = strdup(name);
	m->type = hl ? AE_IFREG : type;
	m->hardlink = hl != NULL;
	m->size = archive_entry_size(e);
	m->ordinal = ordinal;
	if (hl)
		m->link = strdup(normalize(hl, buf, sizeof buf));
	else if (sl)
		m->link = strdup(sl);
	s->nmembers++;
	if (!m->name || ((hl || sl) && !m->link))
		return sfs_fail(err, ENOMEM, "%s", s->name);
	return 0;
}

/* 1: an image archive (members listed), 0: not one, -1: error. */
static int scan_archive(struct src *s, struct sfs_err *err)
{
	struct archive *a = archive_open_fd(s->fd, s->name, NULL);
	struct archive_entry *e;
	bool image = false;
	size_t ordinal = 0;
	int r;

	if (!a)
		return 0;   /* not an archive: the caller's flat-tarball path says why */
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		char name[4096];

		normalize(archive_entry_pathname(e) ?: "", name, sizeof name);
		image = image || image_marker(name);
		if (!image && ordinal >= DETECT_MEMBERS)
			break;
		if (name[0] && member_add(s, e, name, ordinal, err) < 0) {
			archive_read_free(a);
			return -1;
		}
		ordinal++;
	}
	if (image && r != ARCHIVE_EOF) {
		sfs_fail(err, 0, "%s: truncated or corrupt archive (%s)", s->name,
			 archive_error_string(a) ?: "cannot read");
		archive_read_free(a);
		return -1;
	}
	archive_read_free(a);
	if (!image)
		members_free(s);
	return image ? 1 : 0;
}

bool src_has(const struct src *s, const char *file)
{
	struct stat st;

	if (s->dirfd >= 0)
		return fstatat(s->dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
	for (size_t i = 0; i < s->nmembers; i++)
		if (!strcmp(s->members[i].name, file))
			return true;
	return false;
}

int src_open(struct src *s, const char *path, const char *name, struct sfs_err *err)
{
	struct stat st;
	int r;

	memset(s, 0, sizeof *s);
	s->dirfd = s->fd = -1;
	s->name = name;
	if (stat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		s->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0)
			return sfs_fail(err, errno, "%s", name);
		if (!src_has(s, "oci-layout")) {
			src_close(s);
			return 0;
		}
		s->format = IMG_FMT_OCI;
		s->has_layout = src_has(s, "index.json");
		if (!s->has_layout) {
			src_close(s);
			return sfs_fail(err, 0, "%s: an OCI layout without index.json", name);
		}
		return 1;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return sfs_fail(err, errno, "%s", name);
	r = scan_archive(s, err);
	if (r <= 0) {
		src_close(s);
		return r;
	}
	s->has_layout = src_has(s, "oci-layout") && src_has(s, "index.json");
	s->has_docker = src_has(s, "manifest.json");
	s->format = s->has_docker ? IMG_FMT_DOCKER_ARCHIVE : IMG_FMT_OCI_ARCHIVE;
	if (!s->has_layout && !s->has_docker) {
		src_close(s);
		return sfs_fail(err, 0, "%s: an image archive with neither index.json nor manifest.json",
				name);
	}
	return 1;
}

void src_close(struct src *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->fd >= 0)
		close(s->fd);
	members_free(s);
	s->dirfd = s->fd = -1;
}

/* The regular member FILE names, links followed inside the archive; NULL if none. */
static const struct member *find_member(const struct src *s, const char *file)
{
	char cur[4096], next[8192];

	normalize(file, cur, sizeof cur);
	for (int hop = 0; hop <= LINK_HOPS; hop++) {
		const struct member *m = NULL;
		const char *slash;

		for (size_t i = 0; i < s->nmembers && !m; i++)
			if (!strcmp(s->members[i].name, cur) && s->members[i].type != AE_IFDIR)
				m = &s->members[i];
		if (!m)
			return NULL;
		if (m->type == AE_IFREG && !m->hardlink)
			return m;
		if (m->hardlink || m->link[0] == '/') {
			normalize(m->link, cur, sizeof cur);
			continue;
		}
		/* a relative symlink: from the member's directory; ".." within the archive */
		slash = strrchr(cur, '/');
		snprintf(next, sizeof next, "%.*s%s", slash ? (int)(slash - cur + 1) : 0, cur, m->link);
		{
			char *parts[512];
			size_t np = 0;
			char *save = NULL;

			cur[0] = '\0';
			for (char *t = strtok_r(next, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
				if (!strcmp(t, "."))
					continue;
				if (!strcmp(t, "..")) {
					if (np == 0)
						return NULL;    /* out of the archive */
					np--;
					continue;
				}
				if (np == sizeof parts / sizeof parts[0])
					return NULL;
				parts[np++] = t;
			}
			for (size_t i = 0; i < np; i++)
				snprintf(cur + strlen(cur), sizeof cur - strlen(cur), "%s%s",
					 i ? "/" : "", parts[i]);
		}
	}
	return NULL;
}

/* FILE of the layout, never outside it: resolved as if the layout were "/". */
static int open_in_layout(int dirfd, const char *file)
{
	return open_in_root(dirfd, file, O_RDONLY, 0);
}

int stream_open(struct stream *st, const struct src *s, const char *file, struct sfs_err *err)
{
	const struct member *m;
	struct archive_entry *e;
	struct stat sb;
	int r;

	memset(st, 0, sizeof *st);
	st->src = s;
	st->fd = -1;
	st->file = file;
	if (s->dirfd >= 0) {
		st->fd = open_in_layout(s->dirfd, file);
		if (st->fd < 0)
			return sfs_fail(err, errno, "%s: %s", s->name, file);
		if (fstat(st->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			stream_close(st);
			return sfs_fail(err, 0, "%s: %s: not a regular file", s->name, file);
		}
		st->size = sb.st_size;
		st->buf = malloc(READ_CHUNK);
		if (!st->buf) {
			stream_close(st);
			return sfs_fail(err, ENOMEM, "%s", s->name);
		}
		return 0;
	}
	m = find_member(s, file);
	if (!m)
		return sfs_fail(err, ENOENT, "%s: %s", s->name, file);
	st->a = archive_open_fd(s->fd, s->name, err);
	if (!st->a)
		return -1;
	for (size_t i = 0;; i++) {
		r = archive_read_next_header(st->a, &e);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			sfs_fail(err, 0, "%s: %s: %s", s->name, file,
				 archive_error_string(st->a) ?: "archive changed while read");
			stream_close(st);
			return -1;
		}
		if (i == m->ordinal)
			break;
	}
	st->size = m->size;
	return 0;
}

ssize_t stream_read(struct stream *st, const void **buf, struct sfs_err *err)
{
	if (st->a) {
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(st->a, buf, &size, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return sfs_fail(err, 0, "%s: %s: %s", st->src->name, st->file,
					archive_error_string(st->a) ?: "cannot read");
		if (off != st->offset)
			return sfs_fail(err, 0, "%s: %s: a sparse member: refused", st->src->name,
					st->file);
		st->offset += (int64_t)size;
		return (ssize_t)size;
	}
	for (;;) {
		ssize_t n = read(st->fd, st->buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sfs_fail(err, errno, "%s: %s", st->src->name, st->file);
		*buf = st->buf;
		st->offset += n;
		return n;
	}
}

void stream_close(struct stream *st)
{
	if (st->a)
		archive_read_free(st->a);
	if (st->fd >= 0)
		close(st->fd);
	free(st->buf);
	st->a = NULL;
	st->fd = -1;
	st->buf = NULL;
}

int src_read_file(const struct src *s, const char *file, size_t max, char **out, size_t *len,
		  struct sfs_err *err)
{
	struct stream st;
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, cap = 0;
	const void *chunk;
	ssize_t got;

	if (stream_open(&st, s, file, err) < 0)
		return -1;
	while ((got = stream_read(&st, &chunk, err)) > 0) {
		if (n + (size_t)got > max) {
			stream_close(&st);
			return sfs_fail(err, 0, "%s: %s: larger than %zu bytes: refused", s->name, file,
					max);
		}
		if (n + (size_t)got + 1 > cap) {
			char *nb;

			cap = (n + (size_t)got + 1) * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				stream_close(&st);
				return sfs_fail(err, ENOMEM, "%s: %s", s->name, file);
			}
			buf = nb;
		}
		memcpy(buf + n, chunk, (size_t)got);
		n += (size_t)got;
	}
	stream_close(&st);
	if (got < 0)
		return -1;
	if (!buf && !(buf = malloc(1)))
		return sfs_fail(err, ENOMEM, "%s: %s", s->name, file);
	buf[n] = '\0';
	*out = steal_pointer(&buf);
	*len = n;
	return 0;
}

void blob_path(const char *digest, char out[128])
{
	snprintf(out, 128, "blobs/sha256/%s", digest + 7);
}

int src_read_blob(const struct src *s, const struct desc *d, const char *what, size_t max,
		  char **out, size_t *len, struct sfs_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char path[128], got[DIGEST_SIZE];
	struct sfs_err e2 = { 0 };
	size_t n;

	if (d->size > (int64_t)max)
		return sfs_fail(err, 0, "%s: %s %s: %lld bytes, more than %zu: refused", s->name, what,
				d->digest, (long long)d->size, max);
	blob_path(d->digest, path);
	if (src_read_file(s, path, max, &buf, &n, &e2) < 0) {
		if (e2.code == ENOENT)
			return sfs_fail(err, 0, "%s: %s %s: missing blob", s->name, what, d->digest);
		*err = e2;
		return -1;
	}
	if (digest_of(buf, n, got, err) < 0)
		return -1;
	if (strcmp(got, d->digest) != 0)
		return sfs_fail(err, 0, "%s: %s %s: digest mismatch (the blob's is %s)", s->name, what,
				d->digest, got);
	if ((int64_t)n != d->size)
		return sfs_fail(err, 0, "%s: %s %s: size mismatch (%zu bytes, the descriptor says %lld)",
				s->name, what, d->digest, n, (long long)d->size);
	*out = steal_pointer(&buf);
	*len = n;
	return 0;
}
