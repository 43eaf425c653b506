#!/usr/bin/env bash
# export.sh — slimfs-export against GNU tar archiving the same path list.
#
# A synthetic image of N files (bench/mkimage.sh) and a trace (tests' mktrace tool) that
# looks up 90% of its files, so the lean image keeps most of it.  `slimfs-export --list`
# gives the kept paths; GNU tar archives exactly those (`--no-recursion -T LIST -C IMAGE`),
# twice: in its default format, and as pax with xattrs (`--format=posix --xattrs`),
# which carries what slimfs-export writes (nanosecond times, xattrs) and is the
# like-for-like comparison.  All write a .tar on the same file system as the image, page
# cache warm (the image is read once before timing), interleaved, median of REPS, for
# wall time and for CPU time (user + system, steadier on a shared machine).  Peak RSS
# from GNU time.  Prints one markdown table.
#
# usage: bench/export.sh [BUILD_DIR] [REPS] [N]   (needs GNU time: apt-get install time)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/bench/lib.sh"
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-5}
n=${3:-100000}
export_bin=$build/export/slimfs-export
mktrace=$build/tests/mktrace
need_built "$export_bin" "$mktrace"
need_gnu_time
work=$(mktemp -d /var/tmp/slimfs-bench-export.XXXXXX)
trap 'rm -rf "$work"' EXIT
img=$work/img
"$src/bench/mkimage.sh" "$img" "$n"
(cd "$img" && find . \( -type f -o -type l \) | awk 'NR % 10 != 0 { print "lookup " substr($0, 2) }') |
	"$mktrace" "$work/t.db" "$img"
"$export_bin" --from "$img" --list "$work/t.db" >"$work/list"
# tar reads names relative to -C; the made-up mount points (/proc, /dev...) are not in
# the image, tar skips them (--ignore-failed-read), slimfs-export makes them up.
sed 's|^/||; s|^$|.|' "$work/list" >"$work/rel"
kept=$(wc -l <"$work/list")
tar -cf - -C "$img" . | cat >/dev/null    # warm the page cache for both

declare -A T C M S t c
systems=(slimfs-export tar tar-pax)
for ((r = 1; r <= reps; r++)); do
	for sys in "${systems[@]}"; do
		rm -f "$work/out.tar"
		case $sys in
		slimfs-export) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
			"$export_bin" --from "$img" -q -o "$work/out.tar" "$work/t.db" ;;
		tar) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
			tar -cf "$work/out.tar" --no-recursion --ignore-failed-read \
			-C "$img" -T "$work/rel" 2>/dev/null ;;
		tar-pax) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
			tar --format=posix --xattrs -cf "$work/out.tar" --no-recursion \
			--ignore-failed-read -C "$img" -T "$work/rel" 2>/dev/null ;;
		esac
		read -r s u k kb <"$work/time"
		T[$sys]+="$s "
		C[$sys]+="$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }') "
		M[$sys]+="$kb "
		S[$sys]=$(stat -c %s "$work/out.tar")
	done
done

for sys in "${systems[@]}"; do
	t[$sys]=$(echo "${T[$sys]}" | median)
	c[$sys]=$(echo "${C[$sys]}" | median)
done
me=$(echo "${M[slimfs-export]}" | median)
mt=$(echo "${M[tar]}" | median)
echo "| export measure ($kept kept paths of a $n-file image) | value | target |"
echo "|---|---|---|"
echo "| time / GNU tar, default format (tar: ${t[tar]} s) | $(ratio "${t[slimfs-export]}" "${t[tar]}") wall, $(ratio "${c[slimfs-export]}" "${c[tar]}") CPU | <= 1.2x |"
echo "| time / GNU tar, pax + xattrs (tar: ${t[tar-pax]} s) | $(ratio "${t[slimfs-export]}" "${t[tar-pax]}") wall, $(ratio "${c[slimfs-export]}" "${c[tar-pax]}") CPU | <= 1.2x |"
awk -v m="$me" 'BEGIN { printf "| slimfs-export peak RSS | %.1f MB | < 64 MB |\n", m / 1024 }'
awk -v m="$mt" 'BEGIN { printf "| GNU tar peak RSS (reference) | %.1f MB | |\n", m / 1024 }'
echo "| archive size / GNU tar default, pax | $(ratio "${S[slimfs-export]}" "${S[tar]}"), $(ratio "${S[slimfs-export]}" "${S[tar-pax]}") | |"
echo
echo "median of $reps runs each, interleaved, page cache warm"
