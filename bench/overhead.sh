#!/usr/bin/env bash
# overhead.sh — recording overhead of slimfs against native and the FUSE peers.
#
# Each workload runs chrooted into a Debian 12 root fs (tests/rootfs.sh) reached seven
# ways: "native" (a read-only bind mount of the directory), slimfs (recording), slimfs
# taking requests through FUSE over io_uring (--io-uring, an opt-in: fs/ring.h), slimfs
# without FUSE passthrough (--no-passthrough: every read through the daemon), slimfs
# polling for requests (--spin-us 50, an opt-in: fs/loop.c), fuse-overlayfs and
# bindfs.  "cold": a fresh mount per run, mount + run + unmount (and, for slimfs, the
# trace's final flush) timed together.  "warm": the same mount, second run
# timed.  Systems are interleaved within each repetition (the machine is noisy) and the
# table gives the median of REPS runs as a ratio to native's median.
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
# env:   SLIMFS_OPTS="..."  extra slimfs options (e.g. "-o noatime", "--no-verify")
#        WORKLOADS="startup data"  a subset
#        SYSTEMS="slimfs bindfs"   a subset of the systems compared with native
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
slimfs=$build/fs/slimfs
read -r -a SYSTEMS <<<"native ${SYSTEMS:-slimfs slimfs-uring slimfs-nopt slimfs-spin fuse-overlayfs bindfs}"
for p in fuse-overlayfs bindfs; do     # the peers asked for, when missing
	if [[ " ${SYSTEMS[*]} " == *" $p "* ]] && ! command -v $p >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $p >/dev/null
	fi
done
rootfs=$("$src/tests/rootfs.sh")
work=$(mktemp -d /tmp/slimfs-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
# --io-uring needs the kernel's switch, which is host-wide: on for the run, then back.
uring_switch=/sys/module/fuse/parameters/enable_uring
uring_was=
cleanup() {
	umount -l "$mnt" 2>/dev/null || true
	rm -rf "$work"
	[[ -z $uring_was ]] || echo "$uring_was" >$uring_switch
}
trap cleanup EXIT
if [[ " ${SYSTEMS[*]} " == *" slimfs-uring "* ]]; then
	uring_was=$(cat $uring_switch)
	echo Y >$uring_switch
fi

declare -A WL=(
	[startup]='python3 -c "import json, re, os, sys, collections, subprocess, email.parser, http.client, argparse, datetime, decimal, logging, yaml"'
	[data]='tar cf - /usr/lib'
	[metadata]='ls -lR /usr'
)
read -r -a WORKLOADS <<<"${WORKLOADS:-startup data metadata}"
declare -A SLIMFS_EXTRA=([slimfs]="" [slimfs-nopt]=--no-passthrough [slimfs-spin]="--spin-us 50"
	[slimfs-uring]=--io-uring)

mount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) mount --bind -o ro "$rootfs" "$mnt" ;;
	slimfs*) mkdir -p "$work/up$n"
		# shellcheck disable=SC2086
		"$slimfs" ${SLIMFS_OPTS:-} ${SLIMFS_EXTRA[$sys]} --trace "$work/t$n.db" \
			--upper "$work/up$n" "$rootfs" "$mnt" ;;
	fuse-overlayfs) mkdir -p "$work/up$n" "$work/wk$n"
		# (stderr: it warns about the "lazytime" mount flag it does not know)
		fuse-overlayfs -o "lowerdir=$rootfs,upperdir=$work/up$n,workdir=$work/wk$n" "$mnt" 2>/dev/null ;;
	bindfs) bindfs -r "$rootfs" "$mnt" ;;
	esac
}

umount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) umount "$mnt" ;;
	slimfs*) fusermount3 -u "$mnt"; timeout 60 flock "$work/t$n.db" true ;;
	*) fusermount3 -u "$mnt" ;;
	esac
	rm -rf "$work/up$n" "$work/wk$n" "$work/t$n.db"*
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

# ring_served N — the daemon of mount N took requests through its ring (each request the
# ring delivers is a completion on one of its io_uring instances), so the --io-uring
# column is not /dev/fuse under another name.  Checked outside the timed part.
ring_served() {
	local pid
	pid=$(pgrep -n -f -- "--trace $work/t$1.db ")
	if (($(cat /proc/"$pid"/fdinfo/* 2>/dev/null | awk '/^CqTail:/ { n += $2 } END { print n + 0 }') == 0)); then
		echo "overhead.sh: slimfs --io-uring served nothing through its ring" >&2
		exit 1
	fi
}

declare -A T   # T[sys,wl,mode] = space-separated ns
n=0
for ((r = 1; r <= reps; r++)); do
	for wl in "${WORKLOADS[@]}"; do
		k=$(((r - 1) % ${#SYSTEMS[@]}))
		for sys in "${SYSTEMS[@]:k}" "${SYSTEMS[@]:0:k}"; do
			n=$((n + 1))
			t0=$(now)
			mount_sys $sys $n
			run_wl $wl
			umount_sys $sys $n
			T[$sys,$wl,cold]+="$(($(now) - t0)) "
			n=$((n + 1))
			mount_sys $sys $n
			run_wl $wl
			t0=$(now)
			run_wl $wl
			T[$sys,$wl,warm]+="$(($(now) - t0)) "
			[[ $sys != slimfs-uring ]] || ring_served $n
			umount_sys $sys $n
		done
	done
done


head="| workload | native (ms)" rule="|---|---"
# (a slimfs column is titled by its options: "slimfs --io-uring")
for sys in "${SYSTEMS[@]:1}"; do
	[[ $sys == slimfs* ]] && title="slimfs ${SLIMFS_EXTRA[$sys]}" || title=$sys
	head+=" | ${title% }"
	rule+="|---"
done
echo "$head | slimfs target |"
echo "$rule|---|"
declare -A target=([startup]=1.5 [data]=3.5 [metadata]=12)
for mode in cold warm; do
	for wl in "${WORKLOADS[@]}"; do
		base=$(echo "${T[native,$wl,$mode]}" | median)
		row="| $wl ($mode) | $((base / 1000000))"
		for sys in "${SYSTEMS[@]:1}"; do
			m=$(echo "${T[$sys,$wl,$mode]}" | median)
			row+=" | $(ratio "$m" "$base")"
		done
		tgt=${target[$wl]}
		[[ $mode == warm ]] && tgt=1.1
		echo "$row | <= ${tgt}x |"
	done
done
echo
echo "median of $reps runs each, interleaved, order rotating; slimfs options: ${SLIMFS_OPTS:-none}"
