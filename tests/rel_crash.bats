#!/usr/bin/env bats
# rel_crash.bats — kill -9 of the daemon in the middle of a busy workload: the trace
# opens, passes PRAGMA integrity_check, and holds every path the workload touched more
# than a second (ten flush intervals, TRACE_FLUSH_MS = 100) before the kill; the dead
# mount left behind is cleaned up by the next slimfs on that mount point with a notice,
# and slimfs-run never leaves a mount behind when its daemon dies.
load helpers

NDIRS=20
NFILES=150   # per directory: 3000 files

setup() {
	mount_tmp_setup /tmp/slimfs-crash.XXXXXX
	mkdir -p "$LOWER"
	python3 - "$LOWER" "$NDIRS" "$NFILES" <<'PY'
import os, sys
root, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    os.mkdir(f"{root}/d{d}")
    for f in range(nf):
        with open(f"{root}/d{d}/f{f}", "w") as fh:
            fh.write(f"{d}/{f}\n")
PY
	daemon_pid=
}

teardown() {
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null || true
	[ -n "${WPIDS:-}" ] && kill $WPIDS 2>/dev/null || true
	wait 2>/dev/null || true
	mount_tmp_teardown
}

# busy_workload N — N processes stat and read the files through the mount, each logging
# "time path" (container path) after every successful access, until the mount dies.
# kill -9 the daemon, then wait for the workers (they end on their first failed read).
kill_daemon_and_workers() {
	kill -9 "$daemon_pid"
	wait "$daemon_pid" || true
	daemon_pid=
	for p in $WPIDS; do wait "$p" || true; done
	WPIDS=
}

busy_workload() {
	WPIDS=
	for w in $(seq 0 $(($1 - 1))); do
		python3 - "$MNT" "$w" "$1" "$NDIRS" "$NFILES" >"$TMP/touched.$w" 2>/dev/null <<'PY' &
import os, sys, time
mnt, w, n, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
paths = [f"/d{d}/f{f}" for f in range(nf) for d in range(nd)][w::n]
try:
    while True:
        for p in paths:
            os.stat(mnt + p)
            with open(mnt + p) as fh:
                fh.read()
            print(f"{time.time():.6f} {p}", flush=True)
            time.sleep(0.005)
except OSError:
    pass
PY
		WPIDS="$WPIDS $!"
	done
}

@test "kill -9 mid-workload leaves a sound trace holding every path older than a second" {
	start_slimfs "$LOWER" "$MNT" "$TRACE" --no-verify
	busy_workload 4
	sleep 4
	kill_time=$(date +%s.%N)
	kill_daemon_and_workers
	[ "$(sqlite3 "$TRACE" 'PRAGMA integrity_check')" = ok ]
	cat "$TMP"/touched.* | awk -v k="$kill_time" '$1 < k - 1 { print $2 }' | sort -u >"$TMP/expected"
	cat "$TMP"/touched.* | awk '{ print $2 }' | sort -u >"$TMP/all"
	sqlite3 "$TRACE" "SELECT DISTINCT path FROM event_paths" | sort -u >"$TMP/recorded"
	echo "# touched $(wc -l <"$TMP/all") paths, $(wc -l <"$TMP/expected") more than 1 s before the kill" >&3
	[ "$(wc -l <"$TMP/expected")" -gt 200 ]
	missing=$(comm -23 "$TMP/expected" "$TMP/recorded" | wc -l)
	comm -23 "$TMP/expected" "$TMP/recorded" | head
	[ "$missing" -eq 0 ]
	# the run that was killed is in the trace, without an end time
	[ "$(sqlite3 "$TRACE" 'SELECT count(*) FROM runs WHERE ended_ns IS NULL OR ended_ns = 0')" -eq 1 ]
}

@test "kill -9 with the fanotify verifier on leaves a sound trace" {
	start_slimfs "$LOWER" "$MNT" "$TRACE"
	busy_workload 2
	sleep 3
	kill_daemon_and_workers
	[ "$(sqlite3 "$TRACE" 'PRAGMA integrity_check')" = ok ]
	n=$(sqlite3 "$TRACE" "SELECT count(DISTINCT path) FROM event_paths WHERE $READ_OPS")
	[ "$n" -gt 50 ]
}

@test "the killed daemon's trace is readable by slimfs-export" {
	start_slimfs "$LOWER" "$MNT" "$TRACE" --no-verify
	busy_workload 2
	sleep 2
	kill_daemon_and_workers
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --list "$TRACE"
	[ "$status" -eq 0 ]
	[[ "$output" == */d0/f0* ]]
}

@test "the next slimfs on a dead mount point cleans it up with a notice and mounts" {
	start_slimfs "$LOWER" "$MNT" "$TRACE" --no-verify
	cat "$MNT/d0/f0" >/dev/null
	kill -9 "$daemon_pid"
	wait "$daemon_pid" || true
	daemon_pid=
	run stat "$MNT/d0/f0"
	[ "$status" -ne 0 ]                     # the dead mount: ENOTCONN
	grep -q " $MNT fuse" /proc/mounts
	run --separate-stderr "$SLIMFS" --trace "$TMP/trace2.db" "$LOWER" "$MNT"
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"$MNT"* ]]
	[ "$(cat "$MNT/d3/f7")" = 3/7 ]
	[ "$(grep -c " $MNT fuse" /proc/mounts)" -eq 1 ]
	umount_slimfs "$MNT" "$TMP/trace2.db"
	has_read "$TMP/trace2.db" /d3/f7
	! grep -q " $MNT fuse" /proc/mounts
}

# The workload stops at its first failing read: slimfs-run does not yet end a container
# whose daemon died (reported to the run work), so a CMD that ignores ENOTCONN would loop.
@test "slimfs-run whose daemon is killed ends with the workload and leaves no mount behind" {
	root=$(rootfs)
	"$SLIMFS_RUN" --trace "$TRACE" --no-verify "$root" -- /bin/sh -c \
		'while :; do for f in /usr/share/zoneinfo/*/*; do [ -d "$f" ] && continue; cat "$f" >/dev/null || exit 3; done; done' \
		>"$TMP/run.out" 2>"$TMP/run.err" &
	RPID=$!
	daemon=
	for _ in $(seq 1 100); do
		daemon=$(ps -o pid=,comm= --ppid "$RPID" | awk '$2 == "slimfs" { print $1 }')
		[ -n "$daemon" ] && break
		sleep 0.1
	done
	[ -n "$daemon" ]
	sleep 2
	kill -9 "$daemon"
	ended=0
	for _ in $(seq 1 300); do
		kill -0 "$RPID" 2>/dev/null || { ended=1; break; }
		sleep 0.1
	done
	[ "$ended" -eq 1 ] || kill -9 "$RPID"
	wait "$RPID" && rc=0 || rc=$?
	echo "ended=$ended rc=$rc"
	[ "$ended" -eq 1 ]                      # slimfs-run ended by itself
	tail -n 3 "$TMP/run.err"
	[ "$rc" -ne 0 ]
	lacks "$TMP\|/run/slimfs" /proc/mounts
	[ "$(sqlite3 "$TRACE" 'PRAGMA integrity_check')" = ok ]
	has_event "$TRACE" /usr/share/zoneinfo lookup
	# and the next run works
	run "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$root" -- /bin/cat /etc/debian_version
	[ "$status" -eq 0 ]
	[[ "$output" == 12* ]]
}
