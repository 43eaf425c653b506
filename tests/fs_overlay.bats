#!/usr/bin/env bats
# fs_overlay.bats — the mount behaves like a normal file system while every change
# lands in the upper layer: copy-up, whiteouts, opaque directories, merged listings,
# hardlinks, xattrs and file capabilities, ownership and permissions of other users.
load fs_common

setup() {
	fs_setup
	U=$BATS_TEST_TMPDIR/upper
	mkdir -p "$L"/{etc,dir/sub,data,opt}
	echo conf > "$L/etc/conf"
	echo one > "$L/dir/one"
	echo two > "$L/dir/two"
	echo deep > "$L/dir/sub/deep"
	echo h > "$L/data/h1"
	ln "$L/data/h1" "$L/data/h2"
	echo secret > "$L/etc/secret"
	chmod 600 "$L/etc/secret"
	mkdir -m 1777 "$L/tmp"
	printf '#!/bin/sh\n' > "$L/opt/capped"
	chmod 755 "$L/opt/capped"
	setcap cap_net_raw+ep "$L/opt/capped"
	touch -d '2001-02-03 04:05:06' "$L/etc/conf"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
}

teardown() {
	fs_teardown
}

lower_untouched() {
	manifest "$L" > "$BATS_TEST_TMPDIR/after"
	diff -u "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}

@test "overlay write to an image file lands in upper with the file's metadata" {
	echo changed >> "$M/etc/conf"
	[[ $(cat "$M/etc/conf") == $'conf\nchanged' ]]
	[[ $(cat "$U/etc/conf") == $'conf\nchanged' ]]
	[[ $(stat -c %a "$U/etc") == $(stat -c %a "$L/etc") ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay truncating open replaces the content" {
	echo new > "$M/etc/conf"
	[[ $(cat "$M/etc/conf") == new ]]
	lower_untouched
}

@test "overlay create, mkdir, symlink and mknod land in upper" {
	echo f > "$M/dir/newfile"
	mkdir "$M/dir/newdir"
	ln -s newfile "$M/dir/newlink"
	mkfifo "$M/dir/fifo"
	[[ $(cat "$M/dir/newlink") == f ]]
	[[ -d $M/dir/newdir && -p $M/dir/fifo ]]
	[[ -f $U/dir/newfile && -d $U/dir/newdir && -L $U/dir/newlink && -p $U/dir/fifo ]]
	lower_untouched
}

@test "overlay unlink hides an image file behind a whiteout" {
	rm "$M/dir/one"
	[[ ! -e $M/dir/one ]]
	run ls "$M/dir"
	[[ $output == $'sub\ntwo' ]]
	[[ $(stat -c '%F %t:%T' "$U/dir/one") == 'character special file 0:0' ]]
	lower_untouched
}

@test "overlay rmdir then mkdir gives an empty directory" {
	rm -rf "$M/dir"
	[[ ! -e $M/dir ]]
	mkdir "$M/dir"
	run ls -A "$M/dir"
	echo "ls -A: status $status, output [$output]"
	[[ $status -eq 0 && -z $output ]]
	[[ $(getfattr --only-values -n trusted.overlay.opaque "$U/dir") == y ]]
	lower_untouched
}

@test "overlay readdir merges upper and lower and hides deleted names" {
	echo three > "$M/dir/three"
	rm "$M/dir/two"
	echo one-again > "$M/dir/one"
	run ls -A "$M/dir"
	[[ $output == $'one\nsub\nthree' ]]
	[[ $(cat "$M/dir/one") == one-again ]]
	lower_untouched
}

@test "overlay rename moves image files and directories" {
	mv "$M/etc/conf" "$M/etc/conf.moved"
	[[ ! -e $M/etc/conf && $(cat "$M/etc/conf.moved") == conf ]]
	# a directory with image content: EXDEV, and mv copies it
	mv "$M/dir" "$M/dir2"
	[[ ! -e $M/dir && $(cat "$M/dir2/sub/deep") == deep ]]
	# a directory made through the mount is renamed in place
	mkdir "$M/made"
	echo m > "$M/made/f"
	mv "$M/made" "$M/opt/made"
	[[ $(cat "$M/opt/made/f") == m && ! -e $M/made ]]
	# rename over an existing name replaces it
	echo a > "$M/opt/a"
	mv "$M/opt/a" "$M/data/h1"
	[[ $(cat "$M/data/h1") == a ]]
	lower_untouched
}

@test "overlay rename of a directory with image content returns EXDEV" {
	run python3 -c "import os, sys
try:
    os.rename(sys.argv[1] + '/dir', sys.argv[1] + '/dirx')
except OSError as e:
    print(e.errno)" "$M"
	[[ $output == 18 ]]
}

@test "overlay hardlinks show one inode number and the link count" {
	[[ $(stat -c %i "$M/data/h1") == $(stat -c %i "$M/data/h2") ]]
	[[ $(stat -c %h "$M/data/h1") == 2 ]]
	echo n > "$M/opt/n"
	ln "$M/opt/n" "$M/opt/n2"
	ln "$M/opt/n" "$M/data/n3"
	[[ $(stat -c %i "$M/opt/n") == $(stat -c %i "$M/opt/n2") ]]
	[[ $(stat -c %i "$M/opt/n") == $(stat -c %i "$M/data/n3") ]]
	[[ $(stat -c %h "$M/opt/n2") == 3 ]]
	echo more >> "$M/opt/n2"
	[[ $(cat "$M/data/n3") == $'n\nmore' ]]
	lower_untouched
}

@test "overlay chmod, chown, truncate and touch change only the upper copy" {
	chmod 640 "$M/etc/conf"
	chown 123:456 "$M/etc/conf"
	truncate -s 2 "$M/etc/conf"
	touch -d '2010-01-01 00:00:00' "$M/etc/conf"
	[[ $(stat -c '%a %u %g %s' "$M/etc/conf") == '640 123 456 2' ]]
	[[ $(stat -c %Y "$M/etc/conf") == $(date -d '2010-01-01 00:00:00' +%s) ]]
	[[ $(stat -c '%a %u %g %s' "$U/etc/conf") == '640 123 456 2' ]]
	lower_untouched
}

@test "overlay copy-up keeps mode, owner, times and xattrs of the image file" {
	setfattr -n user.k -v v "$L/dir/two"
	chown 7:8 "$L/dir/two"
	chmod 4751 "$L/dir/two"
	touch -d '2002-02-02 02:02:02' "$L/dir/two"
	want=$(stat -c '%a %u %g %Y' "$L/dir/two")
	# an attribute change copies the file up
	setfattr -n user.other -v w "$M/dir/two"
	[[ $(stat -c '%a %u %g %Y' "$U/dir/two") == "$want" ]]
	[[ $(stat -c '%a %u %g %Y' "$M/dir/two") == "$want" ]]
	[[ $(cat "$U/dir/two") == two ]]
	[[ $(getfattr --only-values -n user.k "$M/dir/two") == v ]]
	[[ $(getfattr --only-values -n user.k "$U/dir/two") == v ]]
}

@test "overlay keeps security.capability readable and settable" {
	[[ $(getcap "$M/opt/capped") == *cap_net_raw=ep ]]
	touch "$M/opt/capped"       # copy-up by setattr
	[[ $(getcap "$U/opt/capped") == *cap_net_raw=ep ]]
	[[ $(getcap "$M/opt/capped") == *cap_net_raw=ep ]]
	echo x > "$M/opt/other"
	setcap cap_chown+ep "$M/opt/other"
	[[ $(getcap "$M/opt/other") == *cap_chown=ep ]]
	lower_untouched
}

@test "overlay answers an image file's xattrs the same on every ask, and new ones once set" {
	echo bare > "$L/opt/bare"
	echo tagged > "$L/opt/tagged"
	setfattr -n user.k -v v "$L/opt/tagged"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	# a file with no xattr, asked several times and for several names (ls -l does)
	for n in security.selinux user.k security.capability security.selinux; do
		run getfattr --only-values -n "$n" "$M/opt/bare"
		[[ $status -ne 0 && $output == *"No such attribute"* ]]
	done
	run getfattr -d -m - "$M/opt/bare"
	[[ $status -eq 0 && -z $output ]]
	# files with xattrs keep answering them, and a missing name is still missing
	for _ in 1 2; do
		[[ $(getfattr --only-values -n user.k "$M/opt/tagged") == v ]]
		[[ $(getcap "$M/opt/capped") == *cap_net_raw=ep ]]
		run getfattr -n user.none "$M/opt/tagged"
		[[ $status -ne 0 ]]
	done
	# setting one through the mount (copy-up) makes it visible at once
	setfattr -n user.k -v w "$M/opt/bare"
	[[ $(getfattr --only-values -n user.k "$M/opt/bare") == w ]]
	run getfattr --only-values -n user.k "$L/opt/bare"
	[[ $status -ne 0 ]]
	lower_untouched
}

@test "overlay hides its own xattrs" {
	mkdir "$M/opaque"
	run getfattr -d -m - "$M/opaque"
	[[ $status -eq 0 && $output != *trusted.overlay* ]]
	run setfattr -n trusted.overlay.opaque -v y "$M/dir"
	[[ $status -ne 0 ]]
}

@test "overlay gives a non-root caller's new files to the caller" {
	setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "echo u > '$M/tmp/userfile'; mkdir '$M/tmp/userdir'"
	[[ $(stat -c '%u:%g' "$M/tmp/userfile") == 1000:1000 ]]
	[[ $(stat -c '%u:%g' "$M/tmp/userdir") == 1000:1000 ]]
	[[ $(stat -c '%u:%g' "$U/tmp/userfile") == 1000:1000 ]]
}

@test "overlay denies a non-root caller what permissions deny" {
	run setpriv --reuid 1000 --regid 1000 --clear-groups cat "$M/etc/secret"
	[[ $status -ne 0 && $output == *"Permission denied"* ]]
	run setpriv --reuid 1000 --regid 1000 --clear-groups touch "$M/etc/newfile"
	[[ $status -ne 0 && $output == *"Permission denied"* ]]
	run setpriv --reuid 1000 --regid 1000 --clear-groups rm -f "$M/etc/conf"
	[[ $status -ne 0 && $output == *"Permission denied"* ]]
	[[ -e $M/etc/conf && ! -e $M/etc/newfile ]]
}

@test "overlay returns the errno of a normal file system" {
	run rmdir "$M/dir"
	[[ $output == *"Directory not empty"* ]]
	run mkdir "$M/dir"
	[[ $output == *"File exists"* ]]
	run rm "$M/nothere"
	[[ $output == *"No such file or directory"* ]]
	run cat "$M/etc/conf/x"
	[[ $output == *"Not a directory"* ]]
	run rmdir "$M/etc/conf"
	[[ $output == *"Not a directory"* ]]
}

@test "overlay supports fsync, fallocate and flock" {
	echo data > "$M/opt/f"
	python3 -c "import os, sys, fcntl
fd = os.open(sys.argv[1], os.O_RDWR)
os.fsync(fd)
os.posix_fallocate(fd, 0, 8192)
fcntl.flock(fd, fcntl.LOCK_EX)
fcntl.lockf(fd, fcntl.LOCK_EX)
os.close(fd)" "$M/opt/f"
	[[ $(stat -c %s "$M/opt/f") == 8192 ]]
}

@test "overlay statfs reports the upper layer's file system" {
	run stat -f -c %b "$M"
	[[ $status -eq 0 && $output -gt 0 ]]
}

@test "overlay removes its private upper directory at unmount" {
	umount_slimfs "$M" "$T"
	mkdir -p "$BATS_TEST_TMPDIR/tmp"
	TMPDIR=$BATS_TEST_TMPDIR/tmp mount_slimfs "$L" "$M" "$T"
	echo x > "$M/etc/conf"
	[[ -n $(ls "$BATS_TEST_TMPDIR/tmp") ]]
	umount_slimfs "$M" "$T"
	[[ -z $(ls "$BATS_TEST_TMPDIR/tmp") ]]
	lower_untouched
}

@test "overlay closes the fds of inodes the kernel forgets" {
	umount_slimfs "$M" "$T"
	mkdir -p "$L/many"
	for i in $(seq 1 2000); do echo "$i" > "$L/many/f$i"; done
	start_slimfs "$L" "$M" "$T"
	base=$(daemon_file_fds "$daemon_pid")
	for i in $(seq 1 2000); do [[ -e $M/many/f$i ]]; done
	[[ $(daemon_file_fds "$daemon_pid") -ge $((base + 2000)) ]]
	# the kernel drops its dentries and inodes, and forgets them to the daemon
	sync
	echo 2 > /proc/sys/vm/drop_caches
	for _ in $(seq 50); do
		[[ $(daemon_file_fds "$daemon_pid") -le $((base + 10)) ]] && break
		sleep 0.1
	done
	[[ $(daemon_file_fds "$daemon_pid") -le $((base + 10)) ]]
	umount_slimfs "$M" "$T"
	wait "$daemon_pid"
}

@test "overlay survives parallel readers and writers" {
	for d in $(seq 1 8); do
		mkdir -p "$L/tree/d$d"
		for f in $(seq 1 40); do echo "$d/$f" > "$L/tree/d$d/f$f"; done
	done
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	pids=()
	# readers: names may vanish under them (the writers delete), that is not an error
	for r in 1 2 3; do
		(
			for _ in 1 2 3; do
				find "$M/tree" -type f -exec cat {} + > /dev/null 2>&1 || true
				ls -laR "$M/tree" > /dev/null 2>&1 || true
			done
		) &
		pids+=($!)
	done
	# writers: each its own directories, so every step must succeed
	for w in 1 2 3; do
		(
			for n in $(seq 1 40); do
				echo "$w-$n" > "$M/tree/d$w/new$n"
				mv "$M/tree/d$w/new$n" "$M/tree/d$((w + 3))/moved-$w-$n"
				echo more >> "$M/tree/d$w/f$n"
				rm "$M/tree/d$((w + 3))/moved-$w-$n"
			done
		) &
		pids+=($!)
	done
	( rm -rf "$M/tree/d7" "$M/tree/d8" ) &
	pids+=($!)
	rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	[[ $rc -eq 0 ]]
	[[ $(cat "$M/tree/d1/f1") == $'1/1\nmore' ]]
	[[ $(cat "$M/tree/d3/f40") == $'3/40\nmore' ]]
	[[ $(ls "$M/tree/d4" | grep -c moved) -eq 0 ]]
	[[ $(ls "$M/tree") == $'d1\nd2\nd3\nd4\nd5\nd6' ]]
	lower_untouched
}

@test "overlay takes up an existing upper directory on the next mount" {
	echo kept > "$M/dir/new"
	rm "$M/dir/one"
	rm -rf "$M/dir/sub"
	mkdir "$M/dir/sub"
	echo changed > "$M/etc/conf"
	umount_slimfs "$M" "$T"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	[[ $(cat "$M/dir/new") == kept ]]
	[[ $(cat "$M/etc/conf") == changed ]]
	run ls -A "$M/dir"
	[[ $output == $'new\nsub\ntwo' ]]
	run ls -A "$M/dir/sub"
	[[ -z $output ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay keeps a copied-up file's inode number after the kernel forgets it" {
	want=$(stat -c %i "$L/etc/conf")
	[[ $(stat -c %i "$M/etc/conf") == "$want" ]]
	echo changed >> "$M/etc/conf"
	[[ $(stat -c %i "$M/etc/conf") == "$want" ]]
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ $(stat -c %i "$M/etc/conf") == "$want" ]]
	run getfattr -d -m - "$M/etc/conf"
	[[ $status -eq 0 && $output != *trusted.overlay* ]]
}

@test "overlay re-creates deleted image names by create, mkdir, link and symlink" {
	rm "$M/dir/one" "$M/dir/two" "$M/etc/conf"
	rm -rf "$M/dir/sub"
	echo again > "$M/dir/one"
	ln "$M/dir/one" "$M/dir/two"
	mkdir "$M/dir/sub"
	ln -s ../dir/one "$M/etc/conf"
	[[ $(cat "$M/dir/two") == again && $(cat "$M/etc/conf") == again ]]
	[[ $(stat -c %h "$M/dir/one") == 2 && -L $M/etc/conf ]]
	run ls -A "$M/dir"
	[[ $output == $'one\nsub\ntwo' ]]
	run ls -A "$M/dir/sub"
	[[ -z $output ]]
	lower_untouched
}

@test "overlay listing shows changes made after the directory was listed" {
	run ls -A "$M/dir"
	[[ $output == $'one\nsub\ntwo' ]]
	run ls -A "$M/dir"
	echo new > "$M/dir/three"
	rm "$M/dir/one"
	run ls -A "$M/dir"
	[[ $output == $'sub\nthree\ntwo' ]]
	mv "$M/dir/three" "$M/opt/three"
	run ls -A "$M/dir"
	[[ $output == $'sub\ntwo' ]]
	run ls -A "$M/opt"
	[[ $output == $'capped\nthree' ]]
}

@test "overlay enforces an image file's POSIX ACL" {
	umount_slimfs "$M" "$T"
	echo acl > "$L/etc/acl"
	chmod 640 "$L/etc/acl"
	setfacl -m u:1000:r "$L/etc/acl"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	[[ $(setpriv --reuid 1000 --regid 1000 --clear-groups cat "$M/etc/acl") == acl ]]
	run setpriv --reuid 1001 --regid 1001 --clear-groups cat "$M/etc/acl"
	[[ $status -ne 0 && $output == *"Permission denied"* ]]
	[[ $(getfacl -cn "$M/etc/acl" 2>/dev/null | grep '^user:1000') == user:1000:r-- ]]
}

@test "overlay leaves the image's page cache alone when files are read through it" {
	# With splice "move", the kernel would steal the image files' cached pages for the
	# mount's own cache: every later reader of the image would go to the disk.  Reads
	# must go through the daemon for that: no passthrough.
	umount_slimfs "$M" "$T"
	mount_slimfs "$L" "$M" "$T" --upper "$U" --no-passthrough
	mkdir "$L/pages"
	for i in $(seq 64); do head -c 12288 /dev/urandom > "$L/pages/f$i"; done
	sync
	# drop them from the cache, then read them back the way an image is first read
	for f in "$L"/pages/*; do dd if="$f" iflag=nocache count=0 status=none; done
	cat "$L"/pages/* > /dev/null
	[[ $(fincore -b -n -o RES "$L"/pages/* | awk '{ s += $1 } END { print s }') -eq $((64 * 12288)) ]]
	cat "$M"/pages/* | cmp - <(cat "$L"/pages/*)
	[[ $(fincore -b -n -o RES "$L"/pages/* | awk '{ s += $1 } END { print s }') -eq $((64 * 12288)) ]]
}

@test "overlay: a reader opened before a copy-up reads the copy, and no open sees a cut file" {
	# The kernel keeps one size and one page cache per inode.  A reader still reading
	# the image's (shorter) file would cut everyone's view of the copy to its length.
	# (With passthrough, such a reader keeps the image's content on a split inode:
	# fs_passthrough.)
	umount_slimfs "$M" "$T"
	mount_slimfs "$L" "$M" "$T" --upper "$U" --no-passthrough
	local rd held
	exec {rd}<"$M/etc/conf"
	printf 'a longer line than conf\n' >"$M/etc/conf"
	held=$(dd bs=64k count=1 status=none <&"$rd")
	exec {rd}<&-
	# one read(2) each, no stat (whose GETATTR would mend the size)
	[[ $(dd if="$M/etc/conf" bs=64k count=1 status=none) == "a longer line than conf" ]]
	[[ $held == "a longer line than conf" ]]
	[[ $(stat -c %s "$M/etc/conf") -eq 24 ]]
	umount_slimfs "$M" "$T"
	has_read "$T" /etc/conf
	lower_untouched
}
