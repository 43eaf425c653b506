#!/usr/bin/env bash
# quickstart.sh — the README's two commands, on a fresh Debian 12 machine, as root.
#   ./quickstart.sh demo   install, build, record `ls -l /` in a Debian root fs, export, check, sizes
#   ./quickstart.sh test   install, build (plain and ASan/UBSan), run every test in both
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(gcc libc6-dev meson ninja-build pkg-config python3
	libfuse3-dev fuse3 liburing-dev libsqlite3-dev sqlite3 libarchive-dev libjansson-dev libssl-dev libelf-dev
	libseccomp-dev keyutils
	debootstrap runc bats zstd xz-utils attr acl libcap2-bin util-linux procps
	diffutils findutils coreutils tar gzip strace stress-ng clang libclang-rt-14-dev
	e2fsprogs mount podman skopeo umoci jq)

install_packages() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return
	echo "quickstart: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {   # build DIR [meson options...]
	local dir=$1
	shift
	[[ -f $dir/build.ninja ]] || meson setup "$dir" "$@" >/dev/null
	ninja -C "$dir" >/dev/null
}

# Count TAP results of every test in a build dir's last meson test run, and show why
# each failed test failed (its "not ok" lines and the diagnostics after them, which meson
# keeps only in its log).
count_results() {
	python3 - "$@" <<'PY'
import json, re, sys
passed = failed = 0
def why(name, out):
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if l.startswith("not ok"):
            print(f"== {name}: {l}")
            for d in lines[i + 1:i + 61]:
                if not d.startswith("#"):
                    break
                print("   " + d)
for d in sys.argv[1:]:
    for line in open(f"{d}/meson-logs/testlog.json"):
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        if ok + bad == 0:   # a test that crashed before any TAP line
            bad = 0 if t.get("result") == "OK" else 1
        if t.get("result") not in ("OK", "EXPECTEDFAIL") and bad == 0:
            bad = 1
        if bad:
            why(f"{d}: {t.get('name')}", out)
        passed += ok
        failed += bad
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
}

# The classic experiment: what does `ls -l /` need?  Link counts (a lean tree has fewer
# subdirectories) and the times of the freshly mounted /proc and /dev differ between any
# two images by nature, so the listing is compared without them.
DEMO_CMD=(sh -c 'ls -l --time-style=+ / | awk "{ \$2 = \"\"; print }"')

demo() {
	install_packages
	build build
	local rootfs out=out
	rootfs=$(tests/rootfs.sh)
	mkdir -p "$out"
	rm -f "$out"/demo.db* "$out/lean.tar"
	echo "== record: ${DEMO_CMD[*]}   (in $rootfs)"
	build/run/slimfs-run --trace "$out/demo.db" "$rootfs" -- "${DEMO_CMD[@]}"
	echo "== export: $out/lean.tar"
	build/export/slimfs-export --from "$rootfs" -o "$out/lean.tar" "$out/demo.db"
	echo "== check: the lean image gives the same output"
	build/run/slimfs-run --check "$out/lean.tar" "$rootfs" -- "${DEMO_CMD[@]}"
	echo "== what was kept"
	build/export/slimfs-export --from "$rootfs" --stats "$out/demo.db"
	echo "== sizes"
	du -sh --apparent-size "$rootfs" "$out/lean.tar"
}

test_all() {
	install_packages
	build build
	build build-asan -Db_sanitize=address,undefined -Db_lundef=false
	tests/rootfs.sh >/dev/null
	local rc=0
	echo "== tests (plain build)"
	meson test -C build --print-errorlogs --num-processes 1 || rc=1
	echo "== tests (ASan/UBSan build)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 1 || rc=1
	count_results build build-asan || rc=1
	return $rc
}

case ${1:-} in
demo) demo ;;
test) test_all ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
