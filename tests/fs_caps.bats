#!/usr/bin/env bats
# fs_caps.bats — slimfs --hide-cap (for tests, fs/devio.h): the daemon acts as on a
# kernel without the INIT capabilities named, each one the daemon asks for or relies on,
# so that its fallbacks run on this kernel (tests/meson.build reruns fs_record and
# posix_conformance with each hidden).  Each name takes effect: libfuse reads a request
# without the flag (its -d output shows the INIT flags as read), and the daemon does
# without it.  (The ring's, hidden, is in fs_ring: it needs the kernel's switch on.)
load fs_common

setup() {
	mount_tmp_setup /tmp/slimfs-caps.XXXXXX
	mkdir -p "$LOWER/etc"
	echo "image file" >"$LOWER/etc/data"
}

teardown() {
	mount_tmp_teardown
}

# init_flags [slimfs options...] — the INIT flags libfuse read from the kernel (hex).
init_flags() {
	start_slimfs "$LOWER" "$MNT" "$TRACE" -d "$@"
	stat "$MNT/etc" >/dev/null      # (after INIT's reply)
	umount_slimfs "$MNT" "$TRACE"
	awk '/^INIT: / { getline; sub(/^flags=/, ""); print; exit }' "$BATS_TEST_TMPDIR/daemon.err"
}

@test "--hide-cap takes each flag out of the kernel's INIT, and only that one" {
	local all cap bits got
	all=$(init_flags)
	[ -n "$all" ]
	# the capabilities below the flags2 word, and their INIT flags (linux/fuse.h)
	for cap in splice:0x380 acl:0x100000 symlinks:0x800000 o_trunc:0x8 dirops:0x40000 \
		async_read:0x1 max_pages:0x400000; do
		bits=${cap#*:}
		[ $((all & bits)) -eq $((bits)) ]               # this kernel offers it
		got=$(init_flags --hide-cap "${cap%%:*}")
		echo "${cap%%:*}: $all -> $got" >&2
		[ $((got)) -eq $((all & ~bits)) ]
	done
}

@test "--hide-cap passthrough: image files are read through the daemon, recorded as read" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE" --hide-cap passthrough
	[ "$(cat "$MNT/etc/data")" = "image file" ]
	umount_slimfs "$MNT" "$TRACE"
	has_event "$TRACE" /etc/data read
	run ! has_event "$TRACE" /etc/data passthrough
	# the same mount without it: passthrough
	mount_slimfs "$LOWER" "$MNT" "$TRACE.2"
	cat "$MNT/etc/data" >/dev/null
	umount_slimfs "$MNT" "$TRACE.2"
	has_event "$TRACE.2" /etc/data passthrough
}

@test "--hide-cap with several names, and an unknown one: a one-line error, nothing mounted" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE" --hide-cap splice,acl,passthrough
	[ "$(cat "$MNT/etc/data")" = "image file" ]
	umount_slimfs "$MNT" "$TRACE"
	run "$SLIMFS" --hide-cap acl,bogus --trace "$TRACE.2" "$LOWER" "$MNT"
	[ "$status" -eq 2 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "slimfs: --hide-cap: unknown capability 'bogus' (known: passthrough, "* ]]
	run ! fs_is_mounted "$MNT"
	[ ! -e "$TRACE.2" ]
}
