#!/usr/bin/env bats
# export_pkgdb.bats — a package database that tells the truth: slimfs-export's
# --package-db trimmed (the default), full and none, and --sbom.  A python3 workload is
# recorded with slimfs-run in the cached Debian 12 root fs (read-only); lean trees are
# exported into the test's directory and read with dpkg-query, dpkg --verify, and the
# dpkg readers of Trivy and Syft re-done in tests/inroot.py.  Small hand-made dpkg
# images cover the journal, diversions, a malformed status and an image without dpkg.
load run_helpers
load export_helpers

INROOT=$SLIMFS_SRC/tests/inroot.py

setup_file() {
	# (rootfs.sh makes and finds the shared root file systems under SLIMFS_CACHE, so that
	# is pointed at a private cache only for the slimfs-run below, as run_setup does)
	ROOTFS=$(rootfs)
	SLIMFS_CACHE=$BATS_FILE_TMPDIR/cache "$SLIMFS_RUN" --trace "$BATS_FILE_TMPDIR/py.db" "$ROOTFS" -- \
		python3 -c 'import json, zlib; print(json.dumps(zlib.crc32(b"x")))' >/dev/null
}

setup() {
	run_setup
	PY_DB=$BATS_FILE_TMPDIR/py.db
}

teardown() {
	assert_nothing_left
}

lean() { # lean DIR [OPTION]... — the lean tree of the python3 run
	local dir=$1
	shift
	"$SLIMFS_EXPORT" -q --from "$ROOTFS" --format dir -o "$dir" "$@" "$PY_DB"
}

pkgs_of() { # pkgs_of ADMINDIR — NAME:ARCH VERSION of every package dpkg-query lists
	dpkg-query -W --admindir="$1" -f '${Package}:${Architecture} ${Version}\n' | LC_ALL=C sort
}

@test "the trimmed database lists exactly the packages that still have a kept file" {
	lean lean
	"$SLIMFS_EXPORT" -q --from "$ROOTFS" --list "$PY_DB" >kept.txt
	python3 "$INROOT" pkgs "$ROOTFS" kept.txt >want.txt
	cat want.txt
	[ "$(wc -l <want.txt)" -ge 5 ]
	grep -qx python3.11-minimal:amd64 want.txt
	grep -qx zlib1g:amd64 want.txt
	# dpkg-query on the lean tree: the same packages, with the image's versions
	pkgs_of lean/var/lib/dpkg >got.txt
	diff want.txt <(cut -d' ' -f1 got.txt)
	LC_ALL=C join <(pkgs_of "$ROOTFS/var/lib/dpkg") got.txt | awk '$2 != $3 { print; bad = 1 } END { exit bad }'
	# dpkg-query -l lists them installed ("ii") and nothing else
	dpkg-query -l --admindir=lean/var/lib/dpkg | awk '/^[a-z][a-z] / { print $1 }' | sort -u >states.txt
	[ "$(cat states.txt)" = ii ]
	[ "$(dpkg-query -l --admindir=lean/var/lib/dpkg | grep -c '^ii ')" -eq "$(wc -l <want.txt)" ]
	# far fewer than the image has
	[ "$(wc -l <got.txt)" -lt $(($(pkgs_of "$ROOTFS/var/lib/dpkg" | wc -l) / 4)) ]
}

@test "dpkg --verify finds every file the trimmed database lists" {
	lean lean
	run dpkg --verify --root="$PWD/lean"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# it does look: a listed file taken away is reported missing
	rm lean/usr/lib/x86_64-linux-gnu/libz.so.1.2.13
	run dpkg --verify --root="$PWD/lean"
	[[ $output == *"missing"*"/libz.so.1.2.13"* ]]
}

@test "what Trivy and Syft read from the trimmed database is in the lean image" {
	lean lean
	run python3 "$INROOT" scanners lean "$ROOTFS"
	echo "$output"
	[ "$status" -eq 0 ]
	# they report the packages dpkg-query lists
	diff <(grep -v '^ERROR' <<<"$output") <(pkgs_of lean/var/lib/dpkg | cut -d' ' -f1)
	# and the image's full database would not pass (the check can fail)
	run python3 "$INROOT" scanners "$ROOTFS" "$ROOTFS"
	[ "$status" -eq 0 ]
	cp -a lean full-db-lean
	rm -rf full-db-lean/var/lib/dpkg
	cp -a "$ROOTFS/var/lib/dpkg" full-db-lean/var/lib/dpkg
	run python3 "$INROOT" scanners full-db-lean "$ROOTFS"
	[ "$status" -eq 1 ]
	[[ $output == *"ERROR "*" is not in the lean image"* ]]
}

@test "trimmed lists, md5sums and conffiles hold only kept files; os-release and debian_version are kept" {
	lean lean
	for f in lean/var/lib/dpkg/info/*.list; do
		name=${f##*/}
		# a subset of the image's list, in its order
		diff <(grep -Fxf "$f" "$ROOTFS/var/lib/dpkg/info/$name") "$f"
		python3 "$INROOT" resolves lean $(grep -vx '/\.' "$f")
	done
	for f in lean/var/lib/dpkg/info/*.md5sums; do
		grep -Fxf "$f" "$ROOTFS/var/lib/dpkg/info/${f##*/}" | diff - "$f"
		sums=$PWD/$f
		(cd lean && md5sum --quiet -c "$sums")
	done
	# base-files is there for its release files, with only those of its conffiles
	grep -qx /etc/debian_version lean/var/lib/dpkg/info/base-files.conffiles
	lacks -x /etc/host.conf lean/var/lib/dpkg/info/base-files.conffiles
	[ "$(readlink lean/etc/os-release)" = ../usr/lib/os-release ]
	cmp lean/usr/lib/os-release "$ROOTFS/usr/lib/os-release"
	cmp lean/etc/debian_version "$ROOTFS/etc/debian_version"
	cmp lean/var/lib/dpkg/info/format "$ROOTFS/var/lib/dpkg/info/format"
	# no other package's lists, and no backup of the full status
	[ ! -e lean/var/lib/dpkg/info/apt.list ]
	[ ! -e lean/var/lib/dpkg/status-old ]
}

@test "the image is never modified: the trimmed files are new content under the image's names" {
	before=$(sha256sum "$ROOTFS/var/lib/dpkg/status" "$ROOTFS/var/lib/dpkg/info/libc6:amd64.list")
	"$SLIMFS_EXPORT" -q --from "$ROOTFS" -o lean.tar "$PY_DB"
	[ "$(sha256sum "$ROOTFS/var/lib/dpkg/status" "$ROOTFS/var/lib/dpkg/info/libc6:amd64.list")" = "$before" ]
	tar -tvf lean.tar ./var/lib/dpkg/status >member.txt
	# the image's owner and mode, the trimmed size
	[[ $(cat member.txt) == "-rw-r--r-- 0/0 "* ]]
	size=$(awk '{ print $3 }' member.txt)
	[ "$size" -lt "$(stat -c %s "$ROOTFS/var/lib/dpkg/status")" ]
	# the same traces and image give the same bytes
	"$SLIMFS_EXPORT" -q --from "$ROOTFS" -o again.tar "$PY_DB"
	cmp lean.tar again.tar
}

@test "a recorded read of the database keeps the trimmed one; stale database files are dropped" {
	"$SLIMFS_RUN" --trace db.db "$ROOTFS" -- sh -c \
		'cat /var/lib/dpkg/status /var/lib/dpkg/status-old /var/lib/dpkg/info/apt.list >/dev/null'
	lean lean-db --package-db trimmed "$BATS_TEST_TMPDIR/db.db"
	[ -f lean-db/var/lib/dpkg/status ]
	[ "$(stat -c %s lean-db/var/lib/dpkg/status)" -lt "$(stat -c %s "$ROOTFS/var/lib/dpkg/status")" ]
	[ ! -e lean-db/var/lib/dpkg/status-old ]
	[ ! -e lean-db/var/lib/dpkg/info/apt.list ]
	run "$SLIMFS_EXPORT" -q --from "$ROOTFS" --why /var/lib/dpkg/info/apt.list db.db
	echo "$output"
	grep -qx '  left out: --package-db trimmed: the trimmed package database replaces or drops it' <<<"$output"
	grep -q '^  recorded: .*open' <<<"$output"
}

@test "--package-db full keeps the image's database as it is" {
	lean full --package-db full
	diff -r "$ROOTFS/var/lib/dpkg" full/var/lib/dpkg
	[ "$(pkgs_of full/var/lib/dpkg | wc -l)" -eq "$(pkgs_of "$ROOTFS/var/lib/dpkg" | wc -l)" ]
	[ -L full/etc/os-release ]
}

@test "--package-db none leaves /var/lib/dpkg out, even what the workload read" {
	"$SLIMFS_RUN" --trace db.db "$ROOTFS" -- cat /var/lib/dpkg/status >/dev/null
	run "$SLIMFS_EXPORT" -q --from "$ROOTFS" --package-db none --list db.db
	[ "$status" -eq 0 ]
	lacks '^/var/lib/dpkg' <<<"$output"
	run "$SLIMFS_EXPORT" -q --from "$ROOTFS" --package-db none --why /var/lib/dpkg/status db.db
	grep -qx '  left out: --package-db none: the image'"'"'s package database is left out' <<<"$output"
	# the default keeps what was read, trimmed
	run "$SLIMFS_EXPORT" -q --from "$ROOTFS" --list db.db
	grep -qx /var/lib/dpkg/status <<<"$output"
	run --separate-stderr "$SLIMFS_EXPORT" --from "$ROOTFS" --package-db nonsense --list db.db
	[ "$status" -eq 2 ]
}

@test "--sbom writes the lean image's packages as SPDX 2.3 JSON" {
	lean lean
	SOURCE_DATE_EPOCH=1700000000 "$SLIMFS_EXPORT" -q --from "$ROOTFS" --sbom sbom.json "$PY_DB"
	python3 - sbom.json <(pkgs_of lean/var/lib/dpkg) <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["spdxVersion"] == "SPDX-2.3" and d["dataLicense"] == "CC0-1.0", d
assert d["SPDXID"] == "SPDXRef-DOCUMENT"
assert d["creationInfo"]["created"] == "2023-11-14T22:13:20Z", d["creationInfo"]
import re
assert re.fullmatch(r"https://slimfs\.invalid/spdx/lean-[0-9a-f]{64}", d["documentNamespace"]), d
want = sorted(l.split()[0] + " " + l.split()[1] for l in open(sys.argv[2]) if l.strip())
got = []
for p in d["packages"]:
    ref = [r for r in p["externalRefs"] if r["referenceType"] == "purl"][0]["referenceLocator"]
    name, arch = p["name"], ref.split("arch=")[1].split("&")[0]
    assert ref.startswith(f"pkg:deb/debian/{name}@"), ref
    assert ref.endswith("&distro=debian-12"), ref
    got.append(f"{name}:{arch} {p['versionInfo']}")
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
            "relatedSpdxElement": p["SPDXID"]} in d["relationships"]
assert sorted(got) == want, (sorted(got), want)
print(len(got), "packages")
PY
	# epochs and '+' are percent-encoded in the purl
	grep -q 'pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64' sbom.json
	SOURCE_DATE_EPOCH=1700000000 "$SLIMFS_EXPORT" -q --from "$ROOTFS" --sbom again.json "$PY_DB"
	cmp sbom.json again.json
	run --separate-stderr "$SLIMFS_EXPORT" --from "$ROOTFS" --package-db none --sbom x.json "$PY_DB"
	fails_one_line "slimfs-export: --sbom x.json: --package-db none leaves no package to list"
	# a date that is not one is refused, as for an image's, before anything is written
	SOURCE_DATE_EPOCH=soon run --separate-stderr "$SLIMFS_EXPORT" --from "$ROOTFS" --sbom y.json "$PY_DB"
	fails_one_line "slimfs-export: SOURCE_DATE_EPOCH=soon: not a number of seconds since 1970"
	[ ! -e y.json ]
}

# dpkg_image DIR — a small dpkg image: packages a (/bin/a through usrmerge's /bin ->
# usr/bin, /etc/a.conf conffile), b (/usr/bin/x, diverted by c to /usr/bin/x.real), c
# (/usr/bin/x itself), d (a symlink /usr/bin/d).
dpkg_image() {
	local d=$1
	mkdir -p "$d"/usr/bin "$d"/etc "$d"/var/lib/dpkg/info "$d"/var/lib/dpkg/updates
	ln -s usr/bin "$d"/bin
	for f in a x x.real; do echo "$f" >"$d/usr/bin/$f"; done
	ln -s a "$d"/usr/bin/d
	echo conf >"$d"/etc/a.conf
	echo 1 >"$d"/var/lib/dpkg/info/format
	printf '/usr/bin/x\n/usr/bin/x.real\nc\n' >"$d"/var/lib/dpkg/diversions
	stanza() { printf 'Package: %s\nStatus: install ok installed\nMaintainer: t <t@t>\nArchitecture: all\nVersion: %s\nDescription: %s\n' "$@"; }
	{
		stanza a 1.0 'package a'
		printf 'Conffiles:\n /etc/a.conf %s\n' "$(md5sum <"$d"/etc/a.conf | cut -d' ' -f1)"
		echo
		stanza b 1.0 'package b'; echo
		stanza c 1.0 'package c'; echo
		stanza d 1.0 'package d'; echo
	} >"$d"/var/lib/dpkg/status
	printf '/.\n/bin\n/bin/a\n/etc\n/etc/a.conf\n' >"$d"/var/lib/dpkg/info/a.list
	(cd "$d" && md5sum usr/bin/a) | sed 's|usr/bin/a|bin/a|' >"$d"/var/lib/dpkg/info/a.md5sums
	echo /etc/a.conf >"$d"/var/lib/dpkg/info/a.conffiles
	printf '/.\n/usr\n/usr/bin\n/usr/bin/x\n' >"$d"/var/lib/dpkg/info/b.list
	printf '/.\n/usr\n/usr/bin\n/usr/bin/x\n' >"$d"/var/lib/dpkg/info/c.list
	printf '/.\n/usr\n/usr/bin\n/usr/bin/d\n' >"$d"/var/lib/dpkg/info/d.list
}

@test "a package's files are found through usrmerge symlinks and dpkg's diversions" {
	dpkg_image img
	# the run used /usr/bin/a (not /bin/a, as a.list says) and b's diverted file
	printf '%s\n' "read /usr/bin/a" "read /usr/bin/x.real" | "$MKTRACE" t.db "$PWD/img"
	"$SLIMFS_EXPORT" -q --from "$PWD/img" --format dir -o lean t.db
	pkgs_of lean/var/lib/dpkg | cut -d: -f1 >got.txt
	[ "$(tr '\n' ' ' <got.txt)" = "a b " ]
	# /bin, the walk to a.list's /bin/a, came along: the list resolves and verifies
	[ "$(readlink lean/bin)" = usr/bin ]
	run dpkg --verify --root="$PWD/lean"
	[ -z "$output" ]
	# a's conffile was not kept: gone from its stanza and its conffiles
	lacks a.conf lean/var/lib/dpkg/status
	[ ! -e lean/var/lib/dpkg/info/a.conffiles ]
	lacks -x /etc/a.conf lean/var/lib/dpkg/info/a.list
	# a kept symlink is a file of its package
	printf '%s\n' "readlink /usr/bin/d" | "$MKTRACE" t2.db "$PWD/img"
	"$SLIMFS_EXPORT" -q --from "$PWD/img" --format dir -o lean2 t2.db
	[ "$(pkgs_of lean2/var/lib/dpkg | cut -d: -f1)" = d ]
}

@test "the dpkg journal in updates/ is folded into the trimmed status" {
	dpkg_image img
	printf 'Package: a\nStatus: install ok installed\nMaintainer: t <t@t>\nArchitecture: all\nVersion: 2.0\nDescription: package a\n' \
		>img/var/lib/dpkg/updates/0001
	printf '%s\n' "read /usr/bin/a" | "$MKTRACE" t.db "$PWD/img"
	"$SLIMFS_EXPORT" -q --from "$PWD/img" --format dir -o lean t.db
	[ "$(pkgs_of lean/var/lib/dpkg)" = "a:all 2.0" ]
	[ ! -e lean/var/lib/dpkg/updates/0001 ]
	[ -d lean/var/lib/dpkg/updates ]
}

@test "a malformed status is a one-line error; --package-db full exports it as it is" {
	dpkg_image img
	printf 'Package: e\nthis is not a field\n' >>img/var/lib/dpkg/status
	printf '%s\n' "read /usr/bin/a" | "$MKTRACE" t.db "$PWD/img"
	run --separate-stderr "$SLIMFS_EXPORT" --from "$PWD/img" --list t.db
	fails_one_line "slimfs-export: /var/lib/dpkg/status in image $PWD/img, line 32: not a field of a stanza (use --package-db full or none to export it as it is)"
	run "$SLIMFS_EXPORT" -q --from "$PWD/img" --package-db full --list t.db
	[ "$status" -eq 0 ]
	grep -qx /var/lib/dpkg/status <<<"$output"
}

@test "an image without a dpkg database exports as before, in every mode" {
	mkdir -p img/etc img/var/lib img/usr/bin
	echo x >img/usr/bin/tool
	echo 'ID=alpine' >img/etc/os-release
	printf '%s\n' "read /usr/bin/tool" | "$MKTRACE" t.db "$PWD/img"
	for mode in trimmed full none; do
		"$SLIMFS_EXPORT" -q --from "$PWD/img" --package-db "$mode" --list t.db >"$mode.txt"
	done
	diff trimmed.txt full.txt
	diff trimmed.txt none.txt
	lacks os-release trimmed.txt
	grep -qx /usr/bin/tool trimmed.txt
}
