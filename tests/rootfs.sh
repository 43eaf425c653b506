#!/usr/bin/env bash
# rootfs.sh [VARIANT] — print the path of a cached Debian 12 root filesystem, making it
# first if needed.  Variants (debootstrap minbase plus):
#   py (default)  python3 (with yaml), CA certificates and time zones: bookworm-py
#   curl          curl (with its CA certificates): bookworm-curl
#   nginx         nginx-light (a web server with a real config tree): bookworm-nginx
# Cached under /var/cache/slimfs (outside the repo) and shared by tests, demo and bench:
# never written once made.
set -euo pipefail
variant=${1:-py}
case $variant in
py) include=python3,python3-yaml,ca-certificates,tzdata check=usr/bin/python3 ;;
curl) include=curl,ca-certificates check=usr/bin/curl ;;
nginx) include=nginx-light check=usr/sbin/nginx ;;
*) echo "rootfs.sh: unknown variant $variant (py, curl, nginx)" >&2; exit 2 ;;
esac
cache=${SLIMFS_CACHE:-/var/cache/slimfs}
name=bookworm-$variant
dir=$cache/$name
mkdir -p "$cache"
exec 9>"$cache/.$name.lock"
flock 9
if [[ ! -x $dir/$check ]]; then
	command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is not installed" >&2; exit 1; }
	rm -rf "$dir.tmp"
	echo "rootfs.sh: making a Debian 12 root filesystem in $dir (about a minute)" >&2
	debootstrap --variant=minbase --include=$include \
		bookworm "$dir.tmp" http://deb.debian.org/debian >"$cache/$name.log" 2>&1 ||
		{ echo "rootfs.sh: debootstrap failed, see $cache/$name.log" >&2; exit 1; }
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir"
