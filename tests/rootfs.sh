#!/usr/bin/env bash
# rootfs.sh — print the path of a cached Debian 12 root filesystem, making it first if
# needed: debootstrap minbase + python3 (with yaml), CA certificates and time zones.
# Cached under /var/cache/slimfs (outside the repo) and shared by tests, demo and bench.
set -euo pipefail
cache=${SLIMFS_CACHE:-/var/cache/slimfs}
name=bookworm-py
dir=$cache/$name
mkdir -p "$cache"
exec 9>"$cache/.$name.lock"
flock 9
if [[ ! -x $dir/usr/bin/python3 ]]; then
	command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is not installed" >&2; exit 1; }
	rm -rf "$dir.tmp"
	echo "rootfs.sh: making a Debian 12 root filesystem in $dir (about a minute)" >&2
	debootstrap --variant=minbase --include=python3,python3-yaml,ca-certificates,tzdata \
		bookworm "$dir.tmp" http://deb.debian.org/debian >"$cache/$name.log" 2>&1 ||
		{ echo "rootfs.sh: debootstrap failed, see $cache/$name.log" >&2; exit 1; }
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir"
