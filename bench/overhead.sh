#!/usr/bin/env bash
# overhead.sh — recording overhead of slimfs against native and the FUSE peers.
#
# Each workload runs chrooted into a Debian 12 root fs (tests/rootfs.sh) reached several
# ways: "native" (a read-only bind mount of the directory), slimfs with its default
# options (--io-uring=auto: FUSE over io_uring when the kernel's switch is on, /dev/fuse
# when it is off; its column title says which served), and, as SYSTEMS asks, slimfs
# with --io-uring=off (/dev/fuse, when the switch is on), --io-uring=on, without FUSE
# passthrough (--no-passthrough) or polling for requests (--spin-us 50), fuse-overlayfs
# and bindfs.  "cold": a fresh mount per run, mount + run + unmount (and, for slimfs,
# the trace's final flush) timed together.  "warm": the same mount, second run timed.
# Systems are interleaved within each repetition (the machine is noisy) and the table
# gives the median of REPS runs as a ratio to native's median; each system's runs wait
# for a quiet machine first (lib.sh, quiet).  Under the table: the
# machine's round trip, one negative lookup through slimfs against native
# (bench/roundtrip.c), to tell a slow host from a slow change.
#
# The kernel's io_uring switch is host-wide: URING=on or URING=off sets it for the run,
# and it is put back as it was at the end; without URING the host's setting is used.
# The whole run holds the test lock (/tmp/slimfs-tests.lock), so no test suite runs
# beside it or flips the switch under it.  Every slimfs run is checked to have been
# served by the transport its column claims (runs.transport in its trace).
#
# Fairness: every system gets the same chroot and environment; output leaves through a
# pipe (tar skips reading when it writes to /dev/null); PYTHONDONTWRITEBYTECODE keeps
# python from writing .pyc files into the writable overlays (native and bindfs are
# read-only, so it could not there); the order of the systems rotates each repetition;
# a workload that fails on any system stops the benchmark with its error (a fast
# failure is not a fast run).  No workload opens a device node: FUSE mounts are nodev.
# The page cache is warm for all ("cold" means a fresh mount, not a cold disk).
# Each peer runs with its Debian defaults (bindfs: single-threaded).
#
# usage: bench/overhead.sh [BUILD_DIR] [REPS]   (as root; installs fuse-overlayfs, bindfs)
# env:   URING=on|off          the kernel's switch for this run (restored after)
#        SLIMFS_OPTS="..."     extra options for every slimfs column (e.g. "--no-verify")
#        WORKLOADS="startup data"   a subset (also: data2, two tar at once; build2, two
#                              python compiles at once, make -j2-like)
#        SYSTEMS="slimfs bindfs"    the systems compared with native (default: slimfs,
#                              slimfs-devfuse when the switch is on, slimfs-base with
#                              BASE_BUILD, fuse-overlayfs, bindfs; also slimfs-uring,
#                              slimfs-nopt, slimfs-spin)
#        BASE_BUILD=DIR        another build of slimfs (a change's parent, say), run
#                              as column slimfs-base with --io-uring=off: a change to
#                              the /dev/fuse path measured beside its parent
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
slimfs=$build/fs/slimfs
bench_lock

rootfs=$("$src/tests/rootfs.sh")
work=$(mktemp -d /tmp/slimfs-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
uring_was=$(cat $URING_SWITCH 2>/dev/null || true)
cleanup() {
	umount -l "$mnt" 2>/dev/null || true
	rm -rf "$work"
	[[ -z $uring_was ]] || echo "$uring_was" >$URING_SWITCH
}
trap cleanup EXIT
case ${URING:-} in
on) echo Y >$URING_SWITCH ;;
off) [[ -z $uring_was ]] || echo N >$URING_SWITCH ;;
"") ;;
*) echo "overhead.sh: URING=$URING: expected on or off" >&2; exit 2 ;;
esac
[[ $(cat $URING_SWITCH 2>/dev/null) == Y ]] && uring=on || uring=off

default_systems="slimfs fuse-overlayfs bindfs"
[[ $uring == off ]] || default_systems="slimfs slimfs-devfuse fuse-overlayfs bindfs"
[[ -z ${BASE_BUILD:-} ]] || default_systems=${default_systems/fuse-overlayfs/slimfs-base fuse-overlayfs}
base_slimfs=${BASE_BUILD:+$(cd "$BASE_BUILD" && pwd)/fs/slimfs}
need_built "$slimfs" "$build/bench/roundtrip" ${base_slimfs:+"$base_slimfs"}
read -r -a SYSTEMS <<<"native ${SYSTEMS:-$default_systems}"
for p in fuse-overlayfs bindfs; do     # the peers asked for, when missing
	if [[ " ${SYSTEMS[*]} " == *" $p "* ]] && ! command -v $p >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $p >/dev/null
	fi
done

declare -A WL=(
	[startup]='python3 -c "import json, re, os, sys, collections, subprocess, email.parser, http.client, argparse, datetime, decimal, logging, yaml"'
	[data]='tar cf - /usr/lib'
	[metadata]='ls -lR /usr'
	[data2]='tar cf - /usr/lib & tar cf - /usr/share; wait'
	[build2]='find /usr/lib/python3.11 -name "*.py" | xargs -P2 -n 20 python3 -c "import sys
for f in sys.argv[1:]:
    try: compile(open(f, \"rb\").read(), f, \"exec\")
    except SyntaxError: pass"'
)
read -r -a WORKLOADS <<<"${WORKLOADS:-startup data metadata}"
declare -A SLIMFS_EXTRA=([slimfs]="" [slimfs-devfuse]=--io-uring=off [slimfs-base]=--io-uring=off
	[slimfs-uring]=--io-uring=on
	[slimfs-nopt]=--no-passthrough [slimfs-spin]="--spin-us 50")
# The transport each slimfs column must have been served by (runs.transport).
declare -A TRANSPORT=([slimfs]=$([[ $uring == on ]] && echo io_uring || echo dev_fuse)
	[slimfs-devfuse]=dev_fuse [slimfs-base]=dev_fuse [slimfs-uring]=$([[ $uring == on ]] && echo io_uring || echo dev_fuse)
	[slimfs-nopt]="" [slimfs-spin]="")
TRANSPORT[slimfs-nopt]=${TRANSPORT[slimfs]}
TRANSPORT[slimfs-spin]=${TRANSPORT[slimfs]}

mount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) mount --bind -o ro "$rootfs" "$mnt" ;;
	slimfs*) mkdir -p "$work/up$n"
		# shellcheck disable=SC2086
		"$([[ $sys == slimfs-base ]] && echo "$base_slimfs" || echo "$slimfs")" \
			${SLIMFS_OPTS:-} ${SLIMFS_EXTRA[$sys]} --trace "$work/t$n.db" \
			--upper "$work/up$n" "$rootfs" "$mnt" ;;
	fuse-overlayfs) mkdir -p "$work/up$n" "$work/wk$n"
		# (stderr: it warns about the "lazytime" mount flag it does not know)
		fuse-overlayfs -o "lowerdir=$rootfs,upperdir=$work/up$n,workdir=$work/wk$n" "$mnt" 2>/dev/null ;;
	bindfs) bindfs -r "$rootfs" "$mnt" ;;
	esac
}

# served SYS N — slimfs run N of column SYS was served by the transport the column
# claims (checked outside the timed part).
served() {
	local got
	got=$(sqlite3 "$work/t$2.db" "SELECT transport FROM runs")
	if [[ $got != "${TRANSPORT[$1]}" ]]; then
		echo "overhead.sh: $1 was served by '$got', not ${TRANSPORT[$1]}" >&2
		exit 1
	fi
}

umount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) umount "$mnt" ;;
	slimfs*) fusermount3 -u "$mnt"; timeout 60 flock "$work/t$n.db" true ;;
	*) fusermount3 -u "$mnt" ;;
	esac
}

# Output leaves the chroot through a pipe (tar skips reading when it writes to /dev/null).
run_wl() {
	if ! PYTHONDONTWRITEBYTECODE=1 chroot "$mnt" /bin/sh -c "${WL[$1]}" 2>"$work/err" |
		cat >/dev/null; then
		echo "overhead.sh: workload $1 failed on $sys:" >&2
		grep -v 'Removing leading' "$work/err" >&2
		exit 1
	fi
}

now() { date +%s%N; }

declare -A T   # T[sys,wl,mode] = space-separated ns
n=0
for ((r = 1; r <= reps; r++)); do
	for wl in "${WORKLOADS[@]}"; do
		k=$(((r - 1) % ${#SYSTEMS[@]}))
		for sys in "${SYSTEMS[@]:k}" "${SYSTEMS[@]:0:k}"; do
			quiet
			n=$((n + 1))
			t0=$(now)
			mount_sys $sys $n
			run_wl $wl
			umount_sys $sys $n
			T[$sys,$wl,cold]+="$(($(now) - t0)) "
			[[ $sys != slimfs* ]] || served $sys $n
			n=$((n + 1))
			mount_sys $sys $n
			run_wl $wl
			t0=$(now)
			run_wl $wl
			T[$sys,$wl,warm]+="$(($(now) - t0)) "
			umount_sys $sys $n
			[[ $sys != slimfs* ]] || served $sys $n
			rm -rf "$work"/up* "$work"/wk* "$work"/t*.db*
		done
	done
done

# The round trip: native, then each slimfs column, on fresh mounts.
declare -A RT
for sys in "${SYSTEMS[@]}"; do
	[[ $sys == native || $sys == slimfs || $sys == slimfs-devfuse || $sys == slimfs-base ]] ||
		continue
	n=$((n + 1))
	mount_sys $sys $n
	RT[$sys]=$("$build/bench/roundtrip" "$mnt")
	umount_sys $sys $n
	rm -rf "$work"/up* "$work"/t*.db*
done

title() {
	case $1 in
	slimfs) echo "slimfs ($([[ ${TRANSPORT[slimfs]} == io_uring ]] && echo io_uring || echo /dev/fuse))" ;;
	slimfs-base) echo "slimfs ${SLIMFS_EXTRA[$1]} ($(basename "$BASE_BUILD"))" ;;
	slimfs*) echo "slimfs ${SLIMFS_EXTRA[$1]}" ;;
	*) echo "$1" ;;
	esac
}
head="| workload | native (ms)" rule="|---|---"
for sys in "${SYSTEMS[@]:1}"; do
	head+=" | $(title $sys)"
	rule+="|---"
done
echo "$head | slimfs target |"
echo "$rule|---|"
# Targets (docs/benchmarks.md): with the switch on, ratios; with it off, below both
# peers on every row, metadata at most 15x; warm at most 2.5x either way.
if [[ $uring == on ]]; then
	declare -A target=([startup]="<= 1.15x" [data]="<= 3.5x" [metadata]="<= 8x")
else
	declare -A target=([startup]="< peers" [data]="< peers" [metadata]="< peers, <= 15x")
fi
for mode in cold warm; do
	for wl in "${WORKLOADS[@]}"; do
		base=$(echo "${T[native,$wl,$mode]}" | median)
		row="| $wl ($mode) | $((base / 1000000))"
		for sys in "${SYSTEMS[@]:1}"; do
			m=$(echo "${T[$sys,$wl,$mode]}" | median)
			row+=" | $(ratio "$m" "$base")"
		done
		tgt=${target[$wl]:-}
		[[ $mode == cold ]] || tgt="<= 2.5x"
		echo "$row | $tgt |"
	done
done
echo
echo "median of $reps runs each, interleaved, order rotating; io_uring switch $uring;" \
	"slimfs options: ${SLIMFS_OPTS:-none}"
rt="round trip (one negative lookup, median of 5 x 2000): native ${RT[native]} us"
for sys in slimfs slimfs-devfuse slimfs-base; do
	[[ -z ${RT[$sys]:-} ]] || rt+=", $(title $sys) ${RT[$sys]} us"
done
echo "$rt"
