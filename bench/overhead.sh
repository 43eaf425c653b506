#!/usr/bin/env bash
# overhead.sh — recording overhead of slimfs against native and the FUSE peers.
#
# Each workload runs chrooted into a Debian 12 root fs (tests/rootfs.sh) reached four
# ways: "native" (a read-only bind mount of the directory), slimfs (recording),
# fuse-overlayfs and bindfs.  "cold": a fresh mount per run, mount + run + unmount (and,
# for slimfs, the trace's final flush) timed together.  "warm": the same mount, second run
# timed.  Systems are interleaved within each repetition (the machine is noisy) and the
# table gives the median of REPS runs as a ratio to native's median.
#
# usage: bench/overhead.sh [BUILD_DIR] [REPS]   (as root; installs fuse-overlayfs, bindfs)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
slimfs=$build/fs/slimfs
for p in fuse-overlayfs bindfs; do
	command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $p >/dev/null
done
rootfs=$("$src/tests/rootfs.sh")
work=$(mktemp -d /tmp/slimfs-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() { umount -l "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

declare -A WL=(
	[startup]='python3 -c "import json, re, os, sys, collections, subprocess, email.parser, http.client, argparse, datetime, decimal, logging, yaml"'
	[data]='tar cf - /usr/lib | cat >/dev/null'
	[metadata]='ls -lR /usr >/dev/null'
)
WORKLOADS=(startup data metadata)
SYSTEMS=(native slimfs fuse-overlayfs bindfs)

mount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) mount --bind -o ro "$rootfs" "$mnt" ;;
	slimfs) "$slimfs" --trace "$work/t$n.db" --upper "$work/up$n" "$rootfs" "$mnt" 2>/dev/null ||
		"$slimfs" --trace "$work/t$n.db" "$rootfs" "$mnt" ;;
	fuse-overlayfs) mkdir -p "$work/up$n" "$work/wk$n"
		fuse-overlayfs -o "lowerdir=$rootfs,upperdir=$work/up$n,workdir=$work/wk$n" "$mnt" ;;
	bindfs) bindfs -r "$rootfs" "$mnt" ;;
	esac
}

umount_sys() {
	local sys=$1 n=$2
	case $sys in
	native) umount "$mnt" ;;
	slimfs) fusermount3 -u "$mnt"; flock "$work/t$n.db" true ;;
	*) fusermount3 -u "$mnt" ;;
	esac
	rm -rf "$work/up$n" "$work/wk$n" "$work/t$n.db"*
}

run_wl() {
	PYTHONDONTWRITEBYTECODE=1 chroot "$mnt" /bin/sh -c "${WL[$1]}"
}

now() { date +%s%N; }

declare -A T   # T[sys,wl,mode] = space-separated ns
n=0
for ((r = 1; r <= reps; r++)); do
	for wl in "${WORKLOADS[@]}"; do
		for sys in "${SYSTEMS[@]}"; do
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
			umount_sys $sys $n
		done
	done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| workload | native (ms) | slimfs | fuse-overlayfs | bindfs | slimfs target |"
echo "|---|---|---|---|---|---|"
declare -A target=([startup]=1.5 [data]=3.5 [metadata]=12)
for mode in cold warm; do
	for wl in "${WORKLOADS[@]}"; do
		base=$(echo "${T[native,$wl,$mode]}" | median)
		row="| $wl ($mode) | $((base / 1000000))"
		for sys in slimfs fuse-overlayfs bindfs; do
			m=$(echo "${T[$sys,$wl,$mode]}" | median)
			row+=" | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')"
		done
		tgt=${target[$wl]}
		[[ $mode == warm ]] && tgt=1.1
		echo "$row | <= ${tgt}x |"
	done
done
echo
echo "median of $reps runs each, interleaved; $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
