# fs_common.bash — helpers shared by the fs_*.bats suites (the recording overlay).
load helpers

# fs_probe — path of the static workload helper (tests/fs_probe.c), built once per suite.
fs_probe() {
	local p=$BATS_FILE_TMPDIR/fs_probe
	if [[ ! -x $p ]]; then
		cc -static -O1 -o "$p" "$SLIMFS_SRC/tests/fs_probe.c" >&2 || return 1
	fi
	echo "$p"
}

# fs_events TRACE — "path op" for every recorded event except attribute reads, xattr
# reads and the fanotify verifier's confirmations (those depend on the kernel's
# caching and on host tools), sorted.
fs_events() {
	sqlite3 -separator ' ' "$1" "SELECT path, op FROM event_paths
		WHERE op NOT IN ('getattr', 'getxattr', 'listxattr', 'verify_open', 'verify_read', 'verify_exec')" |
		LC_ALL=C sort -u
}

# fs_setup — per-test paths: lower tree L, mount point M, trace T.
fs_setup() {
	L=$BATS_TEST_TMPDIR/lower
	T=$BATS_TEST_TMPDIR/trace.db
	# The mount point lives where other users can reach it (bats' own directories
	# are private to root), so tests can run commands as another user.
	M=$(mktemp -d /tmp/slimfs-mnt.XXXXXX)
	chmod 755 "$M"
	mkdir -p "$L"
}

fs_teardown() {
	if fs_is_mounted "$M"; then
		umount_slimfs "$M" "$T"
	fi
	# a test that failed half-way may leave a dead mount behind
	if fs_is_mounted "$M"; then
		umount -l "$M" || true
	fi
	rmdir "$M" 2>/dev/null || true
}
