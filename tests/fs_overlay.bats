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
	# an upper directory a test made immutable (chattr +i) to make a change fail
	[[ -z ${immutable:-} ]] || chattr -i "$immutable" || true
	fs_teardown
	# file systems a test mounted for its upper layer (after the slimfs mount is gone)
	for m in "${upper_mounts[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
}

upper_mounts=()

# mount_upper_fs ext4|tmpfs DIR — a fresh file system of that type on DIR, for an upper
# layer: ext4 on a loop-mounted image file (ext4 reuses a freed inode number at once),
# or a tmpfs.
mount_upper_fs() {
	mkdir -p "$2"
	if [[ $1 == ext4 ]]; then
		truncate -s 256M "$BATS_TEST_TMPDIR/upper.img"
		mkfs.ext4 -q -F "$BATS_TEST_TMPDIR/upper.img"
		mount -o loop "$BATS_TEST_TMPDIR/upper.img" "$2"
	else
		mount -t tmpfs -o size=256M slimfs-upper "$2"
	fi
	upper_mounts+=("$2")
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
	# an attribute change copies the file up (its metadata: the data stays the image's)
	setfattr -n user.other -v w "$M/dir/two"
	[[ $(stat -c '%a %u %g %Y %s' "$U/dir/two") == "$want 4" ]]
	[[ $(stat -c '%a %u %g %Y' "$M/dir/two") == "$want" ]]
	[[ $(cat "$M/dir/two") == two ]]
	[[ $(getfattr --only-values -n user.k "$M/dir/two") == v ]]
	[[ $(getfattr --only-values -n user.k "$U/dir/two") == v ]]
	# a write gives the copy its data, and keeps the rest
	echo three >> "$M/dir/two"
	[[ $(cat "$U/dir/two") == $'two\nthree' ]]
	[[ $(stat -c '%a %u %g' "$U/dir/two") == "${want% *}" ]]
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

@test "overlay: a write through one name of an image hardlink shows in every name, also after the kernel forgets them" {
	umount_slimfs "$M" "$T"
	mkdir -p "$L/a" "$L/b"
	echo orig > "$L/a/x"
	ln "$L/a/x" "$L/b/y"
	ln "$L/a/x" "$L/a/z"            # a name nobody looks up before the write
	ln "$L/a/x" "$L/b/gone"         # a name deleted before the write
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	rm "$M/b/gone"
	stat "$M/a/x" "$M/b/y" > /dev/null     # b/y is the name looked up last
	echo new > "$M/a/x"
	for n in a/x b/y a/z; do [[ $(cat "$M/$n") == new ]]; done
	sync
	echo 2 > /proc/sys/vm/drop_caches
	for n in a/x b/y a/z; do [[ $(cat "$M/$n") == new ]]; done
	[[ ! -e $M/b/gone ]]
	[[ $(stat -c '%i %h' "$M/a/x") == "$(stat -c '%i %h' "$M/b/y")" ]]
	[[ $(stat -c '%i %h' "$M/a/z") == "$(stat -c %i "$L/a/x") 3" ]]
	# the upper layer holds one file under the three names, as the image did
	[[ $(stat -c '%i %h' "$U/a/x") == "$(stat -c '%i %h' "$U/b/y")" ]]
	[[ $(stat -c '%i %h' "$U/a/x") == "$(stat -c '%i %h' "$U/a/z")" ]]
	[[ $(stat -c %h "$U/a/x") == 3 ]]
	# and a new mount on it shows the same
	umount_slimfs "$M" "$T"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	for n in a/x b/y a/z; do [[ $(cat "$M/$n") == new ]]; done
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: a chmod through one name of an image hardlink changes every name" {
	umount_slimfs "$M" "$T"
	mkdir -p "$L/a" "$L/b"
	echo orig > "$L/a/x"
	chmod 644 "$L/a/x"
	ln "$L/a/x" "$L/b/y"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	stat "$M/b/y" > /dev/null
	chmod 600 "$M/a/x"
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ $(stat -c %a "$M/a/x") == 600 && $(stat -c %a "$M/b/y") == 600 ]]
	[[ $(cat "$M/b/y") == orig ]]
}

@test "overlay: readdir's inode numbers are stat's, for image, copied-up, merged, made and moved entries" {
	probe=$(fs_probe)
	chmod 640 "$M/dir/one"                  # copied up for its metadata
	echo more >> "$M/dir/two"               # copied up for its data
	echo n > "$M/dir/new"                   # made by the workload
	mkdir "$M/dir/newdir"
	mv "$M/etc/conf" "$M/dir/newdir/conf"   # copied up and moved into a new directory
	ln -s one "$M/data/link"
	"$probe" dino:"$M" dino:"$M/dir" dino:"$M/dir/newdir" dino:"$M/etc" dino:"$M/data" \
		dino:"$M/dir/sub" dino:"$M/opt"
	sync
	echo 2 > /proc/sys/vm/drop_caches
	"$probe" dino:"$M" dino:"$M/dir" dino:"$M/dir/newdir" dino:"$M/etc" dino:"$M/data"
	[[ $(stat -c %i "$M/dir/two") == $(stat -c %i "$L/dir/two") ]]
	[[ $(find "$M" -inum "$(stat -c %i "$L/dir/two")") == "$M/dir/two" ]]
}

# unlink_cycles DIR N — N rounds of: a directory removed while this process holds it
# open, and a new one made (which the upper file system may give the same inode
# number); a file removed while held open, and a new one of the same name.  Every new
# entry must be new, every held one keep its own content.  Prints what differs.
unlink_cycles() {
	python3 - "$1" "$2" <<'PY'
import os, sys
base, n = sys.argv[1], int(sys.argv[2])
held, bad = [], 0
def fail(msg):
    global bad
    if bad < 20:
        print(msg)
    bad += 1
def round_(k):
    d, e, p = f"{base}/d{k}", f"{base}/e{k}", f"{base}/f{k % 7}"
    os.mkdir(d)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    held.append(dfd)
    os.rmdir(d)
    os.mkdir(e)
    with open(f"{e}/in", "w") as f:
        f.write(str(k))
    if os.listdir(e) != ["in"]:
        fail(f"{e}: lists {os.listdir(e)}")
    if os.fstat(dfd).st_nlink != 0:
        fail(f"the removed {d} held open has {os.fstat(dfd).st_nlink} links")
    with open(p, "w") as f:
        f.write(f"old{k}")
    hfd = os.open(p, os.O_RDONLY)
    held.append(hfd)
    os.unlink(p)
    with open(p, "w") as f:
        f.write(f"new{k}")
    if os.pread(hfd, 64, 0) != f"old{k}".encode():
        fail(f"the removed {p} held open reads {os.pread(hfd, 64, 0)}")
    with open(p) as f:
        got = f.read()
    if got != f"new{k}":
        fail(f"{p} reads {got}")
    if os.fstat(hfd).st_nlink != 0:
        fail(f"the removed {p} held open has {os.fstat(hfd).st_nlink} links")
    if k % 2:
        os.unlink(f"{e}/in")
        os.rmdir(e)
for k in range(n):
    try:
        round_(k)
    except OSError as x:
        fail(f"round {k}: {x}")
    while len(held) > 100:
        os.close(held.pop(0))
sys.exit(1 if bad else 0)
PY
}

# stat_loop DIR STOPFILE — stat every name in DIR (keeping the kernel's dentries of
# them cached and busy) until STOPFILE exists.
stat_loop() {
	while [[ ! -e $2 ]]; do
		stat "$1"/* > /dev/null 2>&1 || true
	done
}

@test "overlay: inode numbers the upper file system reuses make new inodes (ext4 and tmpfs uppers)" {
	umount_slimfs "$M" "$T"
	for fs in ext4 tmpfs; do
		mount_upper_fs "$fs" "$BATS_TEST_TMPDIR/up-$fs"
		# a small fd cache: the daemon holds no fd of most removed files, so their
		# numbers are free for the upper file system to give again
		SLIMFS_FD_CACHE=2 mount_slimfs "$L" "$M" "$T" --upper "$BATS_TEST_TMPDIR/up-$fs/u"
		mkdir "$M/opt/cycles"
		stat_loop "$M/opt/cycles" "$BATS_TEST_TMPDIR/stop-$fs" &
		pid=$!
		rc=0
		unlink_cycles "$M/opt/cycles" 300 || rc=$?
		touch "$BATS_TEST_TMPDIR/stop-$fs"
		wait "$pid"
		echo "$fs: rc $rc"
		[[ $rc -eq 0 ]]
		umount_slimfs "$M" "$T"
	done
	lower_untouched
}

@test "overlay: creates, renames and removes go on while a copy-up waits for the image file" {
	umount_slimfs "$M" "$T"
	head -c 1M /dev/urandom > "$L/data/big"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	stat "$M/data/big" > /dev/null
	hold_lease "$L/data/big"
	# the copy-up of big opens the image file to read it: it waits for the lease
	( echo appended >> "$M/data/big" ) &
	writer=$!
	lease_opened 10
	# meanwhile, in another directory and in big's own
	rc=0
	timeout 20 bash -c '
		for i in $(seq 100); do echo "$i" > "$1/opt/new$i"; done
		mkdir "$1/opt/newdir" && mv "$1/opt/new1" "$1/opt/newdir/" && rm "$1/opt/new2"
		echo same > "$1/data/beside" && chmod 600 "$1/data/h1" && rm "$1/data/h2"
	' _ "$M" || rc=$?
	kill -0 "$writer"       # the copy-up still waits
	release_lease
	wait "$writer"
	[[ $rc -eq 0 ]]
	[[ $(ls "$M/opt" | grep -c '^new') -eq 99 && -e $M/opt/newdir/new1 && ! -e $M/opt/new2 ]]
	[[ $(tail -c 9 "$M/data/big") == appended ]]
	cmp <(head -c 1M "$M/data/big") "$L/data/big"
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: chmod, chown, utimes, xattrs, O_TRUNC and truncate to 0 read nothing of the image file" {
	umount_slimfs "$M" "$T"
	for f in meta trunc cut; do head -c 300K /dev/urandom > "$L/data/$f"; done
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	for f in meta trunc cut; do
		hold_lease "$L/data/$f"
		case $f in
		meta)
			timeout 10 chmod 640 "$M/data/meta"
			timeout 10 chown 7:8 "$M/data/meta"
			# (not touch(1): it opens the file for writing first)
			timeout 10 python3 -c 'import os, sys; os.utime(sys.argv[1], (1046660583, 1046660583))' "$M/data/meta"
			timeout 10 setfattr -n user.k -v v "$M/data/meta"
			;;
		trunc)
			timeout 10 sh -c 'echo short > "$1"' _ "$M/data/trunc"
			;;
		cut)
			timeout 10 truncate -s 0 "$M/data/cut"
			;;
		esac
		run lease_opened
		release_lease
		echo "$f: $status"
		[[ $status -ne 0 ]]
	done
	[[ $(stat -c '%a %u %g %Y' "$M/data/meta") == "640 7 8 1046660583" ]]
	[[ $(getfattr --only-values -n user.k "$M/data/meta") == v ]]
	cmp "$M/data/meta" "$L/data/meta"       # the image's content, read now
	[[ $(cat "$M/data/trunc") == short && $(stat -c %s "$M/data/cut") == 0 ]]
	# the upper copy of meta holds no data of its own (one hole, no data after 0)
	run python3 -c 'import os, sys; os.lseek(os.open(sys.argv[1], os.O_RDONLY), 0, os.SEEK_DATA)' "$U/data/meta"
	[[ $status -ne 0 && $output == *"No such device or address"* ]]
	[[ $(stat -c %s "$U/data/meta") == 307200 ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: a link of an image hardlink whose other name was written and removed links the written file" {
	# The new name is a deleted image file (a whiteout), with a tiny fd cache.
	umount_slimfs "$M" "$T"
	mkdir -p "$L/a" "$L/b" "$L/c"
	echo orig > "$L/a/x"
	ln "$L/a/x" "$L/b/y"
	echo image > "$L/c/new"
	SLIMFS_FD_CACHE=1 mount_slimfs "$L" "$M" "$T" --upper "$U"
	stat "$M/a/x" "$M/b/y" > /dev/null
	echo written >> "$M/b/y"
	rm "$M/b/y" "$M/c/new"
	stat "$M/c" "$M/opt" "$M/etc" "$M/data" > /dev/null     # push the fds out of the cache
	st=0
	ln "$M/a/x" "$M/c/new" || st=$?
	# the kernel forgets its own (negative) entry of c/new: the daemon answers
	sync
	echo 2 > /proc/sys/vm/drop_caches
	echo "ln: $st; c/new: $(cat "$M/c/new" 2>&1)"
	if [[ $st -ne 0 ]]; then
		[[ ! -e $M/c/new ]]     # still deleted
	else
		[[ $(cat "$M/c/new") == $'orig\nwritten' ]]
	fi
	[[ $(cat "$M/a/x") == $'orig\nwritten' ]]
	[[ $st -eq 0 ]]
}

@test "overlay: a link that fails (too many links) puts back the whiteout it removed" {
	umount_slimfs "$M" "$T"
	mount_upper_fs ext4 "$BATS_TEST_TMPDIR/up-ext4"
	U=$BATS_TEST_TMPDIR/up-ext4/u
	mkdir -p "$U/opt/many"
	echo full > "$U/opt/full"
	# ext4 allows 65000 links to a file: the upper file has them all already
	python3 -c 'import os, sys
for k in range(64999):
    os.link(sys.argv[1] + "/full", f"{sys.argv[1]}/many/{k}")' "$U/opt"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	rm "$M/dir/one"
	run ln "$M/opt/full" "$M/dir/one"
	[[ $status -ne 0 && $output == *"Too many links"* ]]
	[[ ! -e $M/dir/one ]]
	[[ $(stat -c '%F %t:%T' "$U/dir/one") == 'character special file 0:0' ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: a link that fails does not bring a deleted image file back" {
	# The link removes the whiteout of the deleted image file c/new, and must put it
	# back when it fails.  The source is a file the daemon can no longer reach: a
	# passthrough reader's image file, split off by a write (fs/passthrough.h), whose
	# copy was then removed; with a tiny fd cache, nothing of the copy is held.
	umount_slimfs "$M" "$T"
	mkdir -p "$L/c"
	echo image > "$L/c/new"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	SLIMFS_FD_CACHE=1 mount_slimfs "$L" "$M" "$T" --upper "$U"
	local rd
	exec {rd}<"$M/dir/one"
	echo written >> "$M/dir/one"            # the reader keeps the image's file
	rm "$M/dir/one" "$M/c/new"
	stat "$M/c" "$M/opt" "$M/etc" "$M/data" > /dev/null     # push the fds out of the cache
	st=0
	ln -L "/proc/$$/fd/$rd" "$M/c/new" || st=$?
	exec {rd}<&-
	# the kernel forgets its own (negative) entry of c/new: the daemon answers
	sync
	echo 2 > /proc/sys/vm/drop_caches
	echo "ln: $st; c/new: $(cat "$M/c/new" 2>&1)"
	[[ $st -ne 0 ]]
	[[ ! -e $M/c/new ]]
	umount_slimfs "$M" "$T"
	[[ $(stat -c '%F %t:%T' "$U/c/new") == 'character special file 0:0' ]]
	lower_untouched
}

@test "overlay: fchmod, futimens and fsetxattr through an open image hardlink work after its other name was looked up and removed" {
	# The kernel names the inode, not the name: the copy-up must find a name of the
	# file that still shows, not the one looked up last.
	umount_slimfs "$M" "$T"
	mkdir -p "$L/a" "$L/b"
	echo orig > "$L/a/x"
	chmod 644 "$L/a/x"
	ln "$L/a/x" "$L/b/y"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	run python3 - "$M" <<'PY'
import os, sys
m = sys.argv[1]
fd = os.open(f"{m}/b/y", os.O_RDONLY)
os.stat(f"{m}/a/x")             # a/x: the inode's last name
os.unlink(f"{m}/a/x")
os.fchmod(fd, 0o600)
os.utime(fd, (1046660583, 1046660583))
os.setxattr(fd, "user.k", b"v")
PY
	echo "$output"
	[[ $status -eq 0 ]]
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ $(stat -c '%a %Y' "$M/b/y") == "600 1046660583" ]]
	[[ $(getfattr --only-values -n user.k "$M/b/y") == v && $(cat "$M/b/y") == orig ]]
	[[ ! -e $M/a/x ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: an image hardlink's copy gets all its names at once, so its link count never falls below its names" {
	# The names of the image file are found by a walk of the image (fs/hardlinks.h),
	# slow on a big image: while it runs, the copy must not show at one name with a
	# link count of 1, which the kernel then lowers at each unlink, to 0 (and link(2)
	# of a file with 0 links is ENOENT).
	umount_slimfs "$M" "$T"
	mkdir -p "$L"/{a,b,c,d,e,many}
	echo orig > "$L/a/x"
	for n in b/y c/z e/w; do ln "$L/a/x" "$L/$n"; done
	python3 -c 'import sys
for k in range(30000): open(f"{sys.argv[1]}/f{k}", "w").close()' "$L/many"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	stat "$M/b/y" "$M/c/z" "$M/e/w" "$M/a/x" > /dev/null      # a/x: its last name
	run python3 - "$M" "$U" <<'PY'
import os, sys, threading, time
m, u = sys.argv[1], sys.argv[2]
t = threading.Thread(target=lambda: os.close(os.open(f"{m}/a/x", os.O_WRONLY)))
t.start()                       # the open for writing copies it up
t0 = time.time()
while not os.path.exists(f"{u}/a/x") and time.time() - t0 < 20:
    pass
os.unlink(f"{m}/c/z")
n = os.stat(f"{m}/b/y").st_nlink   # a/x, b/y and e/w
os.unlink(f"{m}/e/w")
os.link(f"{m}/b/y", f"{m}/d/new")
t.join()
print("link count with 3 names:", n)
sys.exit(0 if n >= 3 else 1)
PY
	echo "$output"
	[[ $status -eq 0 ]]
	[[ $(stat -c %h "$M/b/y") == 3 && $(stat -c %i "$M/d/new") == $(stat -c %i "$M/a/x") ]]
	[[ $(stat -c %h "$U/a/x") == 3 && ! -e $M/c/z && ! -e $M/e/w ]]
}

@test "overlay: a copy-up of an image hardlink that cannot give the copy every name gives it none" {
	umount_slimfs "$M" "$T"
	mkdir -p "$L/a" "$L/b"
	echo orig > "$L/a/x"
	ln "$L/a/x" "$L/b/y"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	mount_slimfs "$L" "$M" "$T" --upper "$U"
	touch "$M/b/new"                # b is in the upper layer now
	immutable=$U/b
	chattr +i "$immutable"          # no name can be added to it
	run sh -c 'echo written >> "$1/a/x"' _ "$M"
	[[ $status -ne 0 ]]
	[[ ! -e $U/a/x && $(cat "$M/a/x") == orig ]]
	chattr -i "$immutable"
	echo written >> "$M/a/x"
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ $(cat "$M/b/y") == $'orig\nwritten' && $(stat -c %h "$U/b/y") == 2 ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}

@test "overlay: a rename of a directory onto a deleted image name that fails leaves the name deleted" {
	rm "$M/etc/conf"
	mkdir "$M/opt/newdir"
	immutable=$U/opt
	chattr +i "$immutable"          # nothing leaves it: the rename fails
	run python3 -c 'import os, sys; os.rename(sys.argv[1] + "/opt/newdir", sys.argv[1] + "/etc/conf")' "$M"
	[[ $status -ne 0 && $output == *"Operation not permitted"* ]]
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ ! -e $M/etc/conf && -d $M/opt/newdir ]]
	[[ $(stat -c '%F %t:%T' "$U/etc/conf") == 'character special file 0:0' ]]
}

@test "overlay: an rmdir that fails leaves the directory's deleted image names deleted" {
	rm -r "$M/dir/one" "$M/dir/two" "$M/dir/sub"
	immutable=$U
	chattr +i "$immutable"          # nothing leaves the upper root: the rmdir fails
	run rmdir "$M/dir"
	[[ $status -ne 0 && $output == *"Operation not permitted"* ]]
	sync
	echo 2 > /proc/sys/vm/drop_caches
	[[ -d $M/dir && $(ls -A "$M/dir") == "" ]]
	chattr -i "$immutable"
	rmdir "$M/dir"
	[[ ! -e $M/dir ]]
}

@test "overlay: an image file with thousands of names in as many directories is copied up under a low fd limit" {
	# Its copy-up holds no fd per name: the names of one image file have no bound.
	umount_slimfs "$M" "$T"
	python3 -c 'import os, sys
os.makedirs(f"{sys.argv[1]}/many/d0")
open(f"{sys.argv[1]}/many/d0/f", "w").write("orig\n")
for k in range(1, 2000):
    os.mkdir(f"{sys.argv[1]}/many/d{k}")
    os.link(f"{sys.argv[1]}/many/d0/f", f"{sys.argv[1]}/many/d{k}/f")' "$L"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
	( ulimit -n 1024 && mount_slimfs "$L" "$M" "$T" --upper "$U" )
	echo new >> "$M/many/d0/f"
	[[ $(cat "$M/many/d1999/f") == $'orig\nnew' && $(stat -c %h "$U/many/d1000/f") == 2000 ]]
	umount_slimfs "$M" "$T"
	lower_untouched
}
