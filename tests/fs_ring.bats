#!/usr/bin/env bats
# fs_ring.bats — FUSE over io_uring (fs/ring.h, slimfs --io-uring=on|off|auto): with the
# kernel's switch on, requests reach the daemon through one ring queue per CPU, served
# by the daemon's "slimfs-ring" threads pinned to that CPU (SCHED_IDLE, so that a reply
# does not move its caller to the other CPU), and nothing else changes: the same
# operations give the same results and the same trace as through /dev/fuse.  auto (the
# default) takes the ring when the switch is on and /dev/fuse, quietly, when it is off,
# with one line on a terminal saying how to turn it on; on warns when it cannot; off
# never takes it.  The run row says which transport served.
#
# Which transport served the requests is counted exactly: each request the ring delivers
# is a completion on its thread's io_uring (CqTail in /proc/PID/fdinfo), and each reply
# through /dev/fuse is one writev(2) by a "slimfs-fuse" thread (syscw in the thread's
# /proc io).  Negative lookups make no inodes, so the kernel sends no FORGET (which
# always comes through /dev/fuse, and has no reply).
load fs_common

setup_file() {
	# The kernel's switch is host-wide: on for this suite, then back as it was.
	cat "$URING_SWITCH" >"$BATS_FILE_TMPDIR/switch"
	echo Y >"$URING_SWITCH"
	local l=$BATS_FILE_TMPDIR/lower
	mkdir -p "$l/etc" "$l/data"
	echo "image file" >"$l/etc/data"
	head -c 3000000 /dev/urandom >"$l/data/big"
	ln -s data "$l/etc/link"
	manifest "$l" >"$BATS_FILE_TMPDIR/before"
}

teardown_file() {
	cat "$BATS_FILE_TMPDIR/switch" >"$URING_SWITCH"
}

setup() {
	mount_tmp_setup /tmp/slimfs-ring.XXXXXX
	LOWER=$BATS_FILE_TMPDIR/lower
}

teardown() {
	echo Y >"$URING_SWITCH"
	mount_tmp_teardown
	manifest "$LOWER" | diff "$BATS_FILE_TMPDIR/before" -     # the image is untouched
}

# ring_requests PID — requests the ring has delivered to daemon PID: completions
# posted on its io_uring instances, summed.
ring_requests() {
	cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '/^CqTail:/ { n += $2 } END { print n + 0 }'
}

# dev_replies PID — writes by daemon PID's /dev/fuse threads: one per reply (the handlers
# also run there, so a copy-up's writes count too).
dev_replies() {
	tasks_named "$1" slimfs-fuse | sed 's,$,/io,' | xargs -r cat |
		awk '/^syscw:/ { n += $2 } END { print n + 0 }'
}

# ring_threads PID — "TID CPU-LIST" for each of PID's ring threads.
ring_threads() {
	local t
	for t in $(tasks_named "$1" slimfs-ring); do
		echo "${t##*/} $(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status")"
	done
}

# misses N — N lookups of names that do not exist, one at a time.
misses() {
	local i args=()
	for i in $(seq "$1"); do args+=("miss:$MNT/nx$i"); done
	"$(fs_probe)" "${args[@]}"
}

@test "--io-uring: requests come through the ring, served by SCHED_IDLE threads pinned per CPU" {
	local cpus ring dev
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring      # (with all its ring threads)
	# RING_THREADS (4) threads per CPU queue, each allowed on its CPU only
	cpus=$(ring_queues)
	ring_threads "$daemon_pid" >"$BATS_TEST_TMPDIR/threads"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/threads")" -eq $((4 * cpus)) ]
	for c in $(seq 0 $((cpus - 1))); do
		[ "$(awk -v c="$c" '$2 == c' "$BATS_TEST_TMPDIR/threads" | wc -l)" -eq 4 ]
	done
	# SCHED_IDLE, so that a reply does not move the caller to the other CPU
	while read -r tid _; do
		chrt -p "$tid" | grep -q "policy: SCHED_IDLE"
	done <"$BATS_TEST_TMPDIR/threads"
	ring=$(ring_requests "$daemon_pid")
	dev=$(dev_replies "$daemon_pid")
	misses 1000
	ring=$(($(ring_requests "$daemon_pid") - ring))
	dev=$(($(dev_replies "$daemon_pid") - dev))
	echo "ring: $ring requests, /dev/fuse: $dev replies" >&2
	[ "$ring" -ge 1000 ]
	[ "$dev" -eq 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" "SELECT count(*) FROM event_paths WHERE op = 'negative' AND path LIKE '/nx%'")" -eq 1000 ]
}

@test "--io-uring=off: /dev/fuse serves, no ring threads; the daemon's threads by name" {
	local dev
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=off
	dev=$(dev_replies "$daemon_pid")
	misses 1000
	dev=$(($(dev_replies "$daemon_pid") - dev))
	[ "$dev" -ge 1000 ]
	[ -z "$(ring_threads "$daemon_pid")" ]
	[ "$(ring_requests "$daemon_pid")" -eq 0 ]
	# the daemon's threads, by name (README: How it works)
	[ "$(cat /proc/"$daemon_pid"/task/*/comm | sort -u | xargs)" = \
		"slimfs slimfs-fuse slimfs-store slimfs-verify" ]
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" "SELECT transport FROM runs")" = dev_fuse ]
}

# transport TRACE — runs.transport of each run, one per line.
transport() {
	sqlite3 "$1" "SELECT coalesce(transport, 'NULL') FROM runs ORDER BY id"
}

@test "auto (the default) takes the ring when the kernel's switch is on, and the run says so" {
	local ring dev
	start_slimfs "$LOWER" "$MNT" "$TRACE"          # (waits for all its ring threads)
	ring=$(ring_requests "$daemon_pid")
	dev=$(dev_replies "$daemon_pid")
	misses 200
	[ $(($(ring_requests "$daemon_pid") - ring)) -ge 200 ]
	[ "$(dev_replies "$daemon_pid")" -eq "$dev" ]
	umount_slimfs "$MNT" "$TRACE"
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	[ "$(transport "$TRACE")" = io_uring ]
	run --separate-stderr "$SLIMFS_EXPORT" --stats --from "$LOWER" "$TRACE"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "runs by transport: 1 io_uring" ]
}

@test "auto with the kernel's switch off: /dev/fuse serves, quietly, and the run says so" {
	local dev
	echo N >"$URING_SWITCH"
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=auto
	dev=$(dev_replies "$daemon_pid")
	misses 200
	[ $(($(dev_replies "$daemon_pid") - dev)) -ge 200 ]
	[ -z "$(ring_threads "$daemon_pid")" ]
	[ "$(ring_requests "$daemon_pid")" -eq 0 ]
	umount_slimfs "$MNT" "$TRACE"
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]       # (not a terminal: no hint either)
	[ "$(transport "$TRACE")" = dev_fuse ]
	run --separate-stderr "$SLIMFS_EXPORT" --stats --json --from "$LOWER" "$TRACE"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; t = json.loads(sys.argv[1])["transports"]
assert t == {"io_uring": 0, "dev_fuse": 1, "unknown": 0}, t' "$output"
}

# on_terminal CMD... — CMD with its stdin, stdout and stderr on a terminal (script(1)),
# its output on stdout (the terminal's line ends: CRLF).
on_terminal() {
	script -qec "$(printf '%q ' "$@")" /dev/null </dev/null
}

@test "auto: one line on a terminal when the switch is off, saying how to turn it on; none when on" {
	echo N >"$URING_SWITCH"
	on_terminal "$SLIMFS" --trace "$TRACE" "$LOWER" "$MNT" >"$TMP/off.out"
	fs_is_mounted "$MNT"
	misses 10
	umount_slimfs "$MNT" "$TRACE"
	cat -A "$TMP/off.out" >&2
	[ "$(wc -l <"$TMP/off.out")" -eq 1 ]
	grep -q "^slimfs: notice: .*echo Y > /sys/module/fuse/parameters/enable_uring.*faster" "$TMP/off.out"
	[ "$(transport "$TRACE")" = dev_fuse ]
	# the same on a terminal with the switch on: no line at all, and the ring serves
	echo Y >"$URING_SWITCH"
	on_terminal "$SLIMFS" --trace "$TRACE" "$LOWER" "$MNT" >"$TMP/on.out"
	ring_wait_trace "$TRACE"
	misses 10
	umount_slimfs "$MNT" "$TRACE"
	[ ! -s "$TMP/on.out" ]
	[ "$(transport "$TRACE")" = "dev_fuse
io_uring" ]
	# --io-uring=on with the switch off warns instead (also off a terminal), once
	echo N >"$URING_SWITCH"
	on_terminal "$SLIMFS" --io-uring=on --trace "$TRACE" "$LOWER" "$MNT" >"$TMP/on_off.out"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(wc -l <"$TMP/on_off.out")" -eq 1 ]
	grep -q "warning: FUSE over io_uring off: the kernel's switch is off" "$TMP/on_off.out"
}

@test "--io-uring=bogus: a one-line error, nothing mounted" {
	run "$SLIMFS" --io-uring=bogus --trace "$TRACE" "$LOWER" "$MNT"
	[ "$status" -eq 2 ]
	[ "$output" = "slimfs: --io-uring=bogus: expected on, off or auto" ]
	run ! fs_is_mounted "$MNT"
	[ ! -e "$TRACE" ]
	run "$SLIMFS_RUN" --io-uring=bogus "$(rootfs)" -- true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: --io-uring=bogus: must be on, off or auto" ]
}

@test "--hide-cap uring: auto acts as on a kernel without the ring, quietly; on warns" {
	local dev
	start_slimfs "$LOWER" "$MNT" "$TRACE" --hide-cap uring
	dev=$(dev_replies "$daemon_pid")
	misses 100
	[ $(($(dev_replies "$daemon_pid") - dev)) -ge 100 ]
	[ -z "$(ring_threads "$daemon_pid")" ]
	umount_slimfs "$MNT" "$TRACE"
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	[ "$(transport "$TRACE")" = dev_fuse ]
	start_slimfs "$LOWER" "$MNT" "$TRACE" --hide-cap uring --io-uring=on
	misses 10
	[ -z "$(ring_threads "$daemon_pid")" ]
	umount_slimfs "$MNT" "$TRACE"
	[ "$(cat "$BATS_TEST_TMPDIR/daemon.err")" = \
		"slimfs: warning: FUSE over io_uring off: the kernel did not offer it at INIT" ]
}

@test "--io-uring with the kernel's switch off: one warning, /dev/fuse serves" {
	local dev
	echo N >"$URING_SWITCH"
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring
	[ "$(cat "$MNT/etc/data")" = "image file" ]
	dev=$(dev_replies "$daemon_pid")
	misses 10
	[ $(($(dev_replies "$daemon_pid") - dev)) -ge 10 ]
	[ -z "$(ring_threads "$daemon_pid")" ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/daemon.err")" -eq 1 ]
	grep -q "FUSE over io_uring off: the kernel's switch is off (echo Y > /sys/module/fuse/parameters/enable_uring)" \
		"$BATS_TEST_TMPDIR/daemon.err"
}

# workload DIR — every kind of request, with output that shows each result: names,
# link targets, xattrs, contents (large writes and reads: 1 MiB requests; reads of
# files the daemon serves are spliced), renames, links, truncation, removal.  Each step
# must succeed (errexit; hence no `a && b`, whose failing `a` errexit ignores).
workload() {
	local d=$1
	cat "$d/etc/data"
	readlink "$d/etc/link"
	ls -la --time-style=+ "$d/etc" | awk '{ $2 = $6 = ""; print }'   # (no link counts, times)
	sha256sum <"$d/data/big"
	mkdir "$d/new"; echo hello >"$d/new/a"
	head -c 5000000 /dev/urandom >"$BATS_TEST_TMPDIR/blob"
	dd if="$BATS_TEST_TMPDIR/blob" of="$d/new/blob" bs=4M status=none
	cmp "$BATS_TEST_TMPDIR/blob" "$d/new/blob"; echo "blob read back"
	setfattr -n user.k -v v1 "$d/new/a"; (cd "$d/new"; getfattr -d -m user. a)
	ln -s a "$d/new/s"; readlink "$d/new/s"
	ln "$d/new/a" "$d/new/h"; stat -c '%h %s' "$d/new/a"
	mv "$d/new/a" "$d/new/b"; cat "$d/new/b"
	chmod 600 "$d/new/b"; stat -c %a "$d/new/b"
	truncate -s 3 "$d/new/b"; cat "$d/new/b"; echo
	echo more >>"$d/etc/data"; cat "$d/etc/data"            # copy-up of an image file
	rm "$d/new/h" "$d/new/s" "$d/new/blob"; ls "$d/new"
	rm -r "$d/new"; ls "$d"
	! cat "$d/nothing" 2>/dev/null
}

@test "every kind of request through the ring: same results, same trace as /dev/fuse" {
	local ring dev
	for mode in dev ring; do
		TRACE=$TMP/$mode.db
		start_slimfs "$LOWER" "$MNT" "$TRACE" --no-passthrough \
			$([[ $mode == ring ]] && echo --io-uring || echo --io-uring=off)
		ring=$(ring_requests "$daemon_pid")
		dev=$(dev_replies "$daemon_pid")
		workload "$MNT" >"$TMP/$mode.out"
		ring=$(($(ring_requests "$daemon_pid") - ring))
		dev=$(($(dev_replies "$daemon_pid") - dev))
		[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
		umount_slimfs "$MNT" "$TRACE"
		if [[ $mode == ring ]]; then
			[ "$ring" -ge 100 ]
			[ "$dev" -eq 0 ]
		else
			[ "$ring" -eq 0 ]
			[ "$dev" -ge 100 ]
		fi
		# every event but the verifier's (getattr and xattr reads too, unlike
		# fs_events: both transports see the same requests)
		sqlite3 -separator ' ' "$TRACE" "SELECT DISTINCT path, op FROM event_paths
			WHERE op NOT LIKE 'verify%'" | LC_ALL=C sort >"$TMP/$mode.events"
	done
	diff "$TMP/dev.out" "$TMP/ring.out"
	diff "$TMP/dev.events" "$TMP/ring.events"
	grep -qx "blob read back" "$TMP/ring.out"
	grep -q '^/data/big read$' "$TMP/ring.events"          # read by the daemon, spliced
	grep -q '^/new/blob write$' "$TMP/ring.events"
}

@test "--io-uring with passthrough: image files read by the kernel, the rest by the ring" {
	local ring dev
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring
	ring=$(ring_requests "$daemon_pid")
	dev=$(dev_replies "$daemon_pid")
	cmp "$LOWER/data/big" "$MNT/data/big"
	echo "upper" >"$MNT/up"
	[ "$(cat "$MNT/up")" = upper ]
	[ $(($(ring_requests "$daemon_pid") - ring)) -ge 5 ]
	[ "$(dev_replies "$daemon_pid")" -eq "$dev" ]
	umount_slimfs "$MNT" "$TRACE"
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	has_event "$TRACE" /data/big passthrough
	run ! has_event "$TRACE" /data/big read
	has_event "$TRACE" /up read
}

# ring_serving — the daemon's ring has served a request.
ring_serving() {
	local before
	before=$(ring_requests "$daemon_pid")
	misses 20
	[ $(($(ring_requests "$daemon_pid") - before)) -ge 20 ]
}

@test "--io-uring: SIGTERM and unmount both end the daemon, the trace complete" {
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring
	ring_serving
	cat "$MNT/etc/data" >/dev/null
	kill -TERM "$daemon_pid"
	run timeout 10 tail --pid="$daemon_pid" -f /dev/null
	[ "$status" -eq 0 ]
	run ! fs_is_mounted "$MNT"
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	has_event "$TRACE" /etc/data open

	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring
	ring_serving
	fusermount3 -u "$MNT"
	run timeout 10 tail --pid="$daemon_pid" -f /dev/null
	[ "$status" -eq 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/daemon.err" ]
	[ "$(sqlite3 "$TRACE" "SELECT count(*) FROM runs")" -eq 2 ]
	has_event "$TRACE" /nx20 negative
}

@test "slimfs-run passes --io-uring=MODE to its daemon: off serves through /dev/fuse, auto through the ring" {
	local root
	root=$(rootfs)
	"$SLIMFS_RUN" --trace "$TRACE" --io-uring=off "$root" -- sh -c 'ls / >/dev/null; sleep 1' \
		>"$TMP/out" 2>"$TMP/err" &
	for _ in $(seq 100); do
		pgrep -f -- "fs/slimfs -f .*--io-uring=off " >/dev/null && break
		sleep 0.05
	done
	pgrep -f -- "fs/slimfs -f .*--io-uring=off " >/dev/null
	wait "$!"
	[ ! -s "$TMP/err" ]
	# (a listing after the ring has surely registered: OPENDIR is never cached)
	"$SLIMFS_RUN" --trace "$TRACE" "$root" -- sh -c 'sleep 0.5; ls /usr/share' >/dev/null 2>"$TMP/err"
	[ ! -s "$TMP/err" ]
	[ "$(transport "$TRACE")" = "dev_fuse
io_uring" ]
}

@test "slimfs-run --io-uring: the daemon serves the container through the ring" {
	local pid dpid=
	"$SLIMFS_RUN" --trace "$TRACE" --io-uring "$(rootfs)" -- sh -c 'ls / >/dev/null; sleep 3' \
		>"$TMP/out" 2>"$TMP/err" &
	pid=$!
	# while it runs, its daemon is the slimfs started with --io-uring, and the ring's
	# threads serve the container (ls and the dynamic loader: dozens of lookups)
	for _ in $(seq 100); do
		dpid=$(pgrep -f -- "fs/slimfs -f .*--io-uring") || true
		[[ -n $dpid && $(ring_requests "$dpid") -gt 50 ]] && break
		sleep 0.05
	done
	[ -n "$dpid" ]
	[ "$(ring_requests "$dpid")" -gt 50 ]
	wait "$pid"
	[ ! -s "$TMP/err" ]
	has_event "$TRACE" /usr/bin/sleep exec
}
