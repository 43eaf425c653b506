#!/usr/bin/env bats
# rel_hostile.bats — hostile image tarballs and hand-edited traces: nothing outside the
# image is read or written, every case gives a clear one-line error or warning, nothing
# crashes (CI also runs this suite under ASan/UBSan).
#
# Tarballs are built with python3's tarfile module (GNU format, raw bytes for names) on a
# tiny but runnable root filesystem (ls and cat with their libraries).  A canary
# directory outside the image holds a file that must never be overwritten, exported or
# shown, and must never get a planted sibling.  The image cache is private to each test
# ($SLIMFS_CACHE).
load helpers

setup() {
	TMP=$(mktemp -d /tmp/slimfs-hostile.XXXXXX)
	CANARY=$TMP/canary
	mkdir -p "$CANARY"
	echo "host secret" >"$CANARY/canary"
	CANARY_SUM=$(sha256sum "$CANARY/canary")
	export SLIMFS_CACHE=$TMP/cache
	TRACE=$TMP/trace.db
}

teardown() {
	rm -rf "$TMP"
}

# mktar OUT CASE — a tarball of a runnable mini root fs plus the members of CASE.
mktar() {
	python3 - "$1" "$2" "$CANARY" <<'PY'
import os, io, subprocess, sys, tarfile
out, case, canary = sys.argv[1], sys.argv[2], sys.argv[3]
# The libraries ls and cat need on this host (ldd lines "name => /path (addr)").
LIBS = sorted({l.split()[2] for l in subprocess.run(["ldd", "/usr/bin/ls", "/usr/bin/cat"],
       capture_output=True, text=True).stdout.splitlines() if "=> /" in l})
t = tarfile.open(out, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
def d(name, mode=0o755):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = mode; t.addfile(i)
def f(name, data=b"x\n", mode=0o644):
    i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode; t.addfile(i, io.BytesIO(data))
def sym(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
def hard(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)
def dev(name, kind, major, minor):
    i = tarfile.TarInfo(name); i.type = kind; i.devmajor = major; i.devminor = minor; i.mode = 0o600; t.addfile(i)
for x in ["usr", "usr/bin", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/share", "etc", "tmp"]:
    d(x)
sym("bin", "usr/bin"); sym("lib", "usr/lib"); sym("lib64", "usr/lib64")
for b in ["ls", "cat"]:
    t.add("/usr/bin/" + b, arcname="usr/bin/" + b)
for l in LIBS:
    t.add(os.path.realpath(l), arcname="usr/lib/x86_64-linux-gnu/" + os.path.basename(l))
t.add(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), arcname="usr/lib64/ld-linux-x86-64.so.2")
f("etc/hostname", b"image\n")
rel = os.path.relpath(canary, "/")
if case == "dotdot":
    f("../../../../../../../../" + rel + "/planted")
elif case == "dotdot_inner":
    f("usr/../../../../../../../../" + rel + "/planted")
elif case == "absolute":
    f(canary + "/planted")
elif case == "symlink_write":
    sym("escape", canary); f("escape/planted")
elif case == "symlink_rel_write":
    sym("up", "../../../../../../../../../.."); f("up/" + rel + "/planted")
elif case == "symlink_dir_replace":
    # a directory entry first, then a symlink of the same name, then a file below it
    d("usr/x"); sym("usr/x", canary); f("usr/x/planted")
elif case == "hardlink_abs":
    hard("usr/hl", canary + "/canary")
elif case == "hardlink_dotdot":
    hard("usr/hl", "../../../../../../../../" + rel + "/canary")
elif case == "hardlink_via_symlink":
    sym("s", canary); hard("usr/hl", "s/canary")
elif case == "devices":
    dev("usr/share/mem", tarfile.CHRTYPE, 1, 1)
    dev("usr/share/disk", tarfile.BLKTYPE, 8, 0)
elif case == "long_name":
    f("usr/share/" + "n" * 300)
elif case == "long_path":
    p = "usr/share"
    while len(p) < 5000:
        p += "/" + "d" * 200
    f(p + "/leaf")
elif case == "weird_names":
    f("usr/share/new\nline", b"nl\n")
    f("usr/share/bad\udcff\udcfeutf8", b"bad\n")
    f("usr/share/tab\tand space", b"tab\n")
elif case == "symlinks_out":
    sym("etc/shadowlink", "/etc/shadow")
    sym("etc/rellink", "../../../../../../etc/shadow")
    sym("etc/canarylink", canary + "/canary")
elif case == "plain":
    pass
else:
    raise SystemExit("unknown case " + case)
t.close()
PY
}

# The canary is untouched, has no planted sibling, and nothing was left in the cache.
canary_intact() {
	[ "$(sha256sum "$CANARY/canary")" = "$CANARY_SUM" ]
	[ "$(ls -A "$CANARY")" = canary ]
	[ -z "$(find "$TMP" -name planted)" ]
	[ ! -e /planted ]
	[ ! -e /tmp/planted ]
}

no_cache_entry() {
	[ -z "$(find "$SLIMFS_CACHE/images" -mindepth 1 -maxdepth 1 ! -name .lock 2>/dev/null)" ]
}

# refused CASE PATTERN — slimfs-run refuses the tarball with one line matching PATTERN.
refused() {
	mktar "$TMP/$1.tar" "$1"
	run --separate-stderr "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/$1.tar" -- /usr/bin/ls /
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 125 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *$2* ]]
	canary_intact
	no_cache_entry
	! mountpoint -q "$SLIMFS_CACHE" 2>/dev/null
}

@test "the mini image of these tests runs (baseline)" {
	mktar "$TMP/plain.tar" plain
	run "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/plain.tar" -- /usr/bin/cat /etc/hostname
	[ "$status" -eq 0 ]
	[ "$output" = image ]
}

@test "a member with .. is refused" {
	refused dotdot "unsafe member"
}

@test "a member with .. inside the name is refused" {
	refused dotdot_inner "unsafe member"
}

@test "an absolute member name is refused" {
	refused absolute "unsafe member"
}

@test "a member written through a symlink to an absolute outside path is refused" {
	refused symlink_write "symlink"
}

@test "a member written through a relative symlink climbing out is refused" {
	refused symlink_rel_write "symlink"
}

@test "a directory replaced by a symlink before a member below it is refused" {
	refused symlink_dir_replace "symlink"
}

@test "a hardlink to an absolute outside file is refused" {
	refused hardlink_abs "hardlink"
}

@test "a hardlink climbing out with .. is refused" {
	refused hardlink_dotdot "hardlink"
}

@test "a hardlink through a symlink to outside is refused" {
	refused hardlink_via_symlink "hardlink"
}

@test "a name longer than NAME_MAX is refused with an error naming the member" {
	refused long_name "usr/share/nnnn"
}

@test "a path longer than PATH_MAX is unpacked inside the image or refused, never outside" {
	mktar "$TMP/long_path.tar" long_path
	run --separate-stderr "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/long_path.tar" -- /usr/bin/ls /usr/share
	echo "status=$status stderr=$stderr"
	[[ $status -eq 0 || ($status -eq 125 && $(printf '%s\n' "$stderr" | wc -l) -eq 1) ]]
	canary_intact
}

@test "a corrupt tarball is refused with one line and leaves nothing in the cache" {
	mktar "$TMP/plain.tar" plain
	head -c 300000 "$TMP/plain.tar" >"$TMP/cut.tar"
	printf 'garbage%.0s' $(seq 1 500) >>"$TMP/cut.tar"
	run --separate-stderr "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/cut.tar" -- /usr/bin/ls /
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 125 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *cut.tar* ]]
	no_cache_entry
}

@test "names with newlines, tabs and invalid UTF-8 unpack, run and export intact" {
	mktar "$TMP/weird.tar" weird_names
	run "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/weird.tar" -- /usr/bin/cat \
		"/usr/share/new
line" "/usr/share/tab	and space" "$(printf '/usr/share/bad\xff\xfeutf8')"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'nl\ntab\nbad')" ]
	"$SLIMFS_EXPORT" -q -o "$TMP/lean.tar" "$TRACE"
	python3 - "$TMP/lean.tar" <<'PY'
import sys, tarfile
t = tarfile.open(sys.argv[1], encoding="utf-8", errors="surrogateescape")
names = {m.name.lstrip("./"): m for m in t.getmembers()}
for n, data in [("usr/share/new\nline", b"nl\n"), ("usr/share/tab\tand space", b"tab\n"),
                ("usr/share/bad\udcff\udcfeutf8", b"bad\n")]:
    assert n in names, (n, sorted(names))
    assert t.extractfile(names[n]).read() == data, n
PY
	canary_intact
}

@test "device nodes in an image are unpacked only with a warning naming them" {
	mktar "$TMP/devices.tar" devices
	run --separate-stderr "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/devices.tar" -- /usr/bin/ls /usr/share
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$stderr" | grep -c warning)" -eq 1 ]
	[[ "$stderr" == *"2 device nodes"*usr/share/mem* ]]
	[[ "$output" == *mem* ]]
	canary_intact
}

@test "symlinks to host files resolve inside the container and export as symlinks" {
	mktar "$TMP/links.tar" symlinks_out
	run "$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/links.tar" -- /usr/bin/cat \
		/etc/shadowlink /etc/rellink /etc/canarylink
	[ "$status" -ne 0 ]                     # none of the targets exists in the image
	[[ "$output" != *"host secret"* ]]
	[[ "$output" != *root:* ]]
	"$SLIMFS_EXPORT" -q -o "$TMP/lean.tar" "$TRACE"
	tar -tvf "$TMP/lean.tar" >"$TMP/list"
	grep -q 'etc/canarylink -> ' "$TMP/list"
	grep -q 'etc/shadowlink -> /etc/shadow' "$TMP/list"
	tar -tf "$TMP/lean.tar" | lacks -xE '(\./)?etc/shadow'   # the link's target: not in it
	tar -xOf "$TMP/lean.tar" 2>/dev/null | lacks "host secret"
	canary_intact
}

# ---- hand-edited traces fed to slimfs-export ----------------------------------------

# An image with symlinks pointing out of it, and a trace made with tests' mktrace.
mkimage() {
	IMG=$TMP/img
	mkdir -p "$IMG/usr/bin" "$IMG/etc"
	echo ok >"$IMG/etc/ok"
	ln -s "/../../../../..$CANARY/canary" "$IMG/etc/abs_escape"
	ln -s "../../../../../../..$CANARY" "$IMG/etc/rel_escape"
	ln -s "$CANARY" "$IMG/etc/host_dir"
}

export_checks() {
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" -o "$TMP/out.tar" "$TRACE"
	echo "status=$status stderr=$stderr"
	[ "$status" -lt 128 ]                   # no crash
	if [ -f "$TMP/out.tar" ]; then
		tar -xOf "$TMP/out.tar" 2>/dev/null | lacks "host secret"
		tar -tf "$TMP/out.tar" | lacks canary/canary
	fi
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" --format dir -o "$TMP/outdir" "$TRACE"
	[ "$status" -lt 128 ]
	lacks -rs "host secret" "$TMP/outdir"
	canary_intact
}

@test "a trace naming .. components is refused path by path with a warning" {
	mkimage
	printf '%s\n' "lookup /etc/ok" "read /../canary/canary" "read /etc/../../canary/canary" \
		"read /..$CANARY/canary" | "$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" --list "$TRACE"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *warning*..* ]]
	[[ "$output" == */etc/ok* ]]
	[[ "$output" != *canary* ]]
	export_checks
}

@test "a trace naming paths through symlinks out of the image exports only the symlinks" {
	mkimage
	printf '%s\n' "read /etc/abs_escape" "read /etc/rel_escape/canary" "read /etc/host_dir/canary" \
		"read $CANARY/canary" | "$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	export_checks
	tar -tvf "$TMP/out.tar" | grep -q 'etc/abs_escape -> '
}

@test "a trace edited with sqlite3 to hold names with '/' and '..' is not obeyed" {
	mkimage
	printf '%s\n' "lookup /etc/ok" "read /etc/x" "read /etc/y" | "$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	# names are stored as blobs: compare and write them as such
	sqlite3 "$TRACE" "UPDATE nodes SET name = CAST('../../../../../..$CANARY/canary' AS BLOB)
			WHERE CAST(name AS TEXT) = 'x';
		UPDATE nodes SET name = CAST('..' AS BLOB) WHERE CAST(name AS TEXT) = 'y';
		INSERT INTO nodes(parent, name) VALUES (1, CAST('${CANARY#/}/canary' AS BLOB));
		INSERT INTO events SELECT run, (SELECT max(id) FROM nodes), op, first_us, count
			FROM events LIMIT 1;"
	[ "$(sqlite3 "$TRACE" "SELECT count(*) FROM event_paths WHERE path LIKE '%canary%'")" -eq 2 ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" --list "$TRACE"
	echo "status=$status stderr=$stderr output=$output"
	[ "$status" -eq 0 ]
	[[ "$output" == */etc/ok* ]]
	[[ "$output" != *canary* ]]
	[[ "$stderr" == *"refusing path /etc/.."* ]]
	# the two names holding '/' are dropped by the reader, and said so
	[[ "$stderr" == *"ignoring 2 path(s) slimfs cannot have recorded"* ]]
	export_checks
}

# The trust rule: a trace's lowerdir is read only when it is an image slimfs-run
# unpacked (CACHE/images/<sha256>/rootfs, spelt canonically); else --from DIR is asked
# for, and --from always wins.
@test "a trace whose lowerdir was edited to a host directory is refused, and read only in --from" {
	mkimage
	printf '%s\n' "read /canary" "read /../canary" | "$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	sqlite3 "$TRACE" "UPDATE runs SET lowerdir = '$CANARY'"
	run --separate-stderr "$SLIMFS_EXPORT" -o "$TMP/out.tar" "$TRACE"
	fails_one_line "*the trace names $CANARY as its image*--from DIR*"
	[ ! -e "$TMP/out.tar" ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" -o "$TMP/out.tar" "$TRACE"
	[ "$status" -eq 0 ]
	tar -xOf "$TMP/out.tar" | lacks "host secret"
	canary_intact
}

@test "a trace edited to lowerdir / naming /etc/shadow never exports the host's /etc/shadow" {
	mkimage
	echo "image shadow" >"$IMG/etc/shadow"
	printf '%s\n' "read /etc/shadow" "read $CANARY/canary" | "$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	sqlite3 "$TRACE" "UPDATE runs SET lowerdir = '/'"
	run --separate-stderr "$SLIMFS_EXPORT" -o "$TMP/out.tar" "$TRACE"
	fails_one_line "*the trace names / as its image*--from DIR*"
	[ ! -e "$TMP/out.tar" ]
	run --separate-stderr "$SLIMFS_EXPORT" --list "$TRACE"
	fails_one_line "*the trace names / as its image*"
	# with the image named, /etc/shadow is the image's
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG" -o "$TMP/out.tar" "$TRACE"
	[ "$status" -eq 0 ]
	[ "$(tar -xOf "$TMP/out.tar" ./etc/shadow)" = "image shadow" ]
	tar -xOf "$TMP/out.tar" | lacks -F "$(head -1 /etc/shadow)"
	tar -xOf "$TMP/out.tar" | lacks "host secret"
	canary_intact
}

@test "a trace's lowerdir into the image cache through a symlink or .. is refused" {
	mktar "$TMP/plain.tar" plain
	"$SLIMFS_RUN" --trace "$TRACE" --no-verify "$TMP/plain.tar" -- /usr/bin/cat /etc/hostname
	lower=$(sqlite3 "$TRACE" "SELECT lowerdir FROM runs")
	[[ $lower == "$SLIMFS_CACHE"/images/*/rootfs ]]
	# as slimfs-run wrote it: trusted
	"$SLIMFS_EXPORT" -q -o "$TMP/out.tar" "$TRACE"
	[ "$(tar -xOf "$TMP/out.tar" ./etc/hostname)" = image ]
	ln -s "$SLIMFS_CACHE" "$TMP/link"
	entry=${lower#"$SLIMFS_CACHE"/}
	for edited in "$TMP/link/$entry" "$lower/../rootfs" "$lower/" "$lower/usr/.." \
		"$(dirname "$lower")" "$lower/usr" "$SLIMFS_CACHE/images/../images/${entry#images/}"; do
		cp "$TRACE" "$TMP/edited.db"
		sqlite3 "$TMP/edited.db" "UPDATE runs SET lowerdir = '$edited'"
		run --separate-stderr "$SLIMFS_EXPORT" -o "$TMP/edited.tar" "$TMP/edited.db"
		fails_one_line "*the trace names $edited as its image*--from DIR*"
		[ ! -e "$TMP/edited.tar" ]
	done
}

@test "mount points the image lacks are made up even when the trace names them" {
	mkimage
	printf '%s\n' "lookup /etc/ok" "negative /dev" "mkdir /proc" "lookup /tmp" |
		"$SLIMFS_BUILD/tests/mktrace" "$TRACE" "$IMG"
	"$SLIMFS_EXPORT" --from "$IMG" -q -o "$TMP/out.tar" "$TRACE"
	tar -tvf "$TMP/out.tar" >"$TMP/list"
	grep -q '^drwxr-xr-x .* \./dev/$' "$TMP/list"
	grep -q '^dr-xr-xr-x .* \./proc/$' "$TMP/list" || grep -q '^drwxr-xr-x .* \./proc/$' "$TMP/list"
	grep -q '^drwxrwxrwt .* \./tmp/$' "$TMP/list"
}

@test "a garbage or foreign file given as a trace is one line of error" {
	head -c 10000 /dev/urandom >"$TMP/garbage.db"
	run --separate-stderr "$SLIMFS_EXPORT" --list "$TMP/garbage.db"
	fails_one_line '*garbage.db*'
	[ "$status" -lt 128 ]
	sqlite3 "$TMP/foreign.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
	run --separate-stderr "$SLIMFS_EXPORT" --list "$TMP/foreign.db"
	fails_one_line '*foreign.db*'
	[ "$status" -lt 128 ]
}
