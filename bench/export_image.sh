#!/usr/bin/env bash
# export_image.sh — slimfs-export writing a lean image archive against `tar | gzip -n`
# of the same path list.
#
# The image is an image cache entry made here (a private $SLIMFS_CACHE): a copy of the
# Debian 12 root fs (tests/rootfs.sh; the shared one is never written) with a minimal
# config.json and image.json beside it.  The trace (tests' mktrace tool) looks up every
# file and symlink, so the lean layer is the whole tree.  `slimfs-export --list` gives
# the kept paths; GNU tar archives exactly those as pax with xattrs (what the layer
# carries: nanosecond times, xattrs) and gzip -n compresses them, in a pipeline of two
# processes (so on an idle machine the two run on both CPUs; slimfs-export is one
# thread).  Rows:
#   oci-archive   the default output: layer (tar, sha256, gzip, sha256) to a temporary
#                 file, then the archive around it (the layer copied in once)
#   oci           the layout directory: the layer written once, in place
#   zstd          --compression-format zstd against `tar | zstd -3`
# Page cache warm (the image is read once before timing), interleaved, median of REPS,
# wall time and CPU time (user + system, children included).
#
# usage: bench/export_image.sh [BUILD_DIR] [REPS]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
export_bin=$build/export/slimfs-export
mktrace=$build/tests/mktrace
need_built "$export_bin" "$mktrace"
need_gnu_time
rootfs=$(env -u SLIMFS_CACHE "$src/tests/rootfs.sh")
work=$(mktemp -d /var/tmp/slimfs-bench-export-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
export SLIMFS_CACHE=$work/cache
entry=$SLIMFS_CACHE/images/$(printf '%064d' 1)
mkdir -p -m 0700 "$SLIMFS_CACHE/images" "$entry"
cp -a "$rootfs" "$entry/rootfs"
printf '%s' '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]},"history":[]}' >"$entry/config.json"
printf '{"source":"%s","reference":"localhost/bench:1","format":"oci","manifest_digest":"sha256:%064d","config_digest":"sha256:%s","platform":"linux/amd64"}' \
	"$rootfs" 1 "$(sha256sum <"$entry/config.json" | cut -d' ' -f1)" >"$entry/image.json"
(cd "$entry/rootfs" && find . \( -type f -o -type l \) | awk '{ print "lookup " substr($0, 2) }') |
	"$mktrace" "$work/t.db" "$entry/rootfs"
"$export_bin" --list "$work/t.db" >"$work/list"
sed 's|^/||; s|^$|.|' "$work/list" >"$work/rel"
kept=$(wc -l <"$work/list")
bytes=$("$export_bin" --stats --json "$work/t.db" | sed -n 's/.*"bytes_kept": \([0-9]*\).*/\1/p')
tar -cf - -C "$entry/rootfs" . | cat >/dev/null    # warm the page cache

tarcmd="tar --format=posix --xattrs -cf - --no-recursion --ignore-failed-read -C $entry/rootfs -T $work/rel 2>/dev/null"
declare -A T C S t c
systems=(oci-archive oci tar-gzip zstd tar-zstd)
for ((r = 1; r <= reps; r++)); do
	for sys in "${systems[@]}"; do
		rm -rf "$work/out"
		case $sys in
		oci-archive) cmd=("$export_bin" -q -o "$work/out" "$work/t.db") ;;
		oci) cmd=("$export_bin" -q --format oci -o "$work/out" "$work/t.db") ;;
		zstd) cmd=("$export_bin" -q --compression-format zstd -o "$work/out" "$work/t.db") ;;
		tar-gzip) cmd=(bash -c "$tarcmd | gzip -n >$work/out && sync -d $work/out") ;;
		tar-zstd) cmd=(bash -c "$tarcmd | zstd -3 -q -o $work/out && sync -d $work/out") ;;
		esac
		/usr/bin/time -f '%e %U %S' -o "$work/time" "${cmd[@]}"
		read -r s u k <"$work/time"
		T[$sys]+="$s "
		C[$sys]+="$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }') "
		S[$sys]=$(du -sb "$work/out" | cut -f1)
	done
done
for sys in "${systems[@]}"; do
	t[$sys]=$(echo "${T[$sys]}" | median)
	c[$sys]=$(echo "${C[$sys]}" | median)
done
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')
echo "| lean image ($kept kept paths, $mb MB of files) | wall | CPU | size | target |"
echo "|---|---|---|---|---|"
echo "| tar \\| gzip -n (reference) | ${t[tar-gzip]} s | ${c[tar-gzip]} s | ${S[tar-gzip]} | |"
echo "| oci-archive (default) / tar \\| gzip -n | $(ratio "${t[oci-archive]}" "${t[tar-gzip]}") | $(ratio "${c[oci-archive]}" "${c[tar-gzip]}") | ${S[oci-archive]} | <= 1.2x |"
echo "| oci directory / tar \\| gzip -n | $(ratio "${t[oci]}" "${t[tar-gzip]}") | $(ratio "${c[oci]}" "${c[tar-gzip]}") | ${S[oci]} | |"
echo "| tar \\| zstd -3 (reference) | ${t[tar-zstd]} s | ${c[tar-zstd]} s | ${S[tar-zstd]} | |"
echo "| oci-archive, zstd layer / tar \\| zstd -3 | $(ratio "${t[zstd]}" "${t[tar-zstd]}") | $(ratio "${c[zstd]}" "${c[tar-zstd]}") | ${S[zstd]} | |"
echo
echo "median of $reps runs each, interleaved, page cache warm; slimfs-export fsyncs its output, the pipelines are followed by sync -d"
