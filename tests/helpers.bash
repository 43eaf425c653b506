# helpers.bash — shared by the bats suites.  Tests run as root on real FUSE mounts.
SLIMFS_BUILD=${SLIMFS_BUILD:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build}
SLIMFS_SRC=${SLIMFS_SRC:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
SLIMFS=$SLIMFS_BUILD/fs/slimfs
SLIMFS_EXPORT=$SLIMFS_BUILD/export/slimfs-export
SLIMFS_RUN=$SLIMFS_BUILD/run/slimfs-run
bats_require_minimum_version 1.5.0      # run ! CMD

# lacks GREP-ARGS... — fails if grep finds a match.  A bare `! grep` in the middle of a
# test or helper checks nothing (errexit ignores negated commands): use this, or run !.
lacks() {
	! grep -q "$@"
}

# The cached Debian 12 root filesystem (made on first use, about a minute).
rootfs() {
	"$SLIMFS_SRC/tests/rootfs.sh"
}

# SLIMFS_TEST_OPTS (environment) — slimfs options every mount of a suite gets, split into
# TEST_OPTS (tests/meson.build runs suites again with --io-uring, and with each INIT
# capability hidden: --hide-cap CAP).
read -r -a TEST_OPTS <<<"${SLIMFS_TEST_OPTS:-}"

# The kernel's host-wide switch for FUSE over io_uring (fs/ring.h).
URING_SWITCH=/sys/module/fuse/parameters/enable_uring

# tasks_named PID NAME — /proc/PID/task/TID for each of PID's threads named NAME.
tasks_named() {
	grep -lx -- "$2" /proc/"$1"/task/*/comm 2>/dev/null | sed 's,/comm$,,'
}

# ring_queues — the kernel's FUSE ring queues: one per possible CPU ("0-3,8-11": 12).
ring_queues() {
	echo $(($(tr ',-' '\n\n' </sys/devices/system/cpu/possible | sort -n | tail -1) + 1))
}

# ring_wait CMD... — one of the daemons whose pids CMD prints (run again on each try)
# has all its ring threads (4 per queue) and keeps them: a thread whose entry the
# kernel refuses leaves at once.
ring_wait() {
	local want n=0 ok=0 pid best
	want=$((4 * $(ring_queues)))
	for _ in $(seq 100); do
		best=0
		for pid in $("$@"); do
			n=$(tasks_named "$pid" slimfs-ring | wc -l)
			((n > best)) && best=$n
		done
		n=$best
		if ((n == want)); then ((++ok == 3)) && return 0; else ok=0; fi
		sleep 0.05
	done
	echo "slimfs $*: $n ring threads, want $want" >&2
	return 1
}

# ring_wait_trace TRACE — ring_wait for the daemon writing TRACE.  Every process whose
# command line names the trace is tried, not only the newest: under ASan, a daemon that
# has just finished its trace runs LeakSanitizer as it exits, in a cloned task with the
# same command line that is newer than the next mount's daemon.
ring_wait_trace() {
	ring_wait pgrep -f -- "--trace $1 "
}

# on_ring — the suite runs with --io-uring in TEST_OPTS: every mount must have its ring
# (ring_wait), so a suite run "on the ring" cannot pass on /dev/fuse alone.
on_ring() {
	[[ " ${TEST_OPTS[*]} " == *" --io-uring "* || " ${TEST_OPTS[*]} " == *" --io-uring=on "* ]]
}

# hidden CAP [slimfs options...] — the mount acts as if the kernel lacked INIT
# capability CAP (slimfs --hide-cap, in TEST_OPTS or the options).
hidden() {
	local cap=$1
	shift
	[[ " ${TEST_OPTS[*]} $* " =~ \ --hide-cap[=\ ]([^\ ]*,)?$cap(,[^\ ]*)?\  ]]
}

# ring_expected [slimfs options...] — a mount with these options takes its requests
# through the ring once it has all its threads: on_ring (then it must), or the
# kernel's switch on with neither --io-uring=off nor the ring hidden (--io-uring=auto,
# the default, and on take it then).  (Until then, /dev/fuse serves.)
ring_expected() {
	on_ring && return
	[[ $(<"$URING_SWITCH") == Y && " ${TEST_OPTS[*]} $* " != *" --io-uring=off "* ]] &&
		! hidden uring "$@"
}

# pt_expected [slimfs options...] — image files opened to be read go to FUSE
# passthrough (recorded as such): neither --no-passthrough nor passthrough hidden.
pt_expected() {
	[[ " ${TEST_OPTS[*]} $* " != *" --no-passthrough "* ]] && ! hidden passthrough "$@"
}

# mount_slimfs LOWER MNT TRACE [slimfs options...] — mounts, returns when mounted.
mount_slimfs() {
	local lower=$1 mnt=$2 trace=$3
	shift 3
	mkdir -p "$mnt"
	"$SLIMFS" --trace "$trace" "${TEST_OPTS[@]}" "$@" "$lower" "$mnt" || return
	! ring_expected "$@" || ring_wait_trace "$trace"
}

# umount_slimfs MNT TRACE — unmounts and waits until the daemon has finished the
# trace (it holds a lock on the trace file while it writes).
umount_slimfs() {
	local mnt=$1 trace=$2
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	timeout 30 flock "$trace" true
}

# mount_tmp_setup TEMPLATE — a fresh directory TMP (mktemp -d TEMPLATE) holding the
# paths LOWER, MNT and TRACE of one mount; makes MNT, the suite makes LOWER.
mount_tmp_setup() {
	TMP=$(mktemp -d "$1")
	LOWER=$TMP/lower
	MNT=$TMP/mnt
	TRACE=$TMP/trace.db
	mkdir -p "$MNT"
}

# mount_tmp_teardown — unmounts MNT (if still mounted) and removes TMP.
mount_tmp_teardown() {
	umount_slimfs "$MNT" "$TRACE"
	# a dead mount may still sit below the one just unmounted
	umount -l "$MNT" 2>/dev/null || true
	rm -rf "$TMP"
}

# fs_is_mounted DIR — true if DIR is a mount point (per /proc/self/mountinfo).
fs_is_mounted() {
	local d
	d=$(realpath "$1")
	awk -v d="$d" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# start_slimfs LOWER MNT TRACE [slimfs options...] — slimfs -f in the background, so
# $daemon_pid is the daemon itself (to signal or watch); returns once MNT is mounted,
# or fails after 10 s with the daemon's stderr (kept in $BATS_TEST_TMPDIR/daemon.err).
start_slimfs() {
	local lower=$1 mnt=$2 trace=$3
	shift 3
	"$SLIMFS" -f --trace "$trace" "${TEST_OPTS[@]}" "$@" "$lower" "$mnt" \
		2>"$BATS_TEST_TMPDIR/daemon.err" &
	daemon_pid=$!
	for _ in $(seq 100); do
		fs_is_mounted "$mnt" && { ! ring_expected "$@" || ring_wait echo "$daemon_pid"; return; }
		sleep 0.1
	done
	cat "$BATS_TEST_TMPDIR/daemon.err" >&2
	return 1
}

# has_event TRACE PATH OP — true if PATH was recorded with OP.
has_event() {
	local n
	n=$(sqlite3 "$1" "SELECT count(*) FROM event_paths WHERE path = '$2' AND op = '$3'")
	[[ $n -gt 0 ]]
}

# READ_OPS — SQL: the event is read evidence recorded by the daemon, a read it served
# or a passthrough open (the kernel reads such a file without it).
READ_OPS="op IN ('read', 'passthrough')"

# has_read TRACE PATH — TRACE holds read evidence for PATH recorded by the daemon.
has_read() {
	local n
	n=$(sqlite3 "$1" "SELECT count(*) FROM event_paths WHERE path = '$2' AND $READ_OPS")
	[[ $n -gt 0 ]]
}

# fails_one_line [PATTERN] — the last `run --separate-stderr` failed with exactly one line
# on stderr, which matches the glob PATTERN (default: anything).
fails_one_line() {
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == ${1:-*} ]]
}

# manifest DIR — one line per path: type, mode, owner, size, mtime, xattrs, digest.
manifest() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %T@ %l\n' | sort) &&
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) &&
	(cd "$1" && getfattr -R -d -m - -h . 2>/dev/null || true)
}

# mount_slimfs_tiny_queue LOWER MNT TRACE [slimfs options...] — mount while the host's
# fanotify queue limit (fs.fanotify.max_queued_events) is 1; the daemon takes the limit
# when it makes its fanotify group, so the host value is put back right after mounting.
# With --verify-queue limited the daemon's queue then holds one event.
mount_slimfs_tiny_queue() {
	local q=/proc/sys/fs/fanotify/max_queued_events saved rc=0
	saved=$(cat "$q")
	echo 1 >"$q"
	mount_slimfs "$@" || rc=$?
	echo "$saved" >"$q"
	return "$rc"
}

# read_all_files DIR — cat every file below DIR, 4 readers in parallel (a burst of
# opens and reads for the verifier).
read_all_files() {
	find "$1" -type f -print0 | xargs -0 -P 4 -n 100 cat >/dev/null
}

# daemon_file_fds PID — the daemon's fds on files and directories: the inode fd cache,
# open handles, the layers, the trace.  Pipes (libfuse's splice, a pair per request
# thread, made when the thread first replies), epoll instances, /dev/fuse and fanotify
# follow the thread pool, not the files.
daemon_file_fds() {
	find "/proc/$1/fd" -mindepth 1 ! -lname 'pipe:*' ! -lname 'anon_inode:*' \
		! -lname 'socket:*' ! -lname '/dev/*' | wc -l
}
