#!/usr/bin/env bats
# rel_fuzz.bats — libFuzzer harnesses (tests/fuzz/) for the readers of untrusted input:
# the trace reader (store/), the image tarball reader (run/image.c), the readers of an
# image's index, manifests and config (image/json.c), and the two readers of an image's
# files export has of its own: dpkg database stanzas (export/deb822.c) and glibc's
# ld.so.cache (export/ldcache.c).  Each is
# built with clang -fsanitize=fuzzer,address,undefined straight from the sources, seeded
# with a real input, and run for a bounded time; any crash, sanitizer report, leak or
# timeout fails the test.  SLIMFS_FUZZ_SECONDS (default 30) bounds each run.
load helpers

setup_file() {
	FTMP=$(mktemp -d /tmp/slimfs-fuzz.XXXXXX)
	export FTMP
	export FUZZ_SECONDS=${SLIMFS_FUZZ_SECONDS:-30}
	local cflags=(-std=gnu11 -D_GNU_SOURCE -DSLIMFS_VERSION='"fuzz"' -g -O1
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
		-I"$SLIMFS_SRC")
	cd "$SLIMFS_SRC"
	clang "${cflags[@]}" tests/fuzz/fuzz_trace.c store/reader.c store/schema.c store/ops.c \
		common/error.c -lsqlite3 -lpthread -o "$FTMP/fuzz_trace"
	clang "${cflags[@]}" tests/fuzz/fuzz_tar.c run/image.c run/process.c image/*.c \
		common/error.c common/util.c -larchive -ljansson -lcrypto -o "$FTMP/fuzz_tar"
	clang "${cflags[@]}" tests/fuzz/fuzz_deb822.c export/deb822.c -o "$FTMP/fuzz_deb822"
	clang "${cflags[@]}" tests/fuzz/fuzz_ldcache.c export/ldcache.c -o "$FTMP/fuzz_ldcache"
	clang "${cflags[@]}" tests/fuzz/fuzz_image.c image/*.c common/error.c common/util.c \
		-larchive -ljansson -lcrypto -o "$FTMP/fuzz_image"
}

teardown_file() {
	rm -rf "$FTMP"
}

# fuzz HARNESS CORPUS [libFuzzer options] — bounded run; fails on any finding.
fuzz() {
	local harness=$1 corpus=$2
	shift 2
	run timeout $((FUZZ_SECONDS + 120)) "$FTMP/$harness" -max_total_time="$FUZZ_SECONDS" \
		-timeout=20 -rss_limit_mb=2048 -artifact_prefix="$FTMP/$harness-" "$@" "$corpus"
	echo "$output" | tail -n 30
	[ "$status" -eq 0 ]
	[[ "$output" == *"Done "*" runs in "* ]]
	! ls "$FTMP/$harness-"* 2>/dev/null || return 1     # no crash artifact
	runs=$(echo "$output" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p')
	echo "# $harness: $runs runs in $FUZZ_SECONDS s" >&3
	[ "$runs" -gt 100 ]
}

@test "the trace reader survives fuzzed trace files" {
	mkdir -p "$FTMP/trace-corpus"
	printf '%s\n' "lookup /etc/os-release" "negative /etc/ld.so.preload" "readlink /lib64" \
		"exec /usr/bin/python3" "read /usr/lib/x86_64-linux-gnu/libc.so.6" "create /tmp/x" |
		"$SLIMFS_BUILD/tests/mktrace" "$FTMP/trace-corpus/seed.db" /
	sqlite3 "$FTMP/trace-corpus/seed.db" "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;" >/dev/null
	fuzz fuzz_trace "$FTMP/trace-corpus" -max_len=65536
}

@test "the image tarball reader survives fuzzed tarballs and writes nowhere else" {
	mkdir -p "$FTMP/tar-corpus" "$FTMP/tarwork/unpack" "$FTMP/tarwork/canary"
	python3 - "$FTMP/tar-corpus" <<'PY'
import io, sys, tarfile
def make(path, fmt, comp=""):
    t = tarfile.open(path, "w:" + comp, format=fmt)
    def add(name, typ=tarfile.REGTYPE, data=b"", link=""):
        i = tarfile.TarInfo(name); i.type = typ; i.linkname = link
        i.size = len(data) if typ == tarfile.REGTYPE else 0
        i.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
        t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
    add("usr", tarfile.DIRTYPE); add("usr/bin", tarfile.DIRTYPE)
    add("usr/bin/x", data=b"hello\n"); add("bin", tarfile.SYMTYPE, link="usr/bin")
    add("usr/bin/y", tarfile.LNKTYPE, link="usr/bin/x"); add("etc", tarfile.DIRTYPE)
    add("etc/a-long-name-" + "n" * (60 if fmt == tarfile.USTAR_FORMAT else 150), data=b"long\n")
    add("dev", tarfile.DIRTYPE); add("dev/null", tarfile.CHRTYPE); add("fifo", tarfile.FIFOTYPE)
    t.close()
make(sys.argv[1] + "/pax.tar", tarfile.PAX_FORMAT)
make(sys.argv[1] + "/gnu.tar", tarfile.GNU_FORMAT)
make(sys.argv[1] + "/ustar.tar.gz", tarfile.USTAR_FORMAT, "gz")
PY
	SLIMFS_FUZZ_DIR=$FTMP/tarwork fuzz fuzz_tar "$FTMP/tar-corpus" -max_len=32768
	[ -z "$(ls -A "$FTMP/tarwork/canary")" ]
}

@test "the dpkg stanza reader survives fuzzed status files" {
	mkdir -p "$FTMP/deb822-corpus"
	# a real status file's first stanzas, and the odd shapes dpkg accepts
	awk -v RS= 'NR <= 3 { print; print "" }' "$(rootfs)/var/lib/dpkg/status" \
		>"$FTMP/deb822-corpus/status"
	printf 'Package: a\nStatus: install ok installed\nConffiles:\n /etc/a 0123 obsolete\n \n\n\nPackage: b\n' \
		>"$FTMP/deb822-corpus/odd"
	fuzz fuzz_deb822 "$FTMP/deb822-corpus" -max_len=8192
}

@test "the ld.so.cache reader survives fuzzed caches" {
	mkdir -p "$FTMP/ldcache-corpus"
	cp "$(rootfs)/etc/ld.so.cache" "$FTMP/ldcache-corpus/new"
	# the old format followed by the new one, as glibc before 2.32 wrote it
	python3 - "$FTMP/ldcache-corpus/old+new" <<'PY'
import struct, sys
s = b"libx.so.1\0/lib/libx.so.1\0"
old = b"ld.so-1.7.0\0" + struct.pack("<I", 1) + struct.pack("<iII", 0x303, 0, 10)
old += b"\0" * (-len(old) % 8)
base = len(old)
new = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", 1, len(s), 2, 0)
new += struct.pack("<iIIIQ", 0x303, 48 + 24, 48 + 24 + 10, 0, 0)
open(sys.argv[1], "wb").write(old + new + s)
PY
	fuzz fuzz_ldcache "$FTMP/ldcache-corpus" -max_len=16384
}

@test "the image JSON readers survive fuzzed indexes, manifests, configs and manifest.json" {
	local c=$FTMP/image-corpus w=$FTMP/image-work m
	mkdir -p "$c" "$w"
	printf 'dir etc\nfile etc/os-release x\n' | python3 "$SLIMFS_SRC/tests/mkoci.py" tar "$w/l.tar"
	python3 "$SLIMFS_SRC/tests/mkoci.py" layout "$w/lay" --ref app --platform linux/arm64/v8 \
		--index-platform --config '{"Entrypoint":["/bin/sh","-c"],"Cmd":["id"],"Env":["A=b"],"User":"1:2","WorkingDir":"/w"}' \
		"$w/l.tar" >/dev/null
	python3 "$SLIMFS_SRC/tests/mkoci.py" layout "$w/lay" --ref app --platform linux/amd64 \
		--index-platform "$w/l.tar" >/dev/null
	cp -a "$w/lay" "$w/nested"
	python3 "$SLIMFS_SRC/tests/mkoci.py" nest "$w/nested" --ref app --attestation >/dev/null
	python3 "$SLIMFS_SRC/tests/mkoci.py" archive "$w/lay" "$w/d.tar" --format docker-archive --ref app
	# one seed per reader: its selector byte, then a real document
	seed() { { printf "\\$(printf %o "$1")"; cat; } >"$c/$2"; }
	seed 0 index <"$w/lay/index.json"
	seed 0 nested-index <"$w/nested/index.json"
	m=$(jq -r '.manifests[0].digest' "$w/lay/index.json")
	seed 1 manifest <"$w/lay/blobs/sha256/${m#sha256:}"
	seed 2 config <"$w/lay/blobs/sha256/$(jq -r .config.digest "$w/lay/blobs/sha256/${m#sha256:}" | cut -d: -f2)"
	tar -xOf "$w/d.tar" manifest.json | seed 8 docker-manifest   # 8: reader 3, a name asked for
	printf 'linux/arm64/v8' | seed 4 platform
	fuzz fuzz_image "$c" -max_len=16384
}
