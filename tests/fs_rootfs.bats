#!/usr/bin/env bats
# fs_rootfs.bats — a real Debian root filesystem (cached, READ-ONLY: never written)
# mounted with slimfs and used chrooted: the dynamic loader's whole symlink chain,
# the loader itself, the C library and ld.so.cache are recorded as the kernel and
# the loader asked for them; the image stays untouched.
load fs_common

setup_file() {
	ROOTFS=$(rootfs)
	export ROOTFS
}

setup() {
	fs_setup
	# anything that changes the image afterwards shows up with a newer ctime
	touch "$BATS_TEST_TMPDIR/stamp"
	sleep 0.01
	mount_slimfs "$ROOTFS" "$M" "$T"
}

teardown() {
	fs_teardown
}

image_untouched() {
	run find "$ROOTFS" -cnewer "$BATS_TEST_TMPDIR/stamp"
	[[ $status -eq 0 && -z $output ]]
}

@test "rootfs records the dynamic loader's symlink chain for chroot ls" {
	chroot "$M" /bin/ls / > /dev/null
	umount_slimfs "$M" "$T"
	# PT_INTERP /lib64/ld-linux-x86-64.so.2: /lib64 -> usr/lib64, whose entry is an
	# absolute symlink to /lib/x86_64-linux-gnu/..., and /lib -> usr/lib
	has_event "$T" /lib64 lookup
	has_event "$T" /lib64 readlink
	has_event "$T" /usr/lib64/ld-linux-x86-64.so.2 lookup
	has_event "$T" /usr/lib64/ld-linux-x86-64.so.2 readlink
	has_event "$T" /lib lookup
	has_event "$T" /lib readlink
	has_event "$T" /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 lookup
	has_event "$T" /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 exec
	# the program itself, through /bin -> usr/bin
	has_event "$T" /bin readlink
	has_event "$T" /usr/bin/ls exec
	has_read "$T" /usr/bin/ls
	# what the loader opens and reads
	has_event "$T" /etc/ld.so.cache open
	has_read "$T" /etc/ld.so.cache
	has_event "$T" /usr/lib/x86_64-linux-gnu/libc.so.6 open
	has_read "$T" /usr/lib/x86_64-linux-gnu/libc.so.6
	# the listing of / itself
	has_event "$T" / readdir
	image_untouched
}

@test "rootfs confirms the C library's reads with the fanotify verifier" {
	chroot "$M" /bin/ls / > /dev/null
	umount_slimfs "$M" "$T"
	[[ $(sqlite3 "$T" "SELECT verifier FROM runs") == 1 ]]
	has_event "$T" /usr/lib/x86_64-linux-gnu/libc.so.6 verify_read
}

@test "rootfs runs python3 chrooted and records its standard library" {
	run chroot "$M" /usr/bin/python3 -c 'import os, yaml; print(os.sep)'
	[[ $status -eq 0 && $output == / ]]
	umount_slimfs "$M" "$T"
	has_event "$T" /usr/bin/python3 lookup
	run sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE op = 'exec' AND path LIKE '/usr/bin/python3%'"
	[[ $output -ge 1 ]]
	has_event "$T" /usr/lib/python3.11/os.py lookup
	run sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE $READ_OPS AND path LIKE '/usr/lib/python3/dist-packages/yaml/%'"
	[[ $output -ge 1 ]]
	image_untouched
}

@test "rootfs lets the workload write while the image stays untouched" {
	chroot "$M" /bin/sh -c 'echo hi > /tmp/x && cat /tmp/x && rm /etc/hostname && mkdir -p /var/lib/new/dir && echo v > /var/lib/new/dir/f && mv /etc/motd /etc/motd.old'
	[[ ! -e $M/etc/hostname && -e $ROOTFS/etc/hostname ]]
	[[ $(cat "$M/var/lib/new/dir/f") == v ]]
	umount_slimfs "$M" "$T"
	has_event "$T" /tmp/x create
	has_event "$T" /etc/hostname unlink
	has_event "$T" /var/lib/new/dir/f write
	image_untouched
}
