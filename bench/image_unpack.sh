#!/usr/bin/env bash
# image_unpack.sh — unpacking a multi-layer image: slimfs (image/, through
# bench/image_unpack: img_open into a fresh cache, every digest and diff_id checked)
# against `umoci unpack` of the same OCI layout, side by side.
#
# The image: the cached Debian root fs (tests/rootfs.sh) as a gzip base layer, then
# LAYERS-1 more (gzip) that each rewrite a few hundred files, delete a directory tree
# with a whiteout, replace one with an opaque directory and add hardlinks — what
# RUN steps make.  Page cache warm (the layout is read once before timing), output on
# the same file system (/var/tmp), interleaved, median of REPS, wall and CPU time (user
# + system).  Both unpack everything: umoci also writes its mtree manifest (a sha256 of
# every file), which is part of `umoci unpack`; slimfs hashes every blob and layer tar.
# Prints one markdown table.
#
# usage: bench/image_unpack.sh [BUILD_DIR] [REPS] [LAYERS]   (as root; needs umoci)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
layers=${3:-4}
unpack=$build/bench/image_unpack
need_built "$unpack"
command -v umoci >/dev/null || { echo "image_unpack.sh: umoci is not installed" >&2; exit 1; }
need_gnu_time
work=$(mktemp -d /var/tmp/slimfs-bench-unpack.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$("$src/tests/rootfs.sh")

# the layers: the root fs, then changes on top of it
tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' -cf "$work/l1.tar" .
for ((i = 2; i <= layers; i++)); do
	s=$work/s$i
	mkdir -p "$s/usr/share/doc" "$s/usr/lib/python3.11" "$s/opt/layer$i"
	# rewrite a few hundred files, and whiteouts: a deleted tree, an opaque directory
	(cd "$rootfs" && find usr/lib/python3.11 -maxdepth 1 -name '*.py' | head -300) |
		while read -r f; do printf 'layer %d %s\n' "$i" "$f" >"$s/$f"; done
	touch "$s/usr/share/doc/.wh.$(ls "$rootfs/usr/share/doc" | sed -n "${i}p")"
	mkdir -p "$s/usr/share/zoneinfo/$(ls "$rootfs/usr/share/zoneinfo" | sed -n "${i}p")"
	touch "$s/usr/share/zoneinfo/$(ls "$rootfs/usr/share/zoneinfo" | sed -n "${i}p")/.wh..wh..opq"
	for ((k = 0; k < 200; k++)); do
		echo "$k" >"$s/opt/layer$i/f$k"
		ln "$s/opt/layer$i/f$k" "$s/opt/layer$i/h$k"
	done
	tar -C "$s" --numeric-owner -cf "$work/l$i.tar" .
done
python3 "$src/tests/mkoci.py" layout "$work/oci" --ref bench --compress gzip \
	$(for ((i = 1; i <= layers; i++)); do echo "$work/l$i.tar"; done) >/dev/null
rm -f "$work"/l*.tar
files=$(tar -tzf "$work/oci/blobs/sha256/$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][0]["digest"][7:])' "$work/oci")" | wc -l)
mb=$(du -sm "$work/oci" | cut -f1)
cat "$work"/oci/blobs/sha256/* >/dev/null    # warm the page cache for both

declare -A T C
systems=(slimfs umoci)
for ((r = 1; r <= reps; r++)); do
	for sys in "${systems[@]}"; do
		rm -rf "$work/out"
		case $sys in
		slimfs) /usr/bin/time -f '%e %U %S' -o "$work/time" \
			"$unpack" "$work/oci:bench" "$work/out" >/dev/null 2>&1 ;;
		umoci) /usr/bin/time -f '%e %U %S' -o "$work/time" \
			umoci unpack --image "$work/oci:bench" "$work/out" >/dev/null 2>&1 ;;
		esac
		read -r s u k <"$work/time"
		T[$sys]+="$s "
		C[$sys]+="$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }') "
	done
done
rm -rf "$work/out"
ts=$(echo "${T[slimfs]}" | median) tu=$(echo "${T[umoci]}" | median)
cs=$(echo "${C[slimfs]}" | median) cu=$(echo "${C[umoci]}" | median)
echo "| unpack ($layers gzip layers, $files entries in the base, $mb MB compressed) | slimfs | umoci | slimfs / umoci | target |"
echo "|---|---|---|---|---|"
echo "| wall time, median of $reps (s) | $ts | $tu | $(ratio "$ts" "$tu") | <= 1.2x |"
echo "| CPU time, user + system (s) | $cs | $cu | $(ratio "$cs" "$cu") | |"
