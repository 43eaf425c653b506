#!/usr/bin/env bash
# copyup.sh — what a large copy-up costs the rest of the mount.
#
# A copy-up copies an image file's data into the upper layer before its first write
# (fs/copyup.h); the copy holds no directory lock, so it should hold up nothing but
# the writer.  Measured: 1000 creates (open O_CREAT + close) in one directory of the
# mount, alone and while a first write to a SIZE GiB image file (real data, not
# sparse) in another directory copies it up; each round mounts afresh (private upper
# on the same disk as the image), makes the directories and warms up with 300 creates,
# then takes the samples: alone (the mean of one before the copy-up and one after it)
# and beside; ROUNDS rounds, interleaved when two builds are compared.
# The delay is the median over rounds of (beside / alone - 1); the last column says in
# how many rounds the creates were done while the copy still ran (else they waited for
# it, or it was quicker than they were).
#
# usage: bench/copyup.sh [BUILD_DIR] [ROUNDS] [SIZE_GIB] [OTHER_BUILD_DIR]
#   OTHER_BUILD_DIR: a second build measured the same way, side by side (another commit)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
rounds=${2:-5}
gib=${3:-2}
other=${4:+$(cd "$4" && pwd)}
. "$src/bench/lib.sh"
need_built "$build/fs/slimfs" ${other:+"$other/fs/slimfs"}
work=$(mktemp -d /var/tmp/slimfs-bench-copyup.XXXXXX)
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
mkdir -p "$work/img/big" "$work/img/other" "$mnt"
dd if=/dev/zero of="$work/img/big/file" bs=1M count=$((gib * 1024)) status=none
sync

# mount BUILD — slimfs of BUILD on $mnt (foreground: $pid is the daemon), upper in $work
mount_fs() {
	TMPDIR=$work "$1/fs/slimfs" -f --trace "$work/t.db" "$work/img" "$mnt" 2>"$work/daemon.err" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$mnt" && return 0
		sleep 0.1
	done
	echo "copyup.sh: slimfs did not mount" >&2
	cat "$work/daemon.err" >&2
	exit 1
}

unmount_fs() {
	fusermount3 -u "$mnt"
	wait "$pid" || true
	pid=
	rm -f "$work/t.db"
}

# creates DIR [N] — N (1000) creates in DIR, which exists; prints the seconds they took
creates() {
	python3 - "$1" "${2:-1000}" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t = time.monotonic()
for k in range(n):
    os.close(os.open(f"{d}/f{k}", os.O_WRONLY | os.O_CREAT, 0o644))
print(f"{time.monotonic() - t:.4f}")
PY
}

# round BUILD N — one "alone" and one "beside" sample of BUILD; appends to the files
# $work/BUILDTAG.{alone,beside,copy}
round() {
	local b=$1 tag=$2 n=$3 writer t0 t1
	mount_fs "$b"
	# the directories first (their copy-up is not measured), and a warm-up
	mkdir "$mnt/other/warm" "$mnt/other/alone" "$mnt/other/beside" "$mnt/other/after"
	creates "$mnt/other/warm" 300 >/dev/null
	creates "$mnt/other/alone" >"$work/before"
	# the image file's pages leave the cache: the copy reads the disk, as a first
	# copy-up of a large file does
	dd if="$work/img/big/file" iflag=nocache count=0 status=none
	t0=$(date +%s%N)
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND); os.write(fd, b"x")' \
		"$mnt/big/file" &
	writer=$!
	sleep 0.2       # the copy is under way
	creates "$mnt/other/beside" >>"$work/$tag.beside"
	if kill -0 "$writer" 2>/dev/null; then
		echo 1 >>"$work/$tag.overlap"    # the creates ran inside the copy
	else
		echo 0 >>"$work/$tag.overlap"    # they ended after it (waited, or a fast copy)
	fi
	wait "$writer"
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000))" >>"$work/$tag.copy"
	# "alone": before and after the copy, averaged (the order costs nothing then)
	creates "$mnt/other/after" >"$work/after"
	echo "$(cat "$work/before") $(cat "$work/after")" | awk '{ print ($1 + $2) / 2 }' \
		>>"$work/$tag.alone"
	echo "# $tag round $n: alone before $(cat "$work/before") s, beside $(tail -n 1 "$work/$tag.beside") s, alone after $(cat "$work/after") s" >&2
	unmount_fs
}

for ((n = 1; n <= rounds; n++)); do
	round "$build" this "$n"
	if [[ -n $other ]]; then
		round "$other" other "$n"
	fi
done

# row TAG LABEL — the table's row for one build: medians, and the median of each
# round's beside/alone
row() {
	local alone beside copy inside delay
	alone=$(median <"$work/$1.alone")
	beside=$(median <"$work/$1.beside")
	copy=$(median <"$work/$1.copy")
	inside=$(awk '{ s += $1 } END { print s "/" NR }' "$work/$1.overlap")
	delay=$(paste "$work/$1.alone" "$work/$1.beside" | awk '{ print ($2 / $1 - 1) * 100 }' | median)
	awk -v l="$2" -v a="$alone" -v b="$beside" -v c="$copy" -v i="$inside" -v d="$delay" 'BEGIN {
		printf "| %s | %.0f | %.0f | %+.0f%% | %.1f | %s |\n", l, a * 1000, b * 1000,
			d, c / 1000, i }'
}

echo "1000 creates beside a ${gib} GiB copy-up in another directory, median of $rounds rounds"
echo
echo "| build | creates alone (ms) | creates beside the copy-up (ms) | delay (target <= +10%) | copy-up (s) | creates done while the copy ran |"
echo "|---|---|---|---|---|---|"
row this "$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo this) ($build)"
if [[ -n $other ]]; then
	row other "$other"
fi
