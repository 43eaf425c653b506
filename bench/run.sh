#!/usr/bin/env bash
# run.sh — every slimfs benchmark, one markdown table per part.  Run as root.
#
#   bench/run.sh [--quick] [BUILD_DIR]     (default ./build; nothing is built here)
#
# Parts: (1) recording overhead against native, fuse-overlayfs and bindfs
# (bench/overhead.sh), twice: with the kernel's FUSE-over-io_uring switch off (as most
# hosts have it: slimfs's default then serves through /dev/fuse) and on (the default
# then takes the ring), the switch put back as it was after; (2) slimfs-export against
# GNU tar on a 100k-file image (bench/export.sh), (3) the trace store (store_bench) and
# the daemon's peak memory on a 100k-file image (bench/memory.sh).  The whole run holds
# the test lock (/tmp/slimfs-tests.lock): no test suite runs beside it.  Installs
# fuse-overlayfs, bindfs and GNU time with apt-get when missing.  --quick: 3
# repetitions instead of 5.  About 15 minutes on 2 cores; --quick about 9.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
reps=5
case ${1:-} in
-h | --help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
--quick) reps=3; shift ;;
esac
build=${1:-$src/build}
[[ -d $build ]] || { echo "run.sh: build directory $build missing (meson setup $build && ninja -C $build)" >&2; exit 1; }
build=$(cd "$build" && pwd)
[[ $(id -u) == 0 ]] || { echo "run.sh: run as root (mounts, chroot)" >&2; exit 1; }
. "$src/bench/lib.sh"
bench_lock

echo "## slimfs benchmarks"
echo
echo "$(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), $(date -u +%Y-%m-%d), build $(basename "$build")"
echo
echo "### 1. Recording overhead (time / native time)"
echo
echo "The kernel's FUSE-over-io_uring switch off (most hosts' default):"
echo
URING=off "$src/bench/overhead.sh" "$build" "$reps"
echo
echo "The switch on:"
echo
URING=on "$src/bench/overhead.sh" "$build" "$reps"
echo
echo "### 2. Export"
echo
"$src/bench/export.sh" "$build" "$reps" 100000
echo
echo "### 3. Trace store and daemon memory"
echo
"$build/bench/store_bench" "$(mktemp -u /var/tmp/slimfs-store-bench.XXXXXX)"
echo
"$src/bench/memory.sh" "$build" 100000
