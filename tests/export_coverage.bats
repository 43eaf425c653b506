#!/usr/bin/env bats
# export_coverage.bats — what one run cannot show: slimfs-export --include-exe,
# --include-pkg(-deps), --include-preset and the --why of each rule.  On the cached
# Debian 12 root fs (tests/rootfs.sh, read-only: lean trees are exported into the test's
# own directory and only those are chrooted into), its curl variant, and small images
# built here.  The oracles are ldd run inside the image and tests/inroot.py.
load run_helpers
load export_helpers

INROOT=$SLIMFS_SRC/tests/inroot.py

setup_file() {
	# one recorded run of `true` serves every test that needs a trace of the image
	# (rootfs.sh makes and finds the shared root file systems under SLIMFS_CACHE, so that
	# is pointed at a private cache only for the slimfs-run below, as run_setup does)
	ROOTFS=$(rootfs)
	ROOTFS_CURL=$("$SLIMFS_SRC/tests/rootfs.sh" curl)
	export ROOTFS_CURL
	SLIMFS_CACHE=$BATS_FILE_TMPDIR/cache "$SLIMFS_RUN" --trace "$BATS_FILE_TMPDIR/true.db" "$ROOTFS" -- true
}

setup() {
	run_setup
	TRUE_DB=$BATS_FILE_TMPDIR/true.db
}

teardown() {
	assert_nothing_left
}

# export [OPTION]... — slimfs-export of the recorded `true` in the Debian image.
export_img() {
	"$SLIMFS_EXPORT" --from "$ROOTFS" "$@" "$TRUE_DB"
}

# lean DIR [OPTION]... — a lean tree of `true` plus OPTIONs, in DIR.
lean() {
	local dir=$1
	shift
	"$SLIMFS_EXPORT" -q --from "$ROOTFS" --format dir -o "$dir" "$@" "$TRUE_DB"
}

@test "include-exe keeps exactly the libraries ldd loads, for every program in /usr/bin" {
	# an empty trace: what is kept is the rule's alone
	"$MKTRACE" empty.db "$ROOTFS" </dev/null
	unshare -m chroot "$ROOTFS" /bin/sh -c \
		'for f in /usr/bin/*; do echo "== $f"; ldd "$f" 2>&1; done; true' >ldd.txt
	run python3 "$INROOT" ldd-all "$ROOTFS" "$SLIMFS_EXPORT" empty.db ldd.txt
	echo "$output"
	[ "$status" -eq 0 ]
	echo "# ${lines[-1]}" >&3
	dynamic=$(sed -n 's/^dynamic \([0-9]*\) (mismatched 0).*/\1/p' <<<"${lines[-1]}")
	[ "$dynamic" -gt 200 ]
	# the comparison can fail: python3's section given ls's ldd output is a mismatch
	awk '/^== /{ keep = ($2 == "/usr/bin/ls") } keep' ldd.txt | sed 's|^== .*|== /usr/bin/python3|' >swapped.txt
	run python3 "$INROOT" ldd-all "$ROOTFS" "$SLIMFS_EXPORT" empty.db swapped.txt
	[ "$status" -eq 1 ]
	[[ $output == *"ldd loads /usr/lib/x86_64-linux-gnu/libselinux.so.1, the export does not keep it"* ]]
}

@test "include-exe follows a #! interpreter with every symlink on the way" {
	run export_img -q --package-db none --include-exe /usr/bin/ldd --list
	[ "$status" -eq 0 ]
	head -1 "$ROOTFS/usr/bin/ldd" | grep -qx '#! */bin/bash'
	for p in /usr/bin/ldd /bin /usr/bin/bash /usr/lib/x86_64-linux-gnu/libtinfo.so.6 \
		/lib64 /usr/lib64/ld-linux-x86-64.so.2; do
		grep -qx "$p" <<<"$output" || { echo "$p not kept"; return 1; }
	done
	# without the rule, bash is not there
	run export_img -q --package-db none --list
	lacks -x /usr/bin/bash <<<"$output"
}

@test "include-exe runs #!/usr/bin/env NAME through PATH, skipping what is not executable" {
	img=$BATS_TEST_TMPDIR/img
	mkdir -p "$img"/usr/bin "$img"/usr/local/bin "$img"/usr/local/sbin "$img"/opt/app
	ln -s usr/bin "$img"/bin
	printf 'stub\n' >"$img"/usr/bin/env
	printf 'stub\n' >"$img"/usr/bin/dash
	ln -s dash "$img"/usr/bin/sh
	printf '#!/bin/sh\n' >"$img"/usr/local/sbin/tool      # first in PATH, not executable
	printf '#!/bin/sh\necho tool\n' >"$img"/usr/local/bin/tool
	printf '#!/usr/bin/env -S tool --flag\n' >"$img"/opt/app/run
	chmod 755 "$img"/usr/bin/env "$img"/usr/bin/dash "$img"/usr/local/bin/tool "$img"/opt/app/run
	chmod 644 "$img"/usr/local/sbin/tool
	"$MKTRACE" s.db "$img" </dev/null
	run "$SLIMFS_EXPORT" -q --from "$img" --include-exe /opt/app/run --list s.db
	[ "$status" -eq 0 ]
	for p in /opt/app/run /usr/bin/env /usr/local/bin/tool /bin /usr/bin/sh /usr/bin/dash; do
		grep -qx "$p" <<<"$output" || { echo "$p not kept"; return 1; }
	done
	lacks -x /usr/local/sbin/tool <<<"$output"
	# a bare name is looked up in the same PATH
	run "$SLIMFS_EXPORT" -q --from "$img" --include-exe tool --list s.db
	grep -qx /usr/local/bin/tool <<<"$output"
	grep -qx /usr/bin/dash <<<"$output"
}

@test "include-exe finds libraries as the loader does: RUNPATH, RPATH of the loaders, \$ORIGIN \$LIB \$PLATFORM, glibc-hwcaps" {
	img=$BATS_TEST_TMPDIR/img
	src=$BATS_TEST_TMPDIR/src
	mkdir -p "$src" "$img"/etc "$img"/opt/app/bin "$img"/opt/app/lib/glibc-hwcaps/x86-64-v2 \
		"$img"/opt/lib/x86_64-linux-gnu "$img"/opt/deep "$img"/opt/x86_64 "$img"/opt/haswell
	echo 12.4 >"$img"/etc/debian_version   # a Debian image: $LIB is lib/x86_64-linux-gnu
	cd "$src"
	so() { # so NAME SONAME-DIR SOURCE [gcc args...]
		local name=$1 dir=$2 code=$3
		shift 3
		echo "$code" >"$name.c"
		gcc -shared -fPIC -Wl,-soname,"$name.so.1" -o "$dir/$name.so.1" "$name.c" "$@"
	}
	so libqux "$img"/opt/app/lib 'int qux(void) { return 1; }'
	so libfoo "$img"/opt/app/lib 'int qux(void); int foo(void) { return qux(); }' \
		-L"$img"/opt/app/lib -l:libqux.so.1 -Wl,--disable-new-dtags
	cp "$img"/opt/app/lib/libfoo.so.1 "$img"/opt/app/lib/glibc-hwcaps/x86-64-v2/
	so libbaz "$img"/opt/deep 'int baz(void) { return 3; }'
	so libbar "$img"/opt/lib/x86_64-linux-gnu 'int baz(void); int bar(void) { return baz(); }' \
		-L"$img"/opt/deep -l:libbaz.so.1
	so libplat "$img"/opt/x86_64 'int plat(void) { return 4; }'
	cp "$img"/opt/x86_64/libplat.so.1 "$img"/opt/haswell/
	echo 'int foo(void); int main(void) { return foo(); }' >app.c
	gcc -o "$img"/opt/app/bin/app app.c -L"$img"/opt/app/lib -l:libfoo.so.1 \
		-Wl,-rpath-link,"$img"/opt/app/lib -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'
	echo 'int bar(void), plat(void); int main(void) { return bar() + plat(); }' >app2.c
	gcc -o "$img"/opt/app/bin/app2 app2.c -L"$img"/opt/lib/x86_64-linux-gnu -L"$img"/opt/x86_64 \
		-l:libbar.so.1 -l:libplat.so.1 -Wl,-rpath-link,"$img"/opt/deep \
		-Wl,--disable-new-dtags,-rpath,'/opt/$LIB:/opt/deep:/opt/$PLATFORM'
	readelf -d "$img"/opt/app/bin/app | grep -q 'RUNPATH.*\$ORIGIN/../lib'
	readelf -d "$img"/opt/app/bin/app2 | grep -q 'RPATH.*/opt/\$LIB'
	cd "$BATS_TEST_TMPDIR"
	"$MKTRACE" s.db "$img" </dev/null

	run --separate-stderr "$SLIMFS_EXPORT" --from "$img" --include-exe /opt/app/bin/app --list s.db
	[ "$status" -eq 0 ]
	echo "$output"
	# RUNPATH $ORIGIN/../lib, every glibc-hwcaps variant (the CPU picks at run time)
	grep -qx /opt/app/lib/libfoo.so.1 <<<"$output"
	grep -qx /opt/app/lib/glibc-hwcaps/x86-64-v2/libfoo.so.1 <<<"$output"
	# RUNPATH serves only the object's own needs: libfoo's libqux is not searched there
	lacks -x /opt/app/lib/libqux.so.1 <<<"$output"
	[[ $stderr == *"library libqux.so.1 needed by /opt/app/lib/"*"libfoo.so.1 is not in image"* ]]
	[[ $stderr == *"library libc.so.6 needed by /opt/app/bin/app is not in image"* ]]
	# the host's own loader agrees: it picks one of the kept libfoo and misses libqux
	ldd "$img"/opt/app/bin/app >host-ldd.txt || true
	cat host-ldd.txt
	picked=$(sed -n 's|.*libfoo.so.1 => \(/[^ ]*\) .*|\1|p' host-ldd.txt)
	[ -n "$picked" ]
	picked=$(realpath -s "$picked")   # $ORIGIN/../lib, as text
	grep -qx "${picked#"$img"}" <<<"$output"
	grep -q 'libqux.so.1 => not found' host-ldd.txt

	run --separate-stderr "$SLIMFS_EXPORT" --from "$img" --include-exe /opt/app/bin/app2 --list s.db
	[ "$status" -eq 0 ]
	echo "$output"
	grep -qx /opt/lib/x86_64-linux-gnu/libbar.so.1 <<<"$output"   # $LIB
	grep -qx /opt/deep/libbaz.so.1 <<<"$output"     # app2's RPATH serves libbar, which it loaded
	grep -qx /opt/x86_64/libplat.so.1 <<<"$output"  # $PLATFORM: every platform the image has
	grep -qx /opt/haswell/libplat.so.1 <<<"$output"
}

@test "include-exe of what the image lacks is a one-line error" {
	run --separate-stderr export_img --include-exe /usr/bin/no-such-program --list
	fails_one_line "slimfs-export: --include-exe /usr/bin/no-such-program: not in image $ROOTFS*"
}

@test "a lean image of curl --version with the shell preset runs sh -c 'curl --version'" {
	rootfs_curl=$ROOTFS_CURL
	run "$SLIMFS_RUN" --trace c.db "$rootfs_curl" -- curl --version
	[ "$status" -eq 0 ]
	[[ $output == "curl "* ]]
	# recorded without a shell: the lean image has none, and sh -c fails there
	"$SLIMFS_EXPORT" -q --from "$rootfs_curl" -o bare.tar c.db
	run "$SLIMFS_RUN" --check bare.tar "$rootfs_curl" -- sh -c 'curl --version'
	[ "$status" -ne 0 ]
	[[ $output == *"sh: not found"* ]]
	# with the preset, /bin/sh and what it needs come along
	"$SLIMFS_EXPORT" -q --from "$rootfs_curl" --include-preset shell -o lean.tar c.db
	run "$SLIMFS_RUN" --check lean.tar "$rootfs_curl" -- sh -c 'curl --version'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "slimfs-run: check passed:"* ]]
	# and its package database names curl and the libraries it kept
	extract lean.tar x
	run dpkg-query -W --admindir=x/var/lib/dpkg -f '${Package}\n'
	grep -qx curl <<<"$output"
	grep -qx libcurl4 <<<"$output"
	grep -qx dash <<<"$output"
	lacks -x apt <<<"$output"
}

@test "include-pkg tzdata keeps every zoneinfo file" {
	run export_img -q --include-pkg tzdata --list
	[ "$status" -eq 0 ]
	kept=$output
	(cd "$ROOTFS" && find usr/share/zoneinfo | sed 's|^|/|' | sort) >zoneinfo.txt
	[ "$(wc -l <zoneinfo.txt)" -gt 1000 ]
	missing=$(comm -23 zoneinfo.txt <(sort <<<"$kept"))
	[ -z "$missing" ] || { echo "not kept: $missing" | head; return 1; }
	# without the rule they are not there
	run export_img -q --list
	lacks -x /usr/share/zoneinfo/Asia/Tokyo <<<"$output"
}

@test "include-pkg-deps follows Depends and Pre-Depends: alternatives to the installed one, virtual packages to their provider" {
	# init-system-helpers: Depends: usrmerge | usr-is-merged (only the second is installed)
	awk -v RS= '/^Package: init-system-helpers\n/' "$ROOTFS/var/lib/dpkg/status" |
		grep -qx 'Depends: usrmerge | usr-is-merged'
	run export_img -q --include-pkg init-system-helpers --include-pkg-deps --list
	[ "$status" -eq 0 ]
	grep -qx /usr/share/doc/usr-is-merged/copyright <<<"$output"
	grep -qx /usr/bin/deb-systemd-helper <<<"$output"
	run export_img -q --include-pkg init-system-helpers --list
	lacks -x /usr/share/doc/usr-is-merged/copyright <<<"$output"
	# base-files: Pre-Depends: awk, a virtual package mawk provides
	awk -v RS= '/^Package: base-files\n/' "$ROOTFS/var/lib/dpkg/status" | grep -qx 'Pre-Depends: awk'
	run export_img -q --include-pkg base-files --include-pkg-deps --list
	grep -qx /usr/bin/mawk <<<"$output"
	run export_img -q --include-pkg base-files --list
	lacks -x /usr/bin/mawk <<<"$output"
}

@test "include-pkg of a package the image lacks, or of an image without dpkg, is a one-line error" {
	run --separate-stderr export_img --include-pkg no-such-package --list
	fails_one_line "slimfs-export: --include-pkg no-such-package: not installed in image $ROOTFS"
	mkdir -p img/etc
	echo x >img/etc/hostname
	"$MKTRACE" s.db "$PWD/img" </dev/null
	run --separate-stderr "$SLIMFS_EXPORT" --from "$PWD/img" --include-pkg tzdata --list s.db
	fails_one_line "slimfs-export: --include-pkg tzdata: image $PWD/img has no dpkg database (/var/lib/dpkg/status)"
}

@test "preset shell: /bin/sh starts in the lean tree" {
	lean shell --include-preset shell
	[ "$(chroot shell /bin/sh -c 'echo $((6 * 7))')" = 42 ]
	lean none
	run -127 chroot none /bin/sh -c true
}

@test "preset tz: zone files, /etc/localtime with its target, /etc/timezone" {
	lean tz --include-preset tz --include-exe /usr/bin/date
	[ "$(chroot tz /usr/bin/date -u -d @0 +%H)" = 00 ]
	[ "$(TZ=Asia/Tokyo chroot tz /usr/bin/date -d @0 +%H)" = 09 ]
	python3 "$INROOT" resolves tz /etc/localtime
	[ -f tz/etc/timezone ]
	lean notz --include-exe /usr/bin/date
	[ "$(TZ=Asia/Tokyo chroot notz /usr/bin/date -d @0 +%H)" = 00 ]   # no zone: UTC
}

@test "preset certs: the CA store with its symlinks, and OpenSSL verifies against it" {
	lean certs --include-preset certs --include-exe /usr/bin/openssl
	run chroot certs /usr/bin/openssl verify -CApath /etc/ssl/certs /etc/ssl/certs/ISRG_Root_X1.pem
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *": OK" ]]
	# every entry of the image's /etc/ssl/certs is there and resolves inside the lean tree
	(cd "$ROOTFS/etc/ssl/certs" && ls) >names.txt
	[ "$(wc -l <names.txt)" -gt 100 ]
	python3 "$INROOT" resolves certs $(sed 's|^|/etc/ssl/certs/|' names.txt) /usr/lib/ssl/certs \
		/usr/lib/ssl/cert.pem /etc/ca-certificates.conf
	lean nocerts --include-exe /usr/bin/openssl
	run chroot nocerts /usr/bin/openssl verify -CApath /etc/ssl/certs /etc/ssl/certs/ISRG_Root_X1.pem
	[ "$status" -ne 0 ]
}

@test "preset nss: name service files and every libnss module with its libraries" {
	lean nss --include-preset nss --include-exe /usr/bin/getent
	[ "$(chroot nss /usr/bin/getent passwd root | cut -d: -f1,3)" = root:0 ]
	[ "$(chroot nss /usr/bin/getent group root | cut -d: -f1,3)" = root:0 ]
	for m in "$ROOTFS"/usr/lib/x86_64-linux-gnu/libnss_*.so.2; do
		[ -f "nss/usr/lib/x86_64-linux-gnu/${m##*/}" ] || { echo "${m##*/} not kept"; return 1; }
	done
	python3 "$INROOT" resolves nss /etc/nsswitch.conf /etc/passwd /etc/group /etc/host.conf \
		/etc/gai.conf   # (this image has no /etc/hosts, services or protocols)
	lean nonss --include-exe /usr/bin/getent
	run chroot nonss /usr/bin/getent passwd root
	[ "$status" -ne 0 ]
}

@test "preset locale: compiled locales load" {
	lean loc --include-preset locale --include-exe /usr/bin/locale
	[ "$(LC_ALL=C.UTF-8 chroot loc /usr/bin/locale charmap 2>&1)" = UTF-8 ]
	[ -d loc/usr/lib/locale/C.utf8 ]
	lean noloc --include-exe /usr/bin/locale
	[ "$(LC_ALL=C.UTF-8 chroot noloc /usr/bin/locale charmap 2>/dev/null)" != UTF-8 ]
}

@test "preset gconv: iconv finds its modules" {
	lean gconv --include-preset gconv --include-exe /usr/bin/iconv
	[ "$(printf '\342\202\254' | chroot gconv /usr/bin/iconv -f UTF-8 -t ISO-8859-15 | od -An -tx1 | tr -d ' ')" = a4 ]
	[ -f gconv/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache ]
	diff <(cd "$ROOTFS/usr/lib/x86_64-linux-gnu/gconv" && find . | sort) \
		<(cd gconv/usr/lib/x86_64-linux-gnu/gconv && find . | sort)
	lean nogconv --include-exe /usr/bin/iconv
	run chroot nogconv /usr/bin/iconv -f UTF-8 -t ISO-8859-15 </dev/null
	[ "$status" -ne 0 ]
}

@test "an unknown preset is a usage error" {
	run --separate-stderr export_img --include-preset bogus --list
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "slimfs-export: --include-preset bogus: no such preset" ]]
}

@test "--why names the rule that kept a path" {
	opts=(-q --include-exe /usr/bin/python3 --include-pkg tzdata --include-preset certs)
	run export_img "${opts[@]}" --why /usr/lib/x86_64-linux-gnu/libz.so.1.2.13
	echo "$output"
	grep -qx '  kept: include-exe /usr/bin/python3 (library libz.so.1 needed by /usr/bin/python3.11)' <<<"$output"
	run export_img "${opts[@]}" --why /usr/share/zoneinfo/Asia/Tokyo
	grep -qx '  kept: include-pkg tzdata (/usr/share/zoneinfo/Asia/Tokyo)' <<<"$output"
	run export_img "${opts[@]}" --why /etc/ssl/certs/ISRG_Root_X1.pem
	grep -qx '  kept: preset certs (/etc/ssl/certs)' <<<"$output"
	run export_img "${opts[@]}" --why /etc/os-release
	grep -qx "  kept: package-db (the distribution's release files)" <<<"$output"
	run export_img "${opts[@]}" --why /var/lib/dpkg/status
	grep -q '^  kept: package-db (trimmed dpkg database: [0-9]* of [0-9]* packages)$' <<<"$output"
	grep -q '^  content: generated' <<<"$output"
	# and today's reasons still come first, e.g. a path the run recorded
	run export_img "${opts[@]}" --why /usr/bin/true
	grep -q '^  kept: evidence ' <<<"$output"
	# a directory many walks pass through: a few reasons, the rest counted
	run export_img "${opts[@]}" --why /usr/lib/x86_64-linux-gnu
	[ "$(grep -c '^  kept: include-exe' <<<"$output")" -le 6 ]
	grep -q '^  kept: \.\.\. and [0-9]* more walks' <<<"$output"
}
