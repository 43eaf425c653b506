#!/usr/bin/env bats
# fs_errors.bats — bad input gives one line naming the thing, a non-zero exit and
# nothing mounted; a dead mount is cleaned up; signals and unmount end a run cleanly.
load fs_common

setup() {
	fs_setup
	echo x > "$L/file"
}

teardown() {
	if [[ -n ${daemon_pid:-} ]]; then
		kill -9 "$daemon_pid" 2>/dev/null || true
	fi
	fs_teardown   # also unmounts the tmpfs of the busy MOUNTPOINT test
}

# fails_cleanly WHAT — the last `run` failed with one line that names WHAT, and
# nothing is mounted on M.
fails_cleanly() {
	[[ $status -ne 0 ]]
	[[ ${#lines[@]} -eq 1 ]]
	[[ ${lines[0]} == "slimfs: "*"$1"* ]]
	! fs_is_mounted "$M"
}

@test "errors: missing LOWERDIR gives one line and mounts nothing" {
	run "$SLIMFS" --trace "$T" "$BATS_TEST_TMPDIR/nothere" "$M"
	fails_cleanly "$BATS_TEST_TMPDIR/nothere"
	[[ ${lines[0]} == *"No such file or directory"* ]]
}

@test "errors: LOWERDIR that is not a directory gives one line and mounts nothing" {
	run "$SLIMFS" --trace "$T" "$L/file" "$M"
	fails_cleanly "$L/file"
	[[ ${lines[0]} == *"Not a directory"* ]]
}

@test "errors: missing MOUNTPOINT gives one line and mounts nothing" {
	run "$SLIMFS" --trace "$T" "$L" "$BATS_TEST_TMPDIR/nomnt"
	fails_cleanly "$BATS_TEST_TMPDIR/nomnt"
	! fs_is_mounted "$BATS_TEST_TMPDIR/nomnt" 2>/dev/null
}

@test "errors: MOUNTPOINT that is not a directory gives one line" {
	run "$SLIMFS" --trace "$T" "$L" "$L/file"
	[[ $status -ne 0 && ${#lines[@]} -eq 1 && ${lines[0]} == *"$L/file"*"Not a directory"* ]]
}

@test "errors: busy MOUNTPOINT gives one line and mounts nothing more" {
	mount -t tmpfs slimfs-test-busy "$M"
	run "$SLIMFS" --trace "$T" "$L" "$M"
	[[ $status -ne 0 && ${#lines[@]} -eq 1 && ${lines[0]} == *"$M"*"mount point"* ]]
	[[ $(awk -v d="$M" '$5 == d' /proc/self/mountinfo | wc -l) -eq 1 ]]
	! grep -q "fuse.slimfs" <(awk -v d="$M" '$5 == d' /proc/self/mountinfo)
}

@test "errors: unwritable trace path gives one line and mounts nothing" {
	run "$SLIMFS" --trace "$BATS_TEST_TMPDIR/nodir/trace.db" "$L" "$M"
	fails_cleanly "$BATS_TEST_TMPDIR/nodir/trace.db"
}

@test "errors: a text file as trace gives one line and stays unchanged" {
	echo "just some text" > "$T"
	run "$SLIMFS" --trace "$T" "$L" "$M"
	fails_cleanly "$T"
	[[ $(cat "$T") == "just some text" ]]
}

@test "errors: another application's SQLite database as trace gives one line" {
	sqlite3 "$T" "CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES ('keep me');"
	run "$SLIMFS" --trace "$T" "$L" "$M"
	fails_cleanly "$T"
	[[ $(sqlite3 "$T" "SELECT body FROM notes") == "keep me" ]]
	[ "$(sqlite3 "$T" "SELECT count(*) FROM sqlite_master WHERE name = 'runs'")" -eq 0 ]
}

@test "errors: a trace being written by another daemon is refused" {
	mount_slimfs "$L" "$M" "$T"
	M2=$(mktemp -d /tmp/slimfs-mnt.XXXXXX)
	run "$SLIMFS" --trace "$T" "$L" "$M2"
	fs_is_mounted "$M2" && umount -l "$M2"
	rmdir "$M2"
	[[ $status -ne 0 && ${#lines[@]} -eq 1 && ${lines[0]} == *"$T"* ]]
}

@test "errors: a dead mount left by kill -9 is cleaned up by the next mount" {
	# a killed daemon cannot remove its private upper: keep it in the test's directory
	mkdir -p "$BATS_TEST_TMPDIR/tmp"
	TMPDIR=$BATS_TEST_TMPDIR/tmp start_slimfs "$L" "$M" "$T"
	kill -9 "$daemon_pid"
	wait "$daemon_pid" || true
	daemon_pid=
	# the kernel aborts the connection when the last reference to /dev/fuse goes; with
	# the ring that reference is dropped by io_uring's own exit work, after the reaping
	for _ in $(seq 50); do
		run stat "$M"
		[[ $output == *"Transport endpoint is not connected"* ]] && break
		sleep 0.1
	done
	[[ $output == *"Transport endpoint is not connected"* ]]
	run "$SLIMFS" --trace "$BATS_TEST_TMPDIR/trace2.db" "$L" "$M"
	[[ $status -eq 0 ]]
	[[ $output == *"dead mount"*"$M"* ]]
	[[ $(cat "$M/file") == x ]]
	[[ $(awk -v d="$M" '$5 == d' /proc/self/mountinfo | wc -l) -eq 1 ]]
	umount_slimfs "$M" "$BATS_TEST_TMPDIR/trace2.db"
}

@test "errors: SIGTERM unmounts and completes the trace" {
	start_slimfs "$L" "$M" "$T"
	cat "$M/file" > /dev/null
	kill -TERM "$daemon_pid"
	st=0
	wait "$daemon_pid" || st=$?
	daemon_pid=
	[[ $st -eq 0 ]]
	run ! fs_is_mounted "$M"
	[[ $(sqlite3 "$T" "SELECT ended_ns > 0 FROM runs") == 1 ]]
	has_read "$T" /file
}

@test "errors: --ready-fd gets one byte once the mount is up" {
	"$SLIMFS" -f --ready-fd 3 --trace "$T" "$L" "$M" 3> "$BATS_TEST_TMPDIR/ready" &
	daemon_pid=$!
	for _ in $(seq 100); do
		[[ -s $BATS_TEST_TMPDIR/ready ]] && break
		sleep 0.1
	done
	[[ $(stat -c %s "$BATS_TEST_TMPDIR/ready") -eq 1 ]]
	fs_is_mounted "$M"
	umount_slimfs "$M" "$T"
	wait "$daemon_pid"
	daemon_pid=
}

@test "errors: --help and --version exit 0, an unknown option does not" {
	run "$SLIMFS" --help
	[[ $status -eq 0 && $output == *"LOWERDIR MOUNTPOINT"* ]]
	run "$SLIMFS" --version
	[[ $status -eq 0 && $output == "slimfs "* ]]
	run "$SLIMFS" --bogus "$L" "$M"
	[[ $status -ne 0 ]]
	run "$SLIMFS" "$L"
	[[ $status -ne 0 && ${#lines[@]} -eq 1 ]]
}

@test "errors: an upper directory that cannot hold whiteouts is refused" {
	# overlayfs refuses to make the character devices 0/0 whiteouts are made of
	mkdir -p "$BATS_TEST_TMPDIR"/ov/{l,u,w,m}
	mount -t overlay overlay -o "lowerdir=$BATS_TEST_TMPDIR/ov/l,upperdir=$BATS_TEST_TMPDIR/ov/u,workdir=$BATS_TEST_TMPDIR/ov/w" "$BATS_TEST_TMPDIR/ov/m"
	run "$SLIMFS" --trace "$T" --upper "$BATS_TEST_TMPDIR/ov/m/upper" "$L" "$M"
	umount "$BATS_TEST_TMPDIR/ov/m"
	fails_cleanly "$BATS_TEST_TMPDIR/ov/m/upper"
	[[ ${lines[0]} == *whiteouts* ]]
	[[ -z $(ls -A "$BATS_TEST_TMPDIR/ov/u/upper") ]]
}

@test "errors: --spin-us takes 0 to 1000000 microseconds" {
	run "$SLIMFS" --spin-us -1 --trace "$T" "$L" "$M"
	fails_cleanly "--spin-us"
	run "$SLIMFS" --spin-us 1ms --trace "$T" "$L" "$M"
	fails_cleanly "--spin-us"
	for spin in 0 1000000; do
		mount_slimfs "$L" "$M" "$T" --spin-us "$spin"
		[[ $(cat "$M/file") == x ]]
		umount_slimfs "$M" "$T"
	done
}

# cpu_ticks PID — user + system time of a process, in clock ticks
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

@test "errors: with --spin-us, an idle mount costs no CPU" {
	start_slimfs "$L" "$M" "$T" --spin-us 100000
	for _ in $(seq 200); do cat "$M/file" > /dev/null; done
	sleep 0.5
	before=$(cpu_ticks "$daemon_pid")
	sleep 2
	after=$(cpu_ticks "$daemon_pid")
	# 100 ms of polling after the last request at most; a poller that never stopped
	# would burn ~200 ticks here
	[[ -n $before && -n $after ]]
	[[ $((after - before)) -le 5 ]]
	umount_slimfs "$M" "$T"
	wait "$daemon_pid"
	daemon_pid=
}

@test "errors: SIGTERM ends a run while a file on the mount is still open" {
	start_slimfs "$L" "$M" "$T"
	exec 4< "$M/file"
	kill -TERM "$daemon_pid"
	st=0
	timeout 10 tail --pid="$daemon_pid" -f /dev/null || st=$?
	exec 4<&-
	[[ $st -eq 0 ]]
	wait "$daemon_pid"
	daemon_pid=
	run ! fs_is_mounted "$M"
	[[ $(sqlite3 "$T" "SELECT ended_ns > 0 FROM runs") == 1 ]]
}

@test "errors: a SIGTERM sent while the daemon is stopped ends the run once it continues" {
	# The signal is pending for the whole process while it is stopped, and taken by
	# whichever thread runs first after SIGCONT: it must be the one that waits for it.
	for round in $(seq 10); do
		start_slimfs "$L" "$M" "$T"
		cat "$M/file" > /dev/null
		kill -STOP "$daemon_pid"
		kill -TERM "$daemon_pid"
		kill -CONT "$daemon_pid"
		# no request reaches the mount now: the signal alone must end the run
		if ! timeout 10 tail --pid="$daemon_pid" -f /dev/null; then
			echo "round $round: the daemon is still running"
			return 1
		fi
		wait "$daemon_pid"
		daemon_pid=
		run ! fs_is_mounted "$M"
		[[ $(sqlite3 "$T" "SELECT count(*) FROM runs WHERE ended_ns IS NULL") == 0 ]]
	done
}

@test "errors: a daemonized slimfs says in syslog why its trace could not be written, and the run is incomplete" {
	# The daemon runs in a mount namespace of its own, whose /dev is a tmpfs with the
	# devices it needs and a syslog socket (/dev/log) this test listens on
	# (tests/fs_syslog_ns.sh).
	LOG=$BATS_TEST_TMPDIR/syslog SLIMFS=$SLIMFS T=$T L=$L M=$M \
		unshare -m --propagation private sh "$SLIMFS_SRC/tests/fs_syslog_ns.sh"
	cat "$BATS_TEST_TMPDIR/syslog"
	grep -q 'slimfs\[[0-9]*\]: trace writer: .*database is locked' "$BATS_TEST_TMPDIR/syslog"
	# the run ended, and says what went wrong
	[[ $(sqlite3 "$T" "SELECT ended_ns > 0 FROM runs") == 1 ]]
	[[ $(sqlite3 "$T" "SELECT incomplete FROM runs") == *"database is locked"* ]]
	# what was recorded meanwhile was written later
	[[ $(sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE path LIKE '/missing%' AND op = 'negative'") == 70 ]]
	run "$SLIMFS_EXPORT" --stats --from "$L" "$T"
	[[ $status -eq 0 && ${lines[0]} == '!!! INCOMPLETE: 1 of 1 runs'* ]]
	"$SLIMFS_EXPORT" --stats --json --from "$L" "$T" > "$BATS_TEST_TMPDIR/stats.json"
	[[ $(sqlite3 :memory: "SELECT json_extract(readfile('$BATS_TEST_TMPDIR/stats.json'), '\$.incomplete')") == 1 ]]
}
