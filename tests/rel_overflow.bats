#!/usr/bin/env bats
# rel_overflow.bats — a workload that makes the daemon open more lower files than a
# (deliberately tiny, --verify-queue limited) fanotify queue holds: the overflow is
# detected, the run is marked incomplete in the trace (runs.overflow = 1) and
# slimfs-export says so in --stats (an INCOMPLETE line) and --stats --json
# ("incomplete": true).  A run without overflow says complete in all three places.
# fs_verify.bats covers the overflow at the trace level; this suite checks the export.
load helpers

setup() {
	mount_tmp_setup /tmp/slimfs-overflow.XXXXXX
	mkdir -p "$LOWER/many" "$LOWER/usr/bin"
	for i in $(seq 1 3000); do echo "$i" >"$LOWER/many/f$i"; done
}

teardown() {
	mount_tmp_teardown
}


@test "a fanotify overflow marks the run incomplete in the trace and in export --stats" {
	mount_slimfs_tiny_queue "$LOWER" "$MNT" "$TRACE" --verify-queue limited
	read_all_files "$MNT/many"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" 'SELECT overflow FROM runs')" -eq 1 ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --stats "$TRACE"
	[ "$status" -eq 0 ]
	echo "$output" | head -3
	[ "$(echo "$output" | grep -ci incomplete)" -ge 1 ]
	[[ "$(echo "$output" | grep -i incomplete)" == *"1 of 1 runs"* ]]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --stats --json "$TRACE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["incomplete"], d["incomplete_runs"])')" = "True 1" ]
	# the paths the workload read are still all in the trace (the daemon's own record)
	n=$(sqlite3 "$TRACE" "SELECT count(DISTINCT path) FROM event_paths WHERE $READ_OPS AND path LIKE '/many/f%'")
	[ "$n" -eq 3000 ]
}

@test "an overflowed run merged with a complete one still makes the export incomplete" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	cat "$MNT/many/f1" >/dev/null
	umount_slimfs "$MNT" "$TRACE"
	mount_slimfs_tiny_queue "$LOWER" "$MNT" "$TRACE" --verify-queue limited
	read_all_files "$MNT/many"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" 'SELECT group_concat(overflow) FROM (SELECT overflow FROM runs ORDER BY id)')" = "0,1" ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --stats --json "$TRACE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["incomplete"], d["incomplete_runs"], d["runs"])')" = "True 1 2" ]
}

@test "a run without overflow is complete in the trace and in export --stats" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	read_all_files "$MNT/many"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" 'SELECT overflow FROM runs')" -eq 0 ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --stats "$TRACE"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -ci incomplete)" -eq 0 ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$LOWER" --stats --json "$TRACE"
	[ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["incomplete"])')" = False ]
}
