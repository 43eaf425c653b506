#!/usr/bin/env bats
# rel_image_untouched.bats — whatever the workload does through the mount, LOWERDIR (the
# image) is never modified: a manifest of the lower tree (every path's type, mode, owner,
# size, mtime, xattrs and sha256, helpers.bash `manifest`) is identical before and after,
# while the workload itself sees every one of its changes through the mount.
load helpers

setup() {
	mount_tmp_setup /tmp/slimfs-untouched.XXXXXX
	mkdir -p "$LOWER"
	cd "$LOWER"
	for f in write append trunc ren_src ren_over_src ren_over_dst del chmod chown \
		xattr xattr_rm link_src hl1 touch; do
		printf '%s\n' "content of $f" >"$f"
	done
	ln hl1 hl2
	setfattr -n user.old -v before xattr_rm
	setfattr -n user.keep -v yes xattr
	cp /bin/true capbin
	cp /bin/true capped
	setcap cap_net_raw+ep capped
	mkdir -p tree/a/b olddir movedir emptydir
	echo deep >tree/a/b/file
	echo old >olddir/entry
	echo moved >movedir/m
	ln -s write sym
	ln -s /etc/passwd abs_sym
	mkfifo fifo
	chown 11:22 chown
	touch -d '2001-02-03 04:05:06' touch write
	cd /
	manifest "$LOWER" >"$TMP/before"
}

teardown() {
	cd /
	mount_tmp_teardown
}

# The workload: every kind of change a container makes to its root filesystem.
workload() {
	local m=$1
	echo replaced >"$m/write"
	echo more >>"$m/append"
	truncate -s 3 "$m/trunc"
	mv "$m/ren_src" "$m/ren_dst"
	mv "$m/ren_over_src" "$m/ren_over_dst"
	rm "$m/del"
	chmod 600 "$m/chmod"
	chown 1234:5678 "$m/chown"
	setfattr -n user.new -v after "$m/xattr"
	setfattr -x user.old "$m/xattr_rm"
	setcap cap_sys_admin+ep "$m/capbin"
	setcap -r "$m/capped"
	ln "$m/link_src" "$m/link_new"
	echo via-hardlink >>"$m/hl2"
	rm -r "$m/tree"; mkdir "$m/tree"
	mkdir "$m/newdir"; echo n >"$m/newdir/n"
	mv -T "$m/newdir" "$m/emptydir"
	mv "$m/movedir" "$m/movedir2"
	rm -r "$m/olddir"; mkdir "$m/olddir"; echo fresh >"$m/olddir/fresh"
	touch -d '2020-01-01 00:00:00' "$m/touch"
	rm "$m/sym"; ln -s trunc "$m/sym"
	rm "$m/fifo"
	mkdir -p "$m/created/deep"; echo c >"$m/created/deep/c"
	sync
}

@test "the lower tree is identical after a workload that changes everything" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	workload "$MNT"
	umount_slimfs "$MNT" "$TRACE"
	manifest "$LOWER" >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
}

@test "the workload sees its own changes through the mount" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	workload "$MNT"
	m=$MNT
	[ "$(cat "$m/write")" = replaced ]
	[ "$(cat "$m/append")" = "$(printf 'content of append\nmore')" ]
	[ "$(stat -c %s "$m/trunc")" -eq 3 ]
	[ ! -e "$m/ren_src" ]
	[ "$(cat "$m/ren_dst")" = "content of ren_src" ]
	[ ! -e "$m/ren_over_src" ]
	[ "$(cat "$m/ren_over_dst")" = "content of ren_over_src" ]
	[ ! -e "$m/del" ]
	[ "$(stat -c %a "$m/chmod")" = 600 ]
	[ "$(stat -c %u:%g "$m/chown")" = 1234:5678 ]
	[ "$(getfattr --only-values -n user.new "$m/xattr")" = after ]
	[ "$(getfattr --only-values -n user.keep "$m/xattr")" = yes ]
	run getfattr -n user.old "$m/xattr_rm"
	[ "$status" -ne 0 ]
	[[ "$(getcap "$m/capbin")" == *cap_sys_admin=ep* ]]
	run getcap "$m/capped"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(stat -c %i "$m/link_src")" = "$(stat -c %i "$m/link_new")" ]
	[ "$(stat -c %h "$m/link_new")" -eq 2 ]
	[ "$(tail -n1 "$m/hl2")" = via-hardlink ]
	[ -d "$m/tree" ]
	[ -z "$(ls -A "$m/tree")" ]
	[ "$(ls -A "$m/emptydir")" = n ]
	[ ! -e "$m/newdir" ]
	[ ! -e "$m/movedir" ]
	[ "$(cat "$m/movedir2/m")" = moved ]
	[ "$(ls -A "$m/olddir")" = fresh ]
	[ "$(stat -c %Y "$m/touch")" = "$(date -d '2020-01-01 00:00:00' +%s)" ]
	[ "$(readlink "$m/sym")" = trunc ]
	[ ! -e "$m/fifo" ]
	[ "$(cat "$m/created/deep/c")" = c ]
	umount_slimfs "$MNT" "$TRACE"
}

@test "a fresh mount of the same image shows the image, not the last workload's changes" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	workload "$MNT"
	umount_slimfs "$MNT" "$TRACE"
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	manifest "$MNT" >"$TMP/through"
	umount_slimfs "$MNT" "$TRACE"
	diff -u "$TMP/before" "$TMP/through"
}

@test "with --upper the changes land in the upper directory, never in the image" {
	mkdir "$TMP/upper"
	mount_slimfs "$LOWER" "$MNT" "$TRACE" --upper "$TMP/upper"
	workload "$MNT"
	umount_slimfs "$MNT" "$TRACE"
	manifest "$LOWER" >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
	[ "$(cat "$TMP/upper/write")" = replaced ]
	[ "$(cat "$TMP/upper/created/deep/c")" = c ]
}

@test "the trace records the workload's changes under their container paths" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	workload "$MNT"
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /write open_write
	has_event "$TRACE" /del unlink
	has_event "$TRACE" /ren_src rename_from
	has_event "$TRACE" /ren_dst rename_to
	has_event "$TRACE" /chmod setattr
	has_event "$TRACE" /xattr setxattr
	has_event "$TRACE" /link_new link
	has_event "$TRACE" /tree rmdir
	has_event "$TRACE" /created/deep/c create
}
