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
		strace -f -o strace.log -e trace=%file,openat2 "$SLIMFS_EXPORT" --from "$IMG" \
		-o out.tar t.db 2>stderr.txt
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

@test "rules resolve every path inside the image: symlinks out of it reach nothing of the host" {
	rel=$(realpath --relative-to=/ "$HOSTFILE")
	mkdir -p "$IMG"/usr/bin "$IMG"/var/lib "$IMG"/info "$IMG$(dirname "$HOSTFILE")"
	# programs that point out of the image, relatively and absolutely
	ln -s "../../../../../../../../$rel" "$IMG"/usr/bin/up
	ln -s "$HOSTFILE" "$IMG"/usr/bin/abs
	echo '#!/bin/sh' >"$IMG$HOSTFILE"            # the image's file of that name
	printf '#!../../../../../../%s\n' "$rel" >"$IMG"/usr/bin/script   # a relative interpreter
	chmod 755 "$IMG"/usr/bin/script
	# the loader's cache and the dpkg database are symlinks to the host's
	ln -s /etc/ld.so.cache "$IMG"/etc/ld.so.cache.real
	ln -s ../../../../../../etc/ld.so.cache "$IMG"/etc/ld.so.cache
	ln -s / "$IMG"/var/lib/dpkg                   # /var/lib/dpkg/status is the image's /status
	printf 'Package: imgpkg\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n' >"$IMG"/status
	echo /etc/hosts >"$IMG"/info/imgpkg.list
	ln -s ../../../../../etc/ssl "$IMG"/etc/ssl   # a loop inside the image
	trace t.db <<< "lookup /etc"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -o strace.log -e trace=%file,openat2 "$SLIMFS_EXPORT" -q --from "$IMG" \
		--include-exe /usr/bin/up --include-exe /usr/bin/abs --include-exe /usr/bin/script \
		--include-pkg imgpkg --include-preset certs --include-preset nss -o out.tar t.db
	run tar -tf out.tar
	echo "$output"
	grep -qx ./usr/bin/abs <<<"$output"
	grep -qx ".$HOSTFILE" <<<"$output"           # the image's, through the absolute link
	grep -qx ./etc/hosts <<<"$output"             # imgpkg's file, from the image's database
	grep -qx ./status <<<"$output"
	lacks -a HOST-SECRET-CONTENT out.tar
	lacks -a -x 'Package: dpkg' out.tar           # nothing of the host's database
	grep -q -a -x 'Package: dpkg' /var/lib/dpkg/status   # (which has it)
	# a host package is not in the image's database
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" --include-pkg dpkg --list t.db
	fails_one_line "slimfs-export: --include-pkg dpkg: not installed in image $IMG"
	# once the image is open (the first openat2), no host path of these names is named
	# outside the test's directory: lookups are relative to the image's directory fds
	grep -q 'openat2(.*RESOLVE_IN_ROOT' strace.log
	awk '/RESOLVE_IN_ROOT/ { started = 1 } started' strace.log |
		grep -E '[a-z0-9_]+\((AT_FDCWD, )?"/' >absolute.txt || true
	awk -v t="$BATS_TEST_TMPDIR" 'index($0, "\"" t) == 0' absolute.txt >outside.txt
	cat outside.txt
	lacks -e host-secret -e ld.so.cache -e /etc/ssl -e /var/lib/dpkg -e /status outside.txt
	# and the image's own files of those names were read through such fds
	grep -q 'openat([0-9]*, "host-secret"' strace.log
}
