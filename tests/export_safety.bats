#!/usr/bin/env bats
# slimfs-export safety: nothing outside the image root is ever read.  Image
# symlinks that point out of the root stay symlinks; trace paths with ".." or "."
# are refused with a warning; no symlink is followed, not even inside the root.
load export_helpers

setup() {
	export_setup
	mkdir -p "$IMG/etc" "$IMG/a/b"
	echo image-hosts >"$IMG/etc/hosts"
	ln -s /etc/shadow "$IMG/etc/shadow-link"
	ln -s ../../.. "$IMG/a/b/up"
	ln -s / "$IMG/rootlink"
	# a marker file on the host, outside the image, that must never be exported
	HOSTFILE=$BATS_TEST_TMPDIR/host-secret
	echo HOST-SECRET-CONTENT >"$HOSTFILE"
}

@test "export keeps symlinks to /etc/shadow and ../../.. as symlinks, pulling in no host file" {
	trace t.db <<-'END'
		lookup /etc/shadow-link
		readlink /etc/shadow-link
		read /etc/shadow
		lookup /a/b/up
		readlink /a/b/up
		lookup /etc/hosts
	END
	run --separate-stderr slimfs_export -o out.tar t.db
	[ "$status" -eq 0 ]
	extract out.tar x
	[ "$(readlink x/etc/shadow-link)" = /etc/shadow ]
	[ "$(readlink x/a/b/up)" = ../../.. ]
	[ ! -e x/etc/shadow ]
	run tar -tf out.tar
	lacks -x ./etc/shadow <<< "$output"
	# no byte of the host's /etc/shadow is in the archive
	lacks -a "$(head -1 /etc/shadow)" out.tar
}

@test "export refuses trace paths with .. or . with a warning and reads nothing outside" {
	rel=$(realpath --relative-to=/ "$HOSTFILE")
	trace t.db <<-END
		read /../$rel
		read /../../../../$rel
		lookup /./etc/passwd
		read /etc/../../$rel
		lookup /etc/hosts
	END
	# (LeakSanitizer cannot run under ptrace: off for this one call in ASan builds)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -o strace.log -e trace=%file,openat2 "$SLIMFS_EXPORT" -o out.tar t.db 2>stderr.txt
	grep -q "refusing path /../$rel" stderr.txt
	grep -q "refusing path /./etc/passwd" stderr.txt
	[ "$(grep -c 'refusing path' stderr.txt)" -eq 4 ]
	grep -q 'openat2(.*"/etc".*RESOLVE_IN_ROOT' strace.log   # strace saw the image being read
	lacks -e host-secret -e 'etc/passwd' strace.log
	run tar -tf out.tar
	grep -qx ./etc/hosts <<< "$output"
	lacks -e passwd -e host-secret <<< "$output"
	lacks -a HOST-SECRET-CONTENT out.tar
	run kept t.db
	[ "$status" -eq 0 ]
	lacks -e '\.\.' -e '/\./' <<< "$output"
}

@test "export never follows a symlink inside the image, not even into the root" {
	trace t.db <<-'END'
		lookup /rootlink
		read /rootlink/etc/hosts
		read /a/b/up/etc/hosts
		read /etc/shadow-link
	END
	run kept t.db
	grep -qx /rootlink <<< "$output"
	grep -qx /etc/shadow-link <<< "$output"
	lacks -e /rootlink/ -e /a/b/up/ <<< "$output"
	run slimfs_export --why /rootlink/etc/hosts t.db
	[[ "$output" == *"left out: not in the image"* ]]
}

@test "export --include walks only the image and never through its symlinks" {
	trace t.db <<< "lookup /etc"
	run kept --include '/**/hosts' --include '/a/**' --include '/rootlink/**' t.db
	grep -qx /etc/hosts <<< "$output"
	grep -qx /a/b/up <<< "$output"
	grep -qx /rootlink <<< "$output"
	lacks -e /rootlink/ -e /a/b/up/ -e host-secret <<< "$output"
}

@test "export never writes outside OUT even when a kept symlink points out" {
	trace t.db <<-'END'
		lookup /a/b/up
		lookup /etc/shadow-link
		read /etc/hosts
	END
	mkdir out
	slimfs_export --format dir -o out/lean t.db
	[ "$(readlink out/lean/a/b/up)" = ../../.. ]
	[ "$(readlink out/lean/etc/shadow-link)" = /etc/shadow ]
	[ "$(cat out/lean/etc/hosts)" = image-hosts ]
	[ "$(ls -A out)" = lean ]
}
