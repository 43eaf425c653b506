#!/usr/bin/env bats
# fs_record.bats — what the recorder writes: the exact set of (path, operation) for a
# scripted workload running chrooted on the mount, paths as requested (symlinks not
# resolved away), first accesses recorded, and the lower tree left untouched.
load fs_common

setup() {
	fs_setup
	local probe
	probe=$(fs_probe)
	mkdir -p "$L"/{usr/lib,etc,opt/target,srv,data,var/deep/dir,var/listme,bin}
	cp "$probe" "$L/probe"
	cp "$probe" "$L/bin/probe2"
	echo x > "$L/usr/lib/x"
	ln -s usr/lib "$L/lib"                          # directory symlink mid-path
	echo target > "$L/opt/target/file"
	ln -s /opt/target/file "$L/etc/abs"             # absolute symlink
	echo real > "$L/srv/real"
	ln -s ../srv/real "$L/etc/rel"                  # relative symlink
	ln -s rel "$L/etc/chain"                        # symlink to a symlink
	echo h > "$L/data/h1"
	ln "$L/data/h1" "$L/data/h2"                    # hardlink
	echo s > "$L/opt/statonly"
	echo f > "$L/var/deep/dir/f"
	echo c > "$L/var/listme/child"
	echo conf > "$L/etc/conf"
	manifest "$L" > "$BATS_TEST_TMPDIR/before"
}

teardown() {
	fs_teardown
}

# run the probe chrooted on the mount
probe() {
	chroot "$M" /probe "$@"
}

# exact_set [SLIMFS OPTION...] — run the scripted workload and print the trace's
# (path, operation) set, as fs_events does.
exact_set() {
	mount_slimfs "$L" "$M" "$T" "$@"
	probe cat:/lib/x cat:/etc/abs cat:/etc/chain cat:/data/h1 stat:/data/h2 \
		miss:/nope miss:/etc/nothere stat:/opt/statonly cat:/var/deep/dir/f \
		ls:/var/listme exec:/bin/probe2 mkdir:/newdir write:/newdir/out:hello \
		write:/etc/conf:changed
	umount_slimfs "$M" "$T"
	fs_events "$T"
}

# The set with every read served by the daemon.  /proc: the static C library reads
# /proc/self/exe at start (no /proc in the tree).
want_set() {
	LC_ALL=C sort <<-'EOS'
		/bin lookup
		/bin/probe2 exec
		/bin/probe2 lookup
		/bin/probe2 read
		/data lookup
		/data/h1 lookup
		/data/h1 open
		/data/h1 read
		/data/h2 lookup
		/etc lookup
		/etc/abs lookup
		/etc/abs readlink
		/etc/chain lookup
		/etc/chain readlink
		/etc/conf lookup
		/etc/conf open_write
		/etc/conf write
		/etc/nothere negative
		/etc/rel lookup
		/etc/rel readlink
		/lib lookup
		/lib readlink
		/newdir mkdir
		/newdir negative
		/newdir/out create
		/newdir/out negative
		/newdir/out write
		/nope negative
		/opt lookup
		/opt/statonly lookup
		/opt/target lookup
		/opt/target/file lookup
		/opt/target/file open
		/opt/target/file read
		/probe exec
		/probe lookup
		/probe read
		/proc negative
		/srv lookup
		/srv/real lookup
		/srv/real open
		/srv/real read
		/usr lookup
		/usr/lib lookup
		/usr/lib/x lookup
		/usr/lib/x open
		/usr/lib/x read
		/var lookup
		/var/deep lookup
		/var/deep/dir lookup
		/var/deep/dir/f lookup
		/var/deep/dir/f open
		/var/deep/dir/f read
		/var/listme lookup
		/var/listme opendir
		/var/listme readdir
	EOS
}

# want_exact [slimfs options...] — want_set as a mount with these options records it,
# sorted: image reads as passthrough when passthrough is expected; and, as on a kernel
# without atomic O_TRUNC (--hide-cap o_trunc), the SETATTR that truncates /etc/conf
# after its open, which the kernel then sends.
want_exact() {
	{
		if pt_expected "$@"; then
			want_set | sed 's/ read$/ passthrough/'
		else
			want_set
		fi
		! hidden o_trunc "$@" || echo "/etc/conf setattr"
	} | LC_ALL=C sort
}

@test "record keeps the exact set of paths and operations of a chrooted workload" {
	exact_set > "$BATS_TEST_TMPDIR/got"
	# FUSE passthrough (the default): image files opened to be read are recorded as
	# such; their reads go from the kernel to the image without the daemon.  (Unless
	# the suite runs as on a kernel without it: --hide-cap passthrough.)
	want_exact > "$BATS_TEST_TMPDIR/want"
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
}

@test "record keeps the exact set with --no-passthrough, every read served by the daemon" {
	exact_set --no-passthrough > "$BATS_TEST_TMPDIR/got"
	want_exact --no-passthrough > "$BATS_TEST_TMPDIR/want"
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
}

@test "record takes a directory symlink mid-path as the path requested" {
	mount_slimfs "$L" "$M" "$T"
	probe cat:/lib/x
	umount_slimfs "$M" "$T"
	has_event "$T" /lib lookup
	has_event "$T" /lib readlink
	has_event "$T" /usr lookup
	has_event "$T" /usr/lib lookup
	has_event "$T" /usr/lib/x open
	has_read "$T" /usr/lib/x
	# the symlink is never looked through: no /lib/x path exists in the trace
	[ "$(sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE path = '/lib/x'")" -eq 0 ]
}

@test "record marks execve opens as exec, not as plain opens" {
	mount_slimfs "$L" "$M" "$T"
	probe exec:/bin/probe2
	umount_slimfs "$M" "$T"
	has_event "$T" /bin/probe2 exec
	run ! has_event "$T" /bin/probe2 open
	run ! has_event "$T" /bin/probe2 open_write
}

@test "record sees the first access without a second one" {
	mount_slimfs "$L" "$M" "$T" --no-passthrough      # so reads reach the daemon
	probe cat:/srv/real stat:/opt/statonly miss:/missing
	umount_slimfs "$M" "$T"
	[[ $(sqlite3 "$T" "SELECT count FROM event_paths WHERE path = '/srv/real' AND op = 'read'") -eq 1 ]]
	[[ $(sqlite3 "$T" "SELECT count FROM event_paths WHERE path = '/srv/real' AND op = 'open'") -eq 1 ]]
	has_event "$T" /opt/statonly lookup
	has_event "$T" /missing negative
}

@test "record keeps a stat-only access at lookup level" {
	mount_slimfs "$L" "$M" "$T"
	probe stat:/opt/statonly
	umount_slimfs "$M" "$T"
	has_event "$T" /opt/statonly lookup
	[ "$(sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE path = '/opt/statonly'
		AND op IN ('open', 'read', 'exec')")" -eq 0 ]
}

@test "record does not look up the names a directory listing returns" {
	mount_slimfs "$L" "$M" "$T"
	probe ls:/var/listme
	umount_slimfs "$M" "$T"
	has_event "$T" /var/listme readdir
	[ "$(sqlite3 "$T" "SELECT count(*) FROM event_paths WHERE path = '/var/listme/child'")" -eq 0 ]
}

@test "record names a hardlink by the name used" {
	mount_slimfs "$L" "$M" "$T"
	probe cat:/data/h2
	umount_slimfs "$M" "$T"
	has_event "$T" /data/h2 open
	has_read "$T" /data/h2
	! has_event "$T" /data/h1 lookup
}

@test "record follows a renamed file to its new name" {
	mount_slimfs "$L" "$M" "$T"
	mv "$M/srv/real" "$M/srv/moved"
	cat "$M/srv/moved" > /dev/null
	umount_slimfs "$M" "$T"
	has_event "$T" /srv/real rename_from
	has_event "$T" /srv/moved rename_to
	has_event "$T" /srv/moved open
}

@test "record leaves the lower tree byte- and metadata-identical" {
	mount_slimfs "$L" "$M" "$T"
	probe cat:/lib/x write:/etc/conf:changed mkdir:/newdir write:/newdir/out:hello \
		write:/data/h1:changed exec:/bin/probe2
	rm -rf "$M/var/deep" "$M/opt/statonly"
	mv "$M/srv/real" "$M/srv/other"
	chmod 600 "$M/usr/lib/x"
	umount_slimfs "$M" "$T"
	manifest "$L" > "$BATS_TEST_TMPDIR/after"
	diff -u "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}

@test "record completes the trace when the daemon exits" {
	mount_slimfs "$L" "$M" "$T"
	probe cat:/usr/lib/x
	umount_slimfs "$M" "$T"
	run sqlite3 "$T" "SELECT ended_ns > started_ns, lowerdir FROM runs"
	[[ $status -eq 0 ]]
	[[ $output == "1|$(realpath "$L")" ]]
}

@test "record notes in the run whether the fanotify verifier was on" {
	mount_slimfs "$L" "$M" "$T" --no-verify
	probe cat:/usr/lib/x
	umount_slimfs "$M" "$T"
	mount_slimfs "$L" "$M" "$T"
	probe cat:/usr/lib/x
	umount_slimfs "$M" "$T"
	[[ $(sqlite3 "$T" "SELECT group_concat(verifier, ',') FROM (SELECT verifier FROM runs ORDER BY id)") == 0,1 ]]
	[ "$(sqlite3 "$T" "SELECT count(*) FROM events e JOIN ops o ON o.id = e.op
		WHERE e.run = (SELECT min(id) FROM runs) AND o.name LIKE 'verify_%'")" -eq 0 ]
	has_event "$T" /usr/lib/x verify_read
}

@test "record stores the command line given with --command" {
	mount_slimfs "$L" "$M" "$T" --command "python3 -c pass"
	umount_slimfs "$M" "$T"
	[[ $(sqlite3 "$T" "SELECT command FROM runs") == "python3 -c pass" ]]
}
