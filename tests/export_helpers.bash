# export_helpers.bash — shared by the tests/export_*.bats suites (slimfs-export).
# Images are small synthetic trees in $BATS_TEST_TMPDIR/img; traces come from
# mktrace ("OP PATH" lines on stdin), so these suites need no FUSE mount.
load helpers

MKTRACE=$SLIMFS_BUILD/tests/mktrace

export_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	IMG=$BATS_TEST_TMPDIR/img
	mkdir -p "$IMG"
}

# trace FILE [IMAGE] [--overflow] < "OP PATH" lines — append one run to FILE.
trace() {
	local file=$1 img=${2:-$IMG}
	shift 2 || shift $#
	"$MKTRACE" "$file" "$img" "$@"
}

# slimfs_export ARGS... — slimfs-export naming the suite's image with --from: the traces
# here are of plain directories, which export reads only when named (the trust rule,
# docs/reliability.md).  A --from among ARGS comes later, and wins.
slimfs_export() {
	"$SLIMFS_EXPORT" --from "$IMG" "$@"
}

# extract ARCHIVE DIR — as a user would: GNU tar, xattrs, numeric owners.
extract() {
	mkdir -p "$2"
	tar -xpf "$1" --xattrs --xattrs-include='*' --numeric-owner -C "$2"
}

# kept TRACE... — the kept paths (--list), one per line.
kept() {
	"$SLIMFS_EXPORT" --from "$IMG" --list -q "$@"
}

# json_field JSON KEY — one top-level value of the --json statistics.
json_field() {
	python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v) if isinstance(v,(dict,list,bool)) else v)' "$1" "$2"
}

