/* ops.c — connection setup (init) and the table of FUSE low-level operations.
 *
 * init decides what the kernel may cache.  The recorder must see the FIRST use of
 * every path; after that, every round trip the kernel saves is speed for the
 * workload.  The timeouts (fs->timeout, long) and the capabilities below are chosen
 * for exactly that, one reason per line.
 *
 * What they cost or save, measured (docs/benchmarks.md; 2 vCPU VM, kernel 6.18):
 *  - long timeouts keep ~all inodes in the kernel: warm runs send no LOOKUP, but the
 *    daemon must serve 100k+ remembered inodes; it holds no fd per inode (fs/inode.h:
 *    4,096 cached fds; 100k-file walk: 0 errors, 4,119 fds, 35.5 MB VmHWM).
 *  - READDIRPLUS off costs one LOOKUP per name (fuse-overlayfs sends 76 LOOKUP where
 *    we send 7,984 on `ls -lR /usr`): the price of recording every lookup.
 *  - POSIX_ACL + cached listings: warm `ls -lR /usr` 6.45x -> 3.38x native.
 *  - no FLUSH for image files (noflush) and keep_cache: one round trip less per close,
 *    no READ for pages already cached; `-o noatime` measured no gain (the kernel
 *    invalidates atime after every FUSE read regardless, so GETATTR follows reads).
 *  - FUSE passthrough for read-only opens of image files (passthrough.h, set up around
 *    libfuse: not a capability it knows): no READ at all, cold `tar cf - /usr/lib`
 *    ~6.5x -> ~5x native; but warm, each re-read file costs one GETATTR more (the
 *    kernel invalidates atime after a passthrough read too, and the FUSE page cache,
 *    which serves warm reads without any request, is not used).
 *  - FUSE over io_uring (ring.h, slimfs --io-uring, opt-in: the kernel's switch is
 *    host-wide): a request is served on its caller's CPU, so no vCPU is woken; cold
 *    `tar cf - /usr/lib` ~4.6x -> ~4.2x native, `ls -lR /usr` cold ~11x -> ~6.3x,
 *    warm ~3.9x -> ~2.3x.
 */
#include "ops.h"

static void sfs_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Timeouts (fs->timeout, SFS_TIMEOUT in mount.c, 3600 s) for entries, attributes
	 * and negative entries: nothing but this mount changes either layer, and every
	 * change through it updates the kernel's caches; a cached entry or miss only
	 * hides a REPEATED access, the first one was recorded when it was looked up. */
	(void)userdata;
	/* READDIRPLUS off: it would create dentries for every listed name, so the
	 * lookups that follow a listing (the real accesses) would never reach us. */
	conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	/* Cache symlink targets: the first readlink still reaches us and is recorded. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* O_TRUNC arrives in open's flags: recorded as a write-open, done by open. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Reads are spliced from the file to the kernel without a copy through us.  Not
	 * SPLICE_MOVE: with it the kernel steals the image's page-cache pages into the
	 * mount's (one `tar cf - /usr/lib` evicted 26 of 81 MB of the image from the
	 * host's cache; the next run, and every other reader, read them from disk). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* Lookups in one directory may run in parallel: each takes its directory's lock
	 * for reading only (fs/fs.h), so they wait for nothing but a change of it. */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Write-through, no writeback cache: the first write of a handle is recorded
	 * when it happens and upper files are complete at every moment. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Nothing but this mount changes the layers: no need to check mtimes on open. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* POSIX and flock locks are left to the kernel: it is the only client, and
	 * a blocking lock then never ties up a daemon thread. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* ACLs: the kernel enforces them and caches each inode's (or its absence), so
	 * `ls -l` does not ask us for system.posix_acl_access on every file. */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* The kernel applies the caller's umask before asking us (the daemon's is 0). */
	conn->want &= ~FUSE_CAP_DONT_MASK;
	/* The kernel clears set-id bits and capabilities itself, by setattr/removexattr. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
}

const struct fuse_lowlevel_ops sfs_ops = {
	.init = sfs_init,
	.lookup = sfs_lookup,
	.forget = sfs_forget,
	.forget_multi = sfs_forget_multi,
	.getattr = sfs_getattr,
	.setattr = sfs_setattr,
	.readlink = sfs_readlink,
	.mknod = sfs_mknod,
	.mkdir = sfs_mkdir,
	.symlink = sfs_symlink,
	.unlink = sfs_unlink,
	.rmdir = sfs_rmdir,
	.rename = sfs_rename,
	.link = sfs_link,
	.open = sfs_open,
	.create = sfs_create,
	.read = sfs_read,
	.write_buf = sfs_write_buf,
	.flush = sfs_flush,
	.release = sfs_release,
	.fsync = sfs_fsync,
	.fallocate = sfs_fallocate,
	.opendir = sfs_opendir,
	.readdir = sfs_readdir,
	.releasedir = sfs_releasedir,
	.fsyncdir = sfs_fsyncdir,
	.statfs = sfs_statfs,
	.setxattr = sfs_setxattr,
	.getxattr = sfs_getxattr,
	.listxattr = sfs_listxattr,
	.removexattr = sfs_removexattr,
};
