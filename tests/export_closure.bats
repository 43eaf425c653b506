#!/usr/bin/env bats
# slimfs-export: one test per closure rule (docs/design.md, "Evidence and closure"),
# golden over synthetic images, traces written by mktrace.
load export_helpers

setup() {
	export_setup
}

@test "export keeps symlink chain, relative and absolute, as symlinks" {
	mkdir -p "$IMG/usr/lib"
	echo foo >"$IMG/usr/lib/libfoo.so.1.2.3"
	ln -s libfoo.so.1.2.3 "$IMG/usr/lib/libfoo.so.1"
	echo bar >"$IMG/usr/lib/libbar.so.2"
	ln -s /usr/lib/libbar.so.2 "$IMG/usr/lib/libbar.so"
	echo unused >"$IMG/usr/lib/libunused.so"
	trace t.db <<-'END'
		lookup /usr/lib/libfoo.so.1
		readlink /usr/lib/libfoo.so.1
		read /usr/lib/libfoo.so.1.2.3
		lookup /usr/lib/libbar.so
		readlink /usr/lib/libbar.so
		read /usr/lib/libbar.so.2
	END
	slimfs_export -o out.tar t.db
	extract out.tar x
	[ "$(readlink x/usr/lib/libfoo.so.1)" = libfoo.so.1.2.3 ]
	[ "$(readlink x/usr/lib/libbar.so)" = /usr/lib/libbar.so.2 ]
	[ "$(cat x/usr/lib/libfoo.so.1.2.3)" = foo ]
	[ "$(cat x/usr/lib/libbar.so.2)" = bar ]
	[ ! -e x/usr/lib/libunused.so ]
}

@test "export keeps a directory symlink as a symlink and the files behind it" {
	mkdir -p "$IMG/usr/lib"
	echo c >"$IMG/usr/lib/libc.so.6"
	ln -s usr/lib "$IMG/lib"
	trace t.db <<-'END'
		lookup /lib
		readlink /lib
		lookup /usr/lib/libc.so.6
		read /usr/lib/libc.so.6
	END
	slimfs_export -o out.tar t.db
	tar -tvf out.tar | grep -q '^l.* \./lib -> usr/lib$'
	extract out.tar x
	[ -L x/lib ]
	[ "$(readlink x/lib)" = usr/lib ]
	[ -d x/usr/lib ]
	[ ! -L x/usr/lib ]
	[ "$(cat x/lib/libc.so.6)" = c ]
}

@test "export writes every name of a kept inode as a hardlink, never a copy" {
	mkdir -p "$IMG/a" "$IMG/b" "$IMG/c"
	head -c 100000 /dev/urandom >"$IMG/a/f"
	ln "$IMG/a/f" "$IMG/b/g"
	ln "$IMG/a/f" "$IMG/c/h"
	trace t.db <<< "read /b/g"
	slimfs_export -o out.tar t.db
	run tar -tvf out.tar
	[[ "$output" == *"./a/f"* ]]
	[[ "$output" == *"./b/g link to ./a/f"* ]]
	[[ "$output" == *"./c/h link to ./a/f"* ]]
	# one copy of the content: the archive is about one file big
	[ "$(stat -c %s out.tar)" -lt 150000 ]
	extract out.tar x
	[ "$(stat -c %i x/a/f)" = "$(stat -c %i x/b/g)" ]
	[ "$(stat -c %i x/a/f)" = "$(stat -c %i x/c/h)" ]
	[ "$(stat -c %h x/a/f)" = 3 ]
	cmp x/a/f "$IMG/a/f"
}

@test "export keeps file capabilities, xattrs and ACLs" {
	mkdir -p "$IMG/bin"
	cp /bin/true "$IMG/bin/ping"
	setcap cap_net_raw+ep "$IMG/bin/ping"
	setfattr -n user.colour -v blue "$IMG/bin/ping"
	echo x >"$IMG/bin/acl"
	setfacl -m u:1234:r "$IMG/bin/acl"
	trace t.db <<-'END'
		exec /bin/ping
		read /bin/acl
	END
	slimfs_export -o out.tar t.db
	extract out.tar x
	[ "$(getcap x/bin/ping)" = "x/bin/ping cap_net_raw=ep" ]
	[ "$(getfattr --only-values -n user.colour x/bin/ping)" = blue ]
	getfacl -n x/bin/acl | grep -qx 'user:1234:r--'
}

@test "export keeps device nodes and fifos and skips sockets with a warning" {
	mkdir -p "$IMG/dev" "$IMG/run"
	mknod "$IMG/dev/null" c 1 3
	mknod "$IMG/dev/loop9" b 7 9
	mkfifo "$IMG/run/fifo"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$IMG/run/sock"
	trace t.db <<-'END'
		lookup /dev/null
		lookup /dev/loop9
		lookup /run/fifo
		lookup /run/sock
	END
	run --separate-stderr slimfs_export -o out.tar t.db
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"/run/sock: skipping socket"* ]]
	extract out.tar x
	[ "$(stat -c '%F %t:%T' x/dev/null)" = "character special file 1:3" ]
	[ "$(stat -c '%F %t:%T' x/dev/loop9)" = "block special file 7:9" ]
	[ -p x/run/fifo ]
	[ ! -e x/run/sock ]
}

@test "export adds mount points as empty directories, with the image's metadata if present" {
	mkdir -p "$IMG/tmp" "$IMG/run/lock" "$IMG/etc"
	chmod 1777 "$IMG/tmp"
	chmod 0710 "$IMG/run"
	chown 7:8 "$IMG/run"
	touch -d '2001-02-03 04:05:06' "$IMG/run"
	echo junk >"$IMG/tmp/junk"
	echo x >"$IMG/etc/x"
	trace t.db <<< "read /etc/x"
	slimfs_export -o out.tar t.db
	extract out.tar x
	for d in proc sys dev; do
		[ -d "x/$d" ]
		[ "$(stat -c '%a %u:%g' "x/$d")" = "755 0:0" ]
		[ -z "$(ls -A "x/$d")" ]
	done
	[ "$(stat -c '%a %u:%g' x/tmp)" = "1777 0:0" ]
	[ -z "$(ls -A x/tmp)" ]
	[ "$(stat -c '%a %u:%g %Y' x/run)" = "710 7:8 $(stat -c %Y "$IMG/run")" ]
	[ -z "$(ls -A x/run)" ]
}

@test "export keeps the directories the workload created files in" {
	mkdir -p "$IMG/var/log" "$IMG/data/old"
	chmod 0750 "$IMG/var/log"
	echo old >"$IMG/var/log/old.log"
	trace t.db <<-'END'
		create /var/log/app/new.log
		mkdir /var/log/app
		mkdir /data/fresh
		negative /data/fresh
	END
	run kept t.db
	[ "$status" -eq 0 ]
	grep -qx /var/log <<< "$output"
	grep -qx /data <<< "$output"
	lacks -e /var/log/old.log -e /var/log/app -e /data/old -e /data/fresh <<< "$output"
	slimfs_export -o out.tar t.db
	extract out.tar x
	[ "$(stat -c %a x/var/log)" = 750 ]
}

@test "export gives ancestors their own mode, owner and time" {
	mkdir -p "$IMG/srv/app"
	echo f >"$IMG/srv/app/file"
	chmod 0700 "$IMG/srv"
	chown 1234:4321 "$IMG/srv"
	chmod 0751 "$IMG/srv/app"
	touch -d '2003-04-05 06:07:08.123456789' "$IMG/srv" "$IMG/srv/app"
	trace t.db <<< "read /srv/app/file"
	slimfs_export -o out.tar t.db
	extract out.tar x
	[ "$(stat -c '%a %u:%g %y' x/srv)" = "700 1234:4321 $(stat -c %y "$IMG/srv")" ]
	[ "$(stat -c '%a %y' x/srv/app)" = "751 $(stat -c %y "$IMG/srv/app")" ]
	[[ "$(stat -c %y x/srv)" == *".123456789 "* ]]
}

@test "export --keep lookup, open and read keep what each level asks for" {
	mkdir -p "$IMG/e"
	echo 1 >"$IMG/e/looked"
	echo 2 >"$IMG/e/opened"
	echo 3 >"$IMG/e/read"
	echo 4 >"$IMG/e/execd"
	echo 5 >"$IMG/e/verified"
	trace t.db <<-'END'
		lookup /e/looked
		getattr /e/looked
		open /e/opened
		lookup /e/read
		read /e/read
		exec /e/execd
		verify_read /e/verified
	END
	[ "$(kept t.db | grep '^/e/' | tr '\n' ' ')" = "/e/execd /e/looked /e/opened /e/read /e/verified " ]
	[ "$(kept --keep lookup t.db | grep '^/e/' | tr '\n' ' ')" = "/e/execd /e/looked /e/opened /e/read /e/verified " ]
	[ "$(kept --keep open t.db | grep '^/e/' | tr '\n' ' ')" = "/e/execd /e/opened /e/read /e/verified " ]
	[ "$(kept --keep read t.db | grep '^/e/' | tr '\n' ' ')" = "/e/read /e/verified " ]
}

@test "export leaves out write-side events, failed lookups and paths not in the image" {
	mkdir -p "$IMG/etc"
	echo image >"$IMG/etc/conf"
	trace t.db <<-'END'
		negative /etc/missing
		lookup /etc/gone
		write /etc/written-only
		open_write /etc/conf
		lookup /etc/conf
	END
	run kept t.db
	grep -qx /etc/conf <<< "$output"
	lacks -e missing -e gone -e written-only <<< "$output"
}

@test "export writes files the workload changed as they are in the image" {
	mkdir -p "$IMG/etc"
	echo image >"$IMG/etc/conf"
	trace t.db <<-'END'
		open_write /etc/conf
		write /etc/conf
		setattr /etc/conf
		read /etc/conf
	END
	slimfs_export -o out.tar t.db
	extract out.tar x
	[ "$(cat x/etc/conf)" = image ]
}

@test "export --include adds image paths matching ** globs and --exclude drops them" {
	mkdir -p "$IMG/usr/share/doc/a/deep" "$IMG/usr/lib/py/__pycache__" "$IMG/opt/big"
	echo d >"$IMG/usr/share/doc/a/deep/README"
	echo d >"$IMG/usr/share/doc/a/copyright"
	echo p >"$IMG/usr/lib/py/m.py"
	echo c >"$IMG/usr/lib/py/__pycache__/m.pyc"
	echo b >"$IMG/opt/big/blob"
	trace t.db <<-'END'
		read /usr/lib/py/m.py
		read /usr/lib/py/__pycache__/m.pyc
		read /opt/big/blob
	END
	run kept --include '/usr/share/doc/**' --exclude '*.pyc' --exclude /opt/big t.db
	[ "$status" -eq 0 ]
	grep -qx /usr/share/doc/a/deep/README <<< "$output"
	grep -qx /usr/share/doc/a/copyright <<< "$output"
	grep -qx /usr/lib/py/m.py <<< "$output"
	lacks -e 'm\.pyc' -e /opt/big <<< "$output"
	# an excluded directory takes everything below it, and is no ancestor any more
	run kept --exclude '/usr/share/**' --include '/usr/share/doc/**' t.db
	[ "$status" -eq 0 ]
	lacks /usr/share <<< "$output"
	printf '# docs\n\n/usr/share/doc/a/*\n' >patterns
	run kept --include-from patterns t.db
	grep -qx /usr/share/doc/a/copyright <<< "$output"
	lacks README <<< "$output"
}

@test "export --list prints the kept paths sorted, one per line, nothing else" {
	mkdir -p "$IMG/b" "$IMG/a-b" "$IMG/a/z"
	touch "$IMG/b/1" "$IMG/a-b/2" "$IMG/a/z/3" "$IMG/a/0"
	trace t.db <<-'END'
		lookup /b/1
		lookup /a/z/3
		lookup /a-b/2
		lookup /a/0
	END
	run --separate-stderr slimfs_export --list t.db
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "$(LC_ALL=C sort <<< "$output")" ]
	[ "$output" = "$(printf '%s\n' / /a /a-b /a-b/2 /a/0 /a/z /a/z/3 /b /b/1 /dev /proc /run /sys /tmp | LC_ALL=C sort)" ]
}

@test "export merges the runs of several traces" {
	mkdir -p "$IMG/x"
	touch "$IMG/x/one" "$IMG/x/two" "$IMG/x/three"
	trace t1.db <<< "lookup /x/one"
	trace t1.db <<< "read /x/two"
	trace t2.db <<< "lookup /x/three"
	run kept t1.db t2.db
	grep -qx /x/one <<< "$output"
	grep -qx /x/two <<< "$output"
	grep -qx /x/three <<< "$output"
	run kept --keep read t1.db t2.db
	[ "$(grep '^/x/' <<< "$output")" = /x/two ]
}
