#!/usr/bin/env bats
# slimfs-export round trip on the cached Debian 12 root filesystem: record
# `ls -l /` through a slimfs mount, export, extract, run it again in the lean tree.
load export_helpers

setup() {
	export_setup
	ROOTFS=$(rootfs)
	MNT=$BATS_TEST_TMPDIR/mnt
}

teardown() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount_slimfs "$MNT" "$BATS_TEST_TMPDIR/t.db"
	fi
}

# names, types, permissions, owners and times of `ls -l` (not link counts: the
# lean tree has fewer subdirectories, so directories' link counts differ)
ls_fields() {
	awk 'NR > 1 { $2 = ""; print }' "$1"
}

@test "export round trip: ls -l / runs in the lean tree, lists the same, and the tree is 98% smaller" {
	mount_slimfs "$ROOTFS" "$MNT" "$BATS_TEST_TMPDIR/t.db"
	chroot "$MNT" /bin/ls -l / >before.txt
	umount_slimfs "$MNT" "$BATS_TEST_TMPDIR/t.db"
	run --separate-stderr slimfs_export --from "$ROOTFS" -o lean.tar.zst --stats --json t.db
	[ "$status" -eq 0 ]
	j=$output
	extract lean.tar.zst lean
	chroot lean /bin/ls -l / >after.txt
	diff <(ls_fields before.txt) <(ls_fields after.txt)
	[ "$(wc -l <after.txt)" -gt 15 ]
	# at least 98% smaller: by the exporter's count and by du of both trees
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["reduction"] >= 98, j["reduction"]' "$j"
	image=$(du -sb "$ROOTFS" | cut -f1)
	lean=$(du -sb lean | cut -f1)
	[ $((lean * 100)) -le $((image * 2)) ]
}
