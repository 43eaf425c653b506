#!/usr/bin/env bats
# rel_limits.bats — the sizes real images reach or exceed, through the mount (recorded)
# and through export: a path of 4095 bytes (PATH_MAX with its NUL) made of deep
# directories, names of NAME_MAX (255) bytes, 100k files in one directory, a 4 GiB
# sparse file, and a directory tree 500 levels deep.
load helpers

NBIG=${SLIMFS_LIMITS_NFILES:-100000}

setup() {
	mount_tmp_setup /tmp/slimfs-limits.XXXXXX
	mkdir -p "$LOWER"
}

teardown() {
	mount_tmp_teardown
}

# Make /long/ddd.../leaf in the lower tree, exactly 4095 bytes long as a container path;
# print that path.  The host path is longer than PATH_MAX: built with directory fds.
make_long_path() {
	python3 - "$LOWER" <<'PY'
import os, sys
root = sys.argv[1]
path, comps = "/long", []
while len(path) + 1 + 200 + 1 + 10 < 4095:
    comps.append("d" * 200)
    path += "/" + comps[-1]
leaf = "l" * (4095 - len(path) - 1)
path += "/" + leaf
assert len(path) == 4095, len(path)
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("long", dir_fd=fd)
for c in ["long"] + comps:
    if c != "long":
        os.mkdir(c, dir_fd=fd)
    nfd = os.open(c, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(f, b"at PATH_MAX\n")
os.close(f)
print(path)
PY
}

@test "a path of 4095 bytes works through the mount and through export" {
	long=$(make_long_path)
	[ "${#long}" -eq 4095 ]
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	# As the container sees it: chrooted into the mount, the whole path in one call.
	run python3 - "$MNT" "$long" <<'PY'
import os, sys
mnt, path = sys.argv[1], sys.argv[2]
os.chroot(mnt)
with open(path) as fh:
    print(fh.read(), end="")
new = path[:-1] + "N"
with open(new, "w") as fh:
    fh.write("written at PATH_MAX\n")
print(os.stat(new).st_size)
try:
    os.stat(path + "x")
except OSError as e:
    print(e.strerror)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "at PATH_MAX" ]
	[ "${lines[1]}" = 20 ]
	[ "${lines[2]}" = "File name too long" ]
	umount_slimfs "$MNT" "$TRACE"
	has_read "$TRACE" "$long"
	has_event "$TRACE" "${long:0:4094}N" create
	"$SLIMFS_EXPORT" --from "$LOWER" -q -o "$TMP/out.tar" "$TRACE"
	tar -xOf "$TMP/out.tar" ".$long" >"$TMP/leaf"
	[ "$(cat "$TMP/leaf")" = "at PATH_MAX" ]
	! tar -tf "$TMP/out.tar" | grep -q 'N$'   # created by the workload: not in the image
}

@test "names of NAME_MAX bytes work through the mount and through export" {
	name=$(printf 'n%.0s' $(seq 1 255))
	mkdir "$LOWER/names"
	echo lower >"$LOWER/names/$name"
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	[ "$(cat "$MNT/names/$name")" = lower ]
	created=$(printf 'c%.0s' $(seq 1 255))
	echo upper >"$MNT/names/$created"
	[ "$(cat "$MNT/names/$created")" = upper ]
	mkdir "$MNT/names/${created:0:254}d"
	mv "$MNT/names/$created" "$MNT/names/${created:0:254}d/$created"
	[ "$(cat "$MNT/names/${created:0:254}d/$created")" = upper ]
	run touch "$MNT/names/${name}x"
	[ "$status" -ne 0 ]
	umount_slimfs "$MNT" "$TRACE"
	has_read "$TRACE" "/names/$name"
	"$SLIMFS_EXPORT" --from "$LOWER" -q -o "$TMP/out.tar" "$TRACE"
	[ "$(tar -xOf "$TMP/out.tar" "./names/$name")" = lower ]
}

@test "100k files in one directory are listed, stat'ed, recorded and exported" {
	mkdir "$LOWER/big"
	python3 - "$LOWER/big" "$NBIG" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/file-{i:06d}", os.O_WRONLY | os.O_CREAT, 0o644))
PY
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	start=$(date +%s.%N)
	[ "$(ls -f "$MNT/big" | grep -c '^file-')" -eq "$NBIG" ]
	n=$(python3 -c 'import os,sys; print(sum(1 for e in os.scandir(sys.argv[1]) if e.stat(follow_symlinks=False).st_size == 0))' "$MNT/big")
	[ "$n" -eq "$NBIG" ]
	took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	umount_slimfs "$MNT" "$TRACE"
	[ "$(sqlite3 "$TRACE" "SELECT count(DISTINCT path) FROM event_paths WHERE path LIKE '/big/file-%'")" -eq "$NBIG" ]
	"$SLIMFS_EXPORT" --from "$LOWER" -q -o "$TMP/out.tar" "$TRACE"
	[ "$(tar -tf "$TMP/out.tar" | grep -c '^\./big/file-')" -eq "$NBIG" ]
	echo "# $NBIG files: listed and stat'ed through the mount in $took s" >&3
}

@test "a 4 GiB sparse file is read at its end through the mount and exported whole" {
	mkdir "$LOWER/sparse"
	truncate -s 4G "$LOWER/sparse/big4g"
	printf 'END' | dd of="$LOWER/sparse/big4g" bs=1 seek=$((4 * 1024 * 1024 * 1024 - 3)) conv=notrunc status=none
	# read by the kernel (passthrough), then by the daemon at a 4 GiB offset
	for opt in "" --no-passthrough; do
		mount_slimfs "$LOWER" "$MNT" "$TRACE" ${opt:+"$opt"}
		[ "$(stat -c %s "$MNT/sparse/big4g")" -eq $((4 * 1024 * 1024 * 1024)) ]
		[ "$(tail -c 3 "$MNT/sparse/big4g")" = END ]
		umount_slimfs "$MNT" "$TRACE"
	done
	has_event "$TRACE" /sparse/big4g passthrough
	has_event "$TRACE" /sparse/big4g read
	"$SLIMFS_EXPORT" --from "$LOWER" -q --keep read --include /sparse/big4g -o "$TMP/out.tar.zst" "$TRACE"
	zstd -dc "$TMP/out.tar.zst" | tar -tvf - >"$TMP/list"
	grep -q " 4294967296 .* \./sparse/big4g$" "$TMP/list"
	[ "$(zstd -dc "$TMP/out.tar.zst" | tar -xOf - ./sparse/big4g | tail -c 3)" = END ]
}

@test "a directory tree 500 levels deep works through the mount and through export" {
	deep=$(python3 -c 'print("/".join(["deep"] + ["a"] * 500))')
	mkdir -p "$LOWER/$deep"
	echo bottom >"$LOWER/$deep/leaf"
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	[ "$(cat "$MNT/$deep/leaf")" = bottom ]
	[ "$(find "$MNT/deep" -type d | wc -l)" -eq 501 ]
	mkdir "$MNT/$deep/new"
	echo made >"$MNT/$deep/new/f"
	[ "$(cat "$MNT/$deep/new/f")" = made ]
	umount_slimfs "$MNT" "$TRACE"
	has_read "$TRACE" "/$deep/leaf"
	"$SLIMFS_EXPORT" --from "$LOWER" -q -o "$TMP/out.tar" "$TRACE"
	[ "$(tar -xOf "$TMP/out.tar" "./$deep/leaf")" = bottom ]
	[ "$(tar -tf "$TMP/out.tar" | grep -c '^\./deep/')" -ge 501 ]
}

@test "a kept path longer than PATH_MAX is exported into a tar, and a directory output says in full why not" {
	# 22 directories of 230 bytes: 5092 bytes as a container path.  A workload reaches
	# it by relative walks; the trace holds it whole.
	long=$(python3 - "$LOWER" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
path = ""
for k in range(22):
    c = chr(ord("a") + k) * 230
    os.mkdir(c, dir_fd=fd)
    nfd = os.open(c, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    path += "/" + c
f = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
os.write(f, b"beyond PATH_MAX\n")
os.close(f)
os.chown("leaf", 7, 8, dir_fd=fd)
print(path + "/leaf")
PY
)
	[ "${#long}" -gt 4096 ]
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	run python3 - "$MNT" "$long" <<'PY'
import os, sys
mnt, path = sys.argv[1], sys.argv[2]
fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
parts = path.strip("/").split("/")
for c in parts[:-1]:
    nfd = os.open(c, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
print(open(os.open(parts[-1], os.O_RDONLY, dir_fd=fd)).read(), end="")
PY
	[ "$status" -eq 0 ]
	[ "$output" = "beyond PATH_MAX" ]
	umount_slimfs "$MNT" "$TRACE"
	has_read "$TRACE" "$long"
	"$SLIMFS_EXPORT" -q -o "$TMP/out.tar" --from "$LOWER" "$TRACE"
	[ "$(tar -xOf "$TMP/out.tar" ".$long")" = "beyond PATH_MAX" ]
	tar -tvf "$TMP/out.tar" | grep -q "^-rw-r----- 7/8 .*leaf$"
	"$SLIMFS_EXPORT" -q --list --from "$LOWER" "$TRACE" | grep -qxF "$long"
	# --format dir cannot set such a member's owner and mode: it refuses, in one
	# complete line, and writes nothing
	run --separate-stderr "$SLIMFS_EXPORT" -q --format dir -o "$TMP/outdir" --from "$LOWER" "$TRACE"
	fails_one_line "*longer than PATH_MAX*export to a tar*paths of any length"
	[ ! -e "$TMP/outdir" ]
}
