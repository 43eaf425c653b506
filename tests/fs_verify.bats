#!/usr/bin/env bats
# fs_verify.bats — the fanotify verifier inside the real daemon: what the workload made
# the daemon physically open and read in LOWERDIR is confirmed (verify_open,
# verify_read) under the path inside the container; what was only looked at is not;
# --no-verify turns it off; a limited queue that overflows marks the run incomplete, in
# the trace and in slimfs-export --stats.
#
# FAN_OPEN_EXEC cannot come from a FUSE daemon (open(2) drops the kernel's exec flag),
# so an exec through the mount is confirmed as an open and a read of the binary; the
# daemon itself records the exec intent (op "exec").  verify_exec is covered by
# tests/verify_unit.c, where a binary runs straight from the private mount.
load helpers

setup() {
	mount_tmp_setup /tmp/slimfs-fsverify.XXXXXX
	mkdir -p "$LOWER"/etc "$LOWER"/bin "$LOWER"/many
	echo "read through the mount" >"$LOWER/etc/data"
	echo "only stat'ed" >"$LOWER/etc/statonly"
	echo "never touched" >"$LOWER/etc/untouched"
	ln -s data "$LOWER/etc/alias"
	cp /bin/true "$LOWER/bin/true"
}

teardown() {
	mount_tmp_teardown
}

run_value() {
	sqlite3 "$TRACE" "SELECT $1 FROM runs ORDER BY id DESC LIMIT 1"
}

# stats_value KEY — KEY of `slimfs-export --stats --json TRACE` (read with sqlite3's JSON
# functions, already a test dependency).
stats_value() {
	"$SLIMFS_EXPORT" --from "$LOWER" --stats --json "$TRACE" >"$TMP/stats.json"
	sqlite3 :memory: "SELECT json_extract(readfile('$TMP/stats.json'), '\$.$1')"
}

verify_events_of() {
	sqlite3 "$TRACE" "SELECT count(*) FROM event_paths WHERE path = '$1' AND op LIKE 'verify_%'"
}

@test "verifier confirms a file read through the mount" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	run cat "$MNT/etc/data"
	[ "$status" -eq 0 ]
	[ "$output" = "read through the mount" ]
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /etc/data verify_open
	has_event "$TRACE" /etc/data verify_read
	[ "$(run_value verifier)" -eq 1 ]
	[ "$(run_value overflow)" -eq 0 ]
}

@test "verifier confirms a read through a symlink at the target's path" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	cat "$MNT/etc/alias" >/dev/null
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /etc/data verify_read
	[ "$(verify_events_of /etc/alias)" -eq 0 ]
}

@test "verifier confirms an executed binary was opened and read" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	"$MNT/bin/true"
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /bin/true exec
	has_event "$TRACE" /bin/true verify_open
	has_event "$TRACE" /bin/true verify_read
}

@test "a file only stat'ed has no verify event" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	stat "$MNT/etc/statonly" >/dev/null
	cat "$MNT/etc/data" >/dev/null
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /etc/statonly lookup
	[ "$(verify_events_of /etc/statonly)" -eq 0 ]
	[ "$(verify_events_of /etc/untouched)" -eq 0 ]
	has_event "$TRACE" /etc/data verify_read
}

@test "--no-verify records no verify event and says so in the run" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE" --no-verify
	cat "$MNT/etc/data" >/dev/null
	"$MNT/bin/true"
	umount_slimfs "$MNT" "$TRACE"
	has_read "$TRACE" /etc/data
	[ "$(run_value verifier)" -eq 0 ]
	n=$(sqlite3 "$TRACE" "SELECT count(*) FROM event_paths WHERE op LIKE 'verify_%'")
	[ "$n" -eq 0 ]
}

@test "verifier names the dynamic loader of a chrooted program by its real lower path" {
	root=$(rootfs)
	mount_slimfs "$root" "$MNT" "$TRACE"
	run chroot "$MNT" /usr/bin/python3 -c 'import yaml; print(yaml.safe_load("a: 1")["a"])'
	[ "$status" -eq 0 ]
	[ "$output" = "1" ]
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 verify_read
	has_event "$TRACE" /usr/bin/python3.11 verify_read
	# The walk went through /lib64 (a symlink): the recorder saw it, the verifier
	# names only the file that was reached.
	[ "$(verify_events_of /lib64/ld-linux-x86-64.so.2)" -eq 0 ]
	[ "$(run_value overflow)" -eq 0 ]
}

@test "a burst over a tiny limited fanotify queue marks the run overflowed and the export incomplete" {
	for i in $(seq 1 3000); do echo "$i" >"$LOWER/many/f$i"; done
	mount_slimfs_tiny_queue "$LOWER" "$MNT" "$TRACE" --verify-queue limited
	read_all_files "$MNT/many"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(run_value verifier)" -eq 1 ]
	[ "$(run_value overflow)" -eq 1 ]
	[ "$(stats_value incomplete)" -eq 1 ]
	[ "$(stats_value incomplete_runs)" -eq 1 ]
}

@test "an unlimited fanotify queue does not overflow under the same burst" {
	for i in $(seq 1 3000); do echo "$i" >"$LOWER/many/f$i"; done
	mount_slimfs_tiny_queue "$LOWER" "$MNT" "$TRACE"
	read_all_files "$MNT/many"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(run_value overflow)" -eq 0 ]
	[ "$(stats_value incomplete)" -eq 0 ]
	n=$(sqlite3 "$TRACE" "SELECT count(DISTINCT path) FROM event_paths WHERE op = 'verify_read' AND path LIKE '/many/f%'")
	[ "$n" -eq 3000 ]
}

@test "a file only written, truncated or chmod-ed gains no verify event: the copy-up's own read is not the workload's" {
	for f in appended truncated emptied chmodded; do echo "image $f" >"$LOWER/etc/$f"; done
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	echo more >>"$MNT/etc/appended"                 # copied up with its data
	echo new >"$MNT/etc/truncated"                  # O_TRUNC: nothing copied
	truncate -s 0 "$MNT/etc/emptied"                # open for writing, then truncated
	chmod 600 "$MNT/etc/chmodded"                   # metadata only
	cat "$MNT/etc/data" >/dev/null                  # and one the workload reads
	[ "$(cat "$MNT/etc/appended")" = $'image appended\nmore' ]
	umount_slimfs "$MNT" "$TRACE"
	for f in appended truncated emptied chmodded; do
		echo "$f: $(verify_events_of "/etc/$f") verify events"
		[ "$(verify_events_of "/etc/$f")" -eq 0 ]
	done
	has_event "$TRACE" /etc/appended write
	has_event "$TRACE" /etc/chmodded setattr
	has_event "$TRACE" /etc/data verify_read
}
