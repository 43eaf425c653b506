/* image.c — ROOTFS as given on the command line: an image directory, or an image
 * tarball (`docker export` output, any compression libarchive reads) unpacked once into
 * a cache keyed by the tarball's sha256: CACHE/images/<digest>/rootfs.
 *
 * Invariants: a cache entry exists only complete (unpacked into a temporary sibling,
 * checked, then renamed; concurrent runners serialise on CACHE/images/.lock).  The
 * cache is root's alone, as podman's storage is: images/ and every entry are 0700, so
 * an image's setuid binaries and device nodes are nobody else's to use.  No member is
 * written outside the unpack directory: absolute names, `..`, writes through symlinks
 * and hardlinks to outside targets are refused (libarchive's SECURE flags, plus our
 * own checks so the error names the member).  A forwarded signal stops hashing and
 * unpacking (run_pending_signal), and what was unpacked is removed.
 */
#include "run.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "image/img.h"

/* Fail unless DIR looks like a root filesystem (holds usr/ or bin/).  NAME is what the
 * user gave (DIR may be a cache directory they never saw). */
static int check_rootfs(const char *dir, const char *name, struct sfs_err *err)
{
	_cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return sfs_fail(err, errno, "%s", name);
	/* usr/ or bin/ (a directory, or the usual bin -> usr/bin symlink) */
	if (fstatat(fd, "usr", &st, 0) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (fstatat(fd, "bin", &st, 0) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return sfs_fail(err, 0, "%s: not a root filesystem (no usr/ or bin/)", name);
}

/* The sha256 of FD's content, as 64 hex digits in HEX (the cache key). */
static int sha256_file(int fd, char hex[65], const char *file, struct sfs_err *err)
{
	unsigned char buf[1 << 16];
	char digest[DIGEST_SIZE];
	struct hasher h;
	ssize_t n;

	if (hasher_init(&h, err) < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (run_pending_signal()) {
			hasher_free(&h);
			return sfs_fail(err, 0, "%s: interrupted by signal %d while reading it", file,
					run_pending_signal());
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hasher_free(&h);
			return sfs_fail(err, errno, "%s", file);
		}
		hasher_update(&h, buf, (size_t)n);
	}
	hasher_final(&h, digest);
	hasher_free(&h);
	memcpy(hex, digest + 7, 65);    /* past "sha256:", with the NUL */
	return 0;
}

/* A member name is safe if it is relative and has no ".." component. */
static bool name_is_safe(const char *name)
{
	const char *p = name;

	if (name[0] == '/')
		return false;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		while (*p == '/')
			p++;
	}
	return true;
}

/* A hardlink target must already be in the tree, reached without any symlink. */
static bool link_target_inside(int destfd, const char *target)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, destfd, target, &how, sizeof how);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int extract(struct archive *in, const char *file, int destfd, struct sfs_err *err)
{
	const int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
		ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	struct archive *out = archive_write_disk_new();
	struct archive_entry *e;
	char first_dev[256] = "";
	size_t ndev = 0;
	int r, ret = -1;

	if (!out)
		return sfs_fail(err, ENOMEM, "%s", file);
	archive_write_disk_set_options(out, flags);
	archive_write_disk_set_standard_lookup(out);
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e), *link = archive_entry_hardlink(e);

		if (run_pending_signal()) {
			sfs_fail(err, 0, "%s: interrupted by signal %d while unpacking it", file,
				 run_pending_signal());
			goto out;
		}
		if (!name || !name_is_safe(name)) {
			sfs_fail(err, 0, "%s: unsafe member '%s' (absolute or with ..): refused",
				 file, name ? name : "");
			goto out;
		}
		if (link && (!name_is_safe(link) || !link_target_inside(destfd, link))) {
			sfs_fail(err, 0, "%s: unsafe member '%s': hardlink to '%s' outside the image: refused",
				 file, name, link);
			goto out;
		}
		/* Device nodes are unpacked as they are (debootstrap trees hold /dev/null
		 * and friends), but a user should know the host cache now holds them. */
		if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK) {
			if (ndev++ == 0)
				snprintf(first_dev, sizeof first_dev, "%s", name);
		}
		r = archive_write_header(out, e);
		if (r == ARCHIVE_OK && archive_entry_size(e) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;

			while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN) {
					r = ARCHIVE_FATAL;
					break;
				}
			r = r == ARCHIVE_EOF ? ARCHIVE_OK : r;
		}
		if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
			r = archive_write_finish_entry(out);
		if (r < ARCHIVE_WARN) {
			const char *why = archive_error_string(out) ? archive_error_string(out)
								    : archive_error_string(in);
			sfs_fail(err, 0, "%s: member '%s': %s", file, name, why ? why : "cannot extract");
			goto out;
		}
	}
	if (r != ARCHIVE_EOF) {
		sfs_fail(err, 0, "%s: %s", file, archive_error_string(in) ?: "not a readable tarball");
		goto out;
	}
	if (archive_write_close(out) != ARCHIVE_OK) {
		sfs_fail(err, 0, "%s: %s", file, archive_error_string(out) ?: "cannot finish unpacking");
		goto out;
	}
	if (ndev)
		sfs_warn("slimfs-run", "%s: %zu device node%s unpacked as in the image (first: '%s')",
			 file, ndev, ndev > 1 ? "s" : "", first_dev);
	ret = 0;
out:
	archive_write_free(out);
	return ret;
}

/* Unpack FILE (already open as FD) into the existing empty directory DEST. */
static int unpack_into(const char *file, int fd, const char *dest, struct sfs_err *err)
{
	_cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int destfd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct archive *in;
	int ret;

	if (destfd < 0)
		return sfs_fail(err, errno, "%s", dest);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return sfs_fail(err, errno, "%s", file);
	in = archive_read_new();
	if (!in)
		return sfs_fail(err, ENOMEM, "%s", file);
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
		ret = sfs_fail(err, 0, "%s: %s", file, archive_error_string(in) ?: "cannot read");
		archive_read_free(in);
		return ret;
	}
	/* libarchive's secure mode works on relative names: extract from inside DEST. */
	if (fchdir(destfd) < 0) {
		archive_read_free(in);
		return sfs_fail(err, errno, "%s", dest);
	}
	ret = extract(in, file, destfd, err);
	archive_read_free(in);
	if (cwd >= 0 && fchdir(cwd) < 0 && ret == 0)
		ret = sfs_fail(err, errno, "cannot return to the working directory");
	if (ret == 0 && chmod(dest, 0755) < 0 && errno != EPERM)
		ret = sfs_fail(err, errno, "%s", dest);
	return ret;
}

int image_unpack_tmp(const char *file, const char *parent, char **dir, struct sfs_err *err)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *tmp = NULL;

	if (fd < 0)
		return sfs_fail(err, errno, "%s", file);
	if (asprintf(&tmp, "%s/slimfs-image-XXXXXX", parent) < 0)
		return sfs_fail(err, ENOMEM, "%s", file);
	if (!mkdtemp(tmp))
		return sfs_fail(err, errno, "cannot make a directory in %s", parent);
	if (unpack_into(file, fd, tmp, err) < 0) {
		sfs_rm_tree(tmp, NULL);
		return -1;
	}
	*dir = steal_pointer(&tmp);
	return 0;
}

static int image_from_tarball(const char *file, const char *cache, char **dir,
			      struct sfs_err *err)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *images = NULL, *entry = NULL, *final = NULL, *tmp = NULL,
			    *tmp_rootfs = NULL;
	char digest[65] = "";
	struct stat st;

	if (fd < 0)
		return sfs_fail(err, errno, "%s", file);
	if (sha256_file(fd, digest, file, err) < 0)
		return -1;
	/* the entry's path is the trace's lowerdir: spelt canonically, as export wants */
	lock = img_cache_lock(cache, &images, err);
	if (lock < 0)
		return -1;
	if (asprintf(&entry, "%s/%s", images, digest) < 0 ||
	    asprintf(&final, "%s/rootfs", entry) < 0 ||
	    asprintf(&tmp, "%s/.tmp-%s-XXXXXX", images, digest) < 0)
		return sfs_fail(err, ENOMEM, "%s", file);
	if (stat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (chmod(entry, 0700) < 0)
			return sfs_fail(err, errno, "%s", entry);
		*dir = steal_pointer(&final);
		return 0;
	}
	/* an entry without rootfs/ is an older slimfs's (the entry was the root fs) */
	if (lstat(entry, &st) == 0 && sfs_rm_tree(entry, err) < 0)
		return -1;
	if (!mkdtemp(tmp))   /* 0700: the entry's mode once renamed */
		return sfs_fail(err, errno, "cannot make a directory in %s", images);
	if (asprintf(&tmp_rootfs, "%s/rootfs", tmp) < 0) {
		sfs_fail(err, ENOMEM, "%s", file);
		goto fail;
	}
	if (mkdir(tmp_rootfs, 0755) < 0) {
		sfs_fail(err, errno, "%s", tmp_rootfs);
		goto fail;
	}
	if (unpack_into(file, fd, tmp_rootfs, err) < 0)
		goto fail;
	if (check_rootfs(tmp_rootfs, file, err) < 0)
		goto fail;
	if (rename(tmp, entry) < 0) {
		sfs_fail(err, errno, "cannot rename %s", tmp);
		goto fail;
	}
	*dir = steal_pointer(&final);
	return 0;
fail:
	sfs_rm_tree(tmp, NULL);
	return -1;
}

int image_resolve(const char *rootfs, char **dir, struct sfs_err *err)
{
	struct stat st;
	char *abs;

	if (stat(rootfs, &st) < 0)
		return sfs_fail(err, errno, "%s", rootfs);
	if (S_ISREG(st.st_mode))
		return image_from_tarball(rootfs, sfs_cache_dir(), dir, err);
	if (!S_ISDIR(st.st_mode))
		return sfs_fail(err, 0, "%s: not a directory or an image tarball", rootfs);
	abs = realpath(rootfs, NULL);
	if (!abs)
		return sfs_fail(err, errno, "%s", rootfs);
	if (check_rootfs(abs, rootfs, err) < 0) {
		free(abs);
		return -1;
	}
	*dir = abs;
	return 0;
}
