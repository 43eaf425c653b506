#!/usr/bin/env bats
# slimfs-export's fast path: each kept path is looked up in the image once, the
# image is walked only when --stats, --include or a name of a kept inode missing
# from the trace asks for it (and then, on file systems whose readdir inode
# numbers are the st_ino, only the entries with such an inode number are
# stat-ed), and none of this changes a byte of what is written.
load export_helpers

setup() {
	export_setup
}

teardown() {
	mountpoint -q "$BATS_TEST_TMPDIR/tfs" && umount "$BATS_TEST_TMPDIR/tfs"
	true
}

# image DIR — 3 directories of 20 files, one inode with names in all three, one
# symlink; fills $DIR.
image() {
	local d=$1
	mkdir -p "$d/usr/lib/a" "$d/usr/lib/b" "$d/etc"
	for i in $(seq 20); do
		head -c $((i * 100)) /dev/urandom >"$d/usr/lib/a/f$i"
		head -c $((i * 50)) /dev/urandom >"$d/usr/lib/b/g$i"
		echo "$i" >"$d/etc/c$i"
	done
	ln "$d/usr/lib/a/f3" "$d/usr/lib/b/h3"
	ln "$d/usr/lib/a/f3" "$d/etc/h3"
	ln -s ../a/f1 "$d/usr/lib/b/l1"
}

# strace_export ARGS... — slimfs-export under strace -f (LeakSanitizer cannot run
# under ptrace: off for this call in ASan builds); the calls go to strace.log.
strace_export() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -o strace.log -e trace=newfstatat,getdents64,statx "$SLIMFS_EXPORT" \
		--from "$IMG" "$@"
}

@test "export finds every name of a kept inode the trace missed, on ext4 and on tmpfs" {
	mkdir tfs
	mount -t tmpfs tmpfs tfs
	for img in "$IMG" "$BATS_TEST_TMPDIR/tfs/img"; do
		image "$img"
		rm -f t.db
		trace t.db "$img" <<< "read /usr/lib/b/h3"
		slimfs_export --from "$img" -o out.tar t.db
		run tar -tvf out.tar
		# the first name in path order holds the content, the others link to it
		grep -q '^-.* \./etc/h3$' <<< "$output"
		[[ "$output" == *"./usr/lib/a/f3 link to ./etc/h3"* ]]
		[[ "$output" == *"./usr/lib/b/h3 link to ./etc/h3"* ]]
		lacks -e f4 -e g3 <<< "$output"
		rm -rf x
		extract out.tar x
		[ "$(stat -c %h x/usr/lib/a/f3)" = 3 ]
		cmp x/etc/h3 "$img/usr/lib/a/f3"
	done
}

@test "export walks the image only when --stats, --include or a missing hardlink name needs it" {
	# on tmpfs, whose readdir inode numbers are known to be the st_ino
	mkdir tfs
	mount -t tmpfs tmpfs tfs
	IMG=$BATS_TEST_TMPDIR/tfs/img
	image "$IMG"
	trace t.db <<-'END'
		read /usr/lib/a/f3
		lookup /usr/lib/b/h3
		lookup /etc/h3
		lookup /usr/lib/b/l1
		read /usr/lib/a/f1
	END
	# every name of the one multiply linked inode is recorded: no walk
	strace_export -o out.tar t.db
	lacks getdents64 strace.log
	# --stats needs the image's totals: a walk that stats everything
	strace_export --stats -o out.tar t.db
	grep -q getdents64 strace.log
	[ "$(grep -c 'newfstatat(.*"f[0-9]*"' strace.log)" -ge 20 ]
	# a missing name: a walk that stats only entries with the inode's number
	trace t2.db <<< "read /usr/lib/a/f3"
	strace_export -o out.tar t2.db
	grep -q getdents64 strace.log
	# (f3 itself is looked up once, as a kept path)
	[ "$(grep -v '"f3"' strace.log | grep -c 'newfstatat(.*"[fgc][0-9]*"')" -eq 0 ]
	grep -q 'newfstatat(.*"h3"' strace.log
	tar -tvf out.tar | grep -q "./usr/lib/b/h3 link to"
}

@test "export looks up each kept path in the image once" {
	image "$IMG"
	sed 's|^|lookup |' <<-'END' | trace t.db
		/usr/lib/a/f1
		/usr/lib/a/f2
		/usr/lib/a/f5
		/usr/lib/b/g7
		/usr/lib/b/l1
		/etc/c9
	END
	strace_export -o out.tar t.db
	for f in f1 f2 f5 g7 l1 c9; do
		# one lstat by name; the writer only fstat()s what it opened
		[ "$(grep -c "newfstatat([0-9]*, \"$f\"" strace.log)" -eq 1 ]
	done
}

@test "export writes the same bytes whether or not it walks the whole image" {
	image "$IMG"
	setfattr -n user.note -v hello "$IMG/usr/lib/a/f2"
	trace t.db <<-'END'
		read /usr/lib/b/h3
		lookup /usr/lib/a/f2
		lookup /usr/lib/b/l1
		lookup /etc/c1
	END
	slimfs_export -o a.tar t.db
	slimfs_export -q --stats -o b.tar t.db >/dev/null
	slimfs_export -o c.tar.zst t.db
	slimfs_export -q --stats -o d.tar.zst t.db >/dev/null
	cmp a.tar b.tar
	cmp c.tar.zst d.tar.zst
	tar -tvf a.tar | grep -q "./usr/lib/b/h3 link to ./etc/h3"
	extract a.tar x
	[ "$(getfattr --only-values -n user.note x/usr/lib/a/f2)" = hello ]
}
