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
	# a lease a failed test still holds (hold_lease) would stall the daemon's teardown
	if [[ -n ${lease_pid:-} ]]; then
		touch "$BATS_TEST_TMPDIR/lease.release"
		kill "$lease_pid" 2>/dev/null || true
	fi
	if fs_is_mounted "$M"; then
		umount_slimfs "$M" "$T"
	fi
	# a test that failed half-way may leave a dead mount behind
	if fs_is_mounted "$M"; then
		umount -l "$M" || true
	fi
	rmdir "$M" 2>/dev/null || true
}

# hold_lease FILE — a background process ($lease_pid) takes a write lease on FILE (an
# image file nobody has open) and keeps it until release_lease: whoever opens FILE
# meanwhile (to read its content) blocks in open until then, and the holder notes in
# $BATS_TEST_TMPDIR/lease.opened that somebody tried.  (The kernel breaks a lease
# that is not given back after fs.lease-break-time, 45 s by default.)
hold_lease() {
	rm -f "$BATS_TEST_TMPDIR/lease.opened" "$BATS_TEST_TMPDIR/lease.ready" \
		"$BATS_TEST_TMPDIR/lease.release"
	python3 - "$1" "$BATS_TEST_TMPDIR" <<'PY' &
import fcntl, os, signal, sys, time
path, tmp = sys.argv[1], sys.argv[2]
F_SETLEASE, F_WRLCK, F_UNLCK = 1024, 1, 2
def opened(sig, frame):
    open(f"{tmp}/lease.opened", "w").close()
signal.signal(signal.SIGIO, opened)
fd = os.open(path, os.O_RDONLY)
fcntl.fcntl(fd, F_SETLEASE, F_WRLCK)
open(f"{tmp}/lease.ready", "w").close()
while not os.path.exists(f"{tmp}/lease.release"):
    time.sleep(0.02)
fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
PY
	lease_pid=$!
	for _ in $(seq 200); do
		[[ -e $BATS_TEST_TMPDIR/lease.ready ]] && return 0
		kill -0 "$lease_pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# lease_opened [SECONDS] — somebody opened the leased file (waits up to SECONDS, 0: no wait)
lease_opened() {
	local n=$((${1:-0} * 50))
	for ((k = 0; k <= n; k++)); do
		[[ -e $BATS_TEST_TMPDIR/lease.opened ]] && return 0
		((n)) && sleep 0.02
	done
	return 1
}

release_lease() {
	touch "$BATS_TEST_TMPDIR/lease.release"
	wait "$lease_pid"
}
