#!/usr/bin/env bash
# memory.sh — the daemon's peak memory on a large image, and what the trace costs.
#
# Mounts slimfs (foreground, so $! is the daemon) over a synthetic image of N files
# (bench/mkimage.sh), walks all of it with `find -printf %s` (lookup + getattr of every
# name) and `stat` of every file, then reads VmHWM and the open fd count from
# /proc/PID/status just before unmounting.  Errors of the walk are counted, not hidden:
# a daemon that runs out of file descriptors shows up here.  Prints one markdown table.
#
# usage: bench/memory.sh [BUILD_DIR] [N]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
n=${2:-100000}
slimfs=$build/fs/slimfs
need_built "$slimfs"
work=$(mktemp -d /var/tmp/slimfs-bench-mem.XXXXXX)
mnt=$work/mnt
pid=
cleanup() {
	if [[ -n $pid ]]; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
"$src/bench/mkimage.sh" "$work/img" "$n"
total=$(find "$work/img" | wc -l)
mkdir "$mnt"
"$slimfs" -f --trace "$work/t.db" "$work/img" "$mnt" 2>"$work/daemon.err" &
pid=$!
for ((i = 0; i < 100; i++)); do
	mountpoint -q "$mnt" && break
	sleep 0.1
done
mountpoint -q "$mnt" || { echo "memory.sh: slimfs did not mount" >&2; cat "$work/daemon.err" >&2; exit 1; }
t0=$(date +%s%N)
seen=$(find "$mnt" -printf '%s\n' 2>"$work/find.err" | wc -l) || true
find "$mnt" -type f -exec stat -c %s {} + >/dev/null 2>>"$work/find.err" || true
t1=$(date +%s%N)
errs=$(wc -l <"$work/find.err")
first_err=$(head -1 "$work/find.err" | sed 's/.*: //')
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
fds=$(ls "/proc/$pid/fd" | wc -l)
fusermount3 -u "$mnt"
wait "$pid" || true
pid=
flock "$work/t.db" true
nodes=$(sqlite3 "$work/t.db" 'SELECT count(*) FROM nodes')
tsize=$(stat -c %s "$work/t.db")

echo "| daemon measure ($total-entry image, find + stat of all) | value | target |"
echo "|---|---|---|"
awk -v k="$hwm" 'BEGIN { printf "| daemon peak memory (VmHWM) | %.1f MB | <= 100 MB |\n", k / 1024 }'
echo "| entries seen by find / in the image | $seen / $total | all |"
echo "| walk errors | $errs${first_err:+ (first: $first_err)} | 0 |"
echo "| daemon open fds before unmount (RLIMIT_NOFILE $(ulimit -n)) | $fds | |"
awk -v s="$tsize" -v n="$nodes" 'BEGIN { printf "| trace bytes per recorded path | %.0f (%d paths) | <= 150 |\n", s / n, n }'
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "| walk time | %.2f s | |\n", (b - a) / 1e9 }'
