#!/usr/bin/env bats
# posix_conformance.bats — the overlay behaves as the native file system (ext4) does.
#
# tests/posix/posix_check.c makes the same fixture twice: in a plain directory on the
# host (the reference) and as a slimfs LOWERDIR; it runs the same checks in both (open
# flags, renames of files and directories across the layers, unlink of open files,
# hardlinks and copy-up, sticky and setgid directories, permissions as uid 1000,
# timestamps, errno of every failure) and prints one line per check.  Every line that
# differs must name a check listed in tests/posix/limitations (each documented in
# docs/reliability.md); everything else must be identical.
load helpers

setup_file() {
	export PTMP=$(mktemp -d /tmp/slimfs-posix.XXXXXX)
	chmod 755 "$PTMP"    # uid 1000 must reach the fixtures
	cc -std=gnu11 -O1 -Wall -Wextra -Werror -o "$PTMP/posix_check" \
		"$SLIMFS_SRC/tests/posix/posix_check.c"
}

teardown_file() {
	rm -rf "$PTMP"
}

setup() {
	mount_tmp_setup "$PTMP/t.XXXXXX"
	chmod 755 "$TMP"
}

teardown() {
	mount_tmp_teardown
}

limitations() {
	sed -e '/^#/d' -e '/^$/d' "$SLIMFS_SRC/tests/posix/limitations"
}

@test "posix_check output is deterministic on the native file system" {
	"$PTMP/posix_check" --setup "$TMP/a"
	"$PTMP/posix_check" "$TMP/a" >"$TMP/a.out"
	"$PTMP/posix_check" --setup "$TMP/b"
	"$PTMP/posix_check" "$TMP/b" >"$TMP/b.out"
	diff -u "$TMP/a.out" "$TMP/b.out"
	[ "$(wc -l <"$TMP/a.out")" -gt 150 ]
}

@test "the mount behaves as the native file system except for documented limitations" {
	"$PTMP/posix_check" --setup "$TMP/native"
	"$PTMP/posix_check" "$TMP/native" >"$TMP/native.out"
	"$PTMP/posix_check" --setup "$LOWER"
	mount_slimfs "$LOWER" "$MNT" "$TRACE" -o allow_other
	"$PTMP/posix_check" "$MNT" >"$TMP/mnt.out"
	umount_slimfs "$MNT" "$TRACE"
	[ "$(wc -l <"$TMP/mnt.out")" -eq "$(wc -l <"$TMP/native.out")" ]
	# Every differing line must be a listed limitation, by check name.
	paste -d '\n' "$TMP/native.out" "$TMP/mnt.out" | paste - - | awk -F'\t' '$1 != $2' \
		>"$TMP/diff" || true
	bad=0
	while IFS=$'\t' read -r native mnt; do
		name=${native%: *}
		if ! limitations | grep -qxF -- "$name"; then
			echo "not conformant: native '$native', mount '$mnt'"
			bad=1
		fi
	done <"$TMP/diff"
	[ "$bad" -eq 0 ]
}

@test "every listed limitation is documented in docs/reliability.md" {
	local list name
	list=$(limitations)
	[ -n "$list" ]
	while read -r name; do
		grep -qF -- "\`$name\`" "$SLIMFS_SRC/docs/reliability.md" ||
			{ echo "undocumented: $name"; return 1; }
	done <<<"$list"
}

@test "the conformance run leaves the lower tree untouched" {
	"$PTMP/posix_check" --setup "$LOWER"
	manifest "$LOWER" >"$TMP/before"
	mount_slimfs "$LOWER" "$MNT" "$TRACE" -o allow_other
	"$PTMP/posix_check" "$MNT" >/dev/null
	umount_slimfs "$MNT" "$TRACE"
	manifest "$LOWER" >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
}
