#!/usr/bin/env bats
# slimfs-export: output formats, reproducibility, atomic output, --stats/--json,
# --why, and one-line errors for bad input.
load export_helpers

setup() {
	export_setup
	mkdir -p "$IMG/usr/bin" "$IMG/usr/lib" "$IMG/etc" "$IMG/srv/data" "$IMG/unused"
	head -c 300000 /dev/urandom >"$IMG/usr/bin/tool"
	chmod 755 "$IMG/usr/bin/tool"
	head -c 120000 /dev/urandom >"$IMG/usr/lib/libx.so.1"
	ln -s libx.so.1 "$IMG/usr/lib/libx.so"
	echo conf >"$IMG/etc/tool.conf"
	ln "$IMG/etc/tool.conf" "$IMG/etc/tool.conf.bak"
	head -c 5000 /dev/urandom >"$IMG/srv/data/small"
	head -c 900000 /dev/urandom >"$IMG/unused/big"
	head -c 1000 /dev/urandom >"$IMG/unused/small"
	EVIDENCE='exec /usr/bin/tool
read /usr/bin/tool
lookup /usr/lib/libx.so
readlink /usr/lib/libx.so
read /usr/lib/libx.so.1
open /etc/tool.conf
lookup /srv/data/small
create /srv/data/out
lookup /nowhere'
	trace t.db <<<"$EVIDENCE"
}

@test "export writes .tar, .tar.gz, .tar.zst and .tar.xz by suffix, and a directory" {
	slimfs_export -o out.tar t.db
	slimfs_export -o out.tar.gz t.db
	slimfs_export -o out.tar.zst t.db
	slimfs_export -o out.tar.xz t.db
	slimfs_export --format dir -o outdir t.db
	[ "$(head -c 262 out.tar | tail -c 5)" = ustar ]
	[ "$(od -An -tx1 -N2 out.tar.gz | tr -d ' ')" = 1f8b ]
	[ "$(od -An -tx1 -N4 out.tar.zst | tr -d ' ')" = 28b52ffd ]
	[ "$(od -An -tx1 -N6 out.tar.xz | tr -d ' ')" = fd377a585a00 ]
	extract out.tar x
	for f in out.tar.gz out.tar.zst out.tar.xz; do
		extract "$f" "x-$f"
		diff <(manifest x) <(manifest "x-$f")
	done
	diff <(manifest x) <(manifest outdir)
	cmp x/usr/bin/tool "$IMG/usr/bin/tool"
	[ "$(stat -c %i outdir/etc/tool.conf)" = "$(stat -c %i outdir/etc/tool.conf.bak)" ]
}

@test "export refuses an unknown output suffix" {
	run --separate-stderr slimfs_export -o out.zip t.db
	fails_one_line '*out.zip*'
	[ "${#lines[@]}" -eq 0 ]
	[ -z "$(ls -A . | grep out)" ]
}

@test "export is reproducible: two exports are byte-identical" {
	for f in a.tar b.tar a.tar.gz b.tar.gz a.tar.zst b.tar.zst a.tar.xz b.tar.xz; do
		slimfs_export -o "$f" t.db
		sleep 0.3
	done
	cmp a.tar b.tar
	cmp a.tar.gz b.tar.gz
	cmp a.tar.zst b.tar.zst
	cmp a.tar.xz b.tar.xz
	# no export-time timestamps: members carry the image's times only
	tar --full-time -tvf a.tar | grep -q "$(date -u -d "@$(stat -c %Y "$IMG/usr/bin/tool")" '+%Y-%m-%d %H:%M:%S')"
	# a trace written later, with the same evidence in another order, gives the same bytes
	tac <<<"$EVIDENCE" | trace t2.db
	slimfs_export -o c.tar t2.db
	cmp a.tar c.tar
}

@test "export output is atomic: a failed export leaves no OUT and no temporary file" {
	mkdir small
	mount -t tmpfs -o size=200k tmpfs small
	echo old >small/keep.tar
	run --separate-stderr slimfs_export -o small/out.tar t.db
	status_new=$status
	err_new=$stderr
	run --separate-stderr slimfs_export -o small/keep.tar t.db
	status_old=$status
	listing=$(ls -A small)
	content=$(cat small/keep.tar)
	umount small
	[ "$status_new" -ne 0 ]
	[ "$(wc -l <<< "$err_new")" -eq 1 ]
	[[ "$err_new" == *small/out.tar* ]]
	[ "$status_old" -ne 0 ]
	[ "$listing" = keep.tar ]
	[ "$content" = old ]
	# the same for a directory
	mkdir small2
	mount -t tmpfs -o size=200k tmpfs small2
	run --separate-stderr slimfs_export --format dir -o small2/out t.db
	listing=$(ls -A small2)
	umount small2
	[ "$status" -ne 0 ]
	[ -z "$listing" ]
}

@test "export --stats --json counts what find and du count" {
	trace t.db "$IMG" --overflow <<< "lookup /usr/bin/tool"
	run --separate-stderr slimfs_export --stats --json -o out.tar t.db
	[ "$status" -eq 0 ]
	j=$output
	extract out.tar x
	[ "$(json_field "$j" files_total)" -eq "$(find "$IMG" -type f | wc -l)" ]
	[ "$(json_field "$j" bytes_total)" -eq "$(find "$IMG" -type f -printf '%i %s\n' | sort -u | awk '{s+=$2} END {print s}')" ]
	[ "$(json_field "$j" entries_total)" -eq "$(find "$IMG" -mindepth 1 | wc -l)" ]
	[ "$(json_field "$j" files_kept)" -eq "$(find x -type f | wc -l)" ]
	[ "$(json_field "$j" bytes_kept)" -eq "$(find x -type f -printf '%i %s\n' | sort -u | awk '{s+=$2} END {print s}')" ]
	# du counts each inode once, as bytes_kept does (regular files only)
	[ "$(json_field "$j" bytes_kept)" -eq "$(find x -type f -print0 | du -b --files0-from=- -c | tail -1 | cut -f1)" ]
	[ "$(json_field "$j" bytes_kept)" -eq $((300000 + 120000 + 5 + 5000)) ]
	[ "$(json_field "$j" entries_kept)" -eq "$(find x -mindepth 1 | wc -l)" ]
	[ "$(json_field "$j" runs)" -eq 2 ]
	[ "$(json_field "$j" incomplete)" = true ]
	python3 - "$j" <<-'END'
		import json, sys
		j = json.loads(sys.argv[1])
		total, kept = j["bytes_total"], j["bytes_kept"]
		assert abs(j["reduction"] - 100 * (1 - kept / total)) < 0.01, j["reduction"]
		pe = j["per_evidence"]
		assert pe["read"] == 2 and pe["open"] == 1, pe          # tool, libx.so.1; tool.conf
		assert pe["lookup"] == 2, pe                             # libx.so, small
		assert sum(pe.values()) == j["entries_kept"], pe         # the root is no entry
		assert j["largest"][0] == {"path": "/usr/bin/tool", "bytes": 300000}, j["largest"]
		assert [d["dir"] for d in j["top_dirs"]] == ["/usr", "/srv", "/etc"], j["top_dirs"]
		assert j["top_dirs"][0]["bytes"] == 420000, j["top_dirs"]
	END
}

@test "export --stats prints a table with totals, reduction and a loud incomplete line" {
	run --separate-stderr slimfs_export --stats t.db
	[ "$status" -eq 0 ]
	[[ "$output" == *reduction* ]]
	[[ "$output" == *"/usr/bin/tool"* ]]
	lacks INCOMPLETE <<< "$output"
	trace t.db "$IMG" --overflow <<< "lookup /usr/bin/tool"
	run --separate-stderr slimfs_export --stats t.db
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"INCOMPLETE: 1 of 2 runs"* ]]
}

@test "export --stats says which transport served the runs, in the table and in --json" {
	trace t.db "$IMG" --transport=io_uring <<< "lookup /usr/bin/tool"
	trace t.db "$IMG" --transport=dev_fuse <<< "lookup /usr/bin/tool"
	trace t.db "$IMG" --transport=io_uring <<< "lookup /usr/bin/tool"
	run --separate-stderr slimfs_export --stats t.db
	[ "$status" -eq 0 ]
	# the setup's run was made without a transport, as by an older slimfs
	[ "${lines[1]}" = "runs by transport: 2 io_uring, 1 /dev/fuse, 1 not recorded" ]
	run --separate-stderr slimfs_export --stats --json t.db
	[ "$status" -eq 0 ]
	python3 - "$output" <<-'END'
		import json, sys
		j = json.loads(sys.argv[1])
		assert j["runs"] == 4, j["runs"]
		assert j["transports"] == {"io_uring": 2, "dev_fuse": 1, "unknown": 1}, j["transports"]
	END
}

@test "export --why explains kept paths: evidence and closure" {
	run --separate-stderr slimfs_export --why /usr/bin/tool t.db
	[ "$status" -eq 0 ]
	[[ "$output" == *"t.db run 1: exec"*"count 1"* ]]
	[[ "$output" == *"t.db run 1: read"* ]]
	[[ "$output" == *"kept: evidence read >= lookup"* ]]
	run slimfs_export --why /usr/bin t.db
	[[ "$output" == *"kept: closure: ancestor of /usr/bin/tool"* ]]
	run slimfs_export --why /etc/tool.conf.bak t.db
	[[ "$output" == *"kept: closure: hardlink of /etc/tool.conf"* ]]
	run slimfs_export --why /srv/data t.db
	[[ "$output" == *"kept: closure: the workload created entries in it"* ]]
	run slimfs_export --why /proc t.db
	[[ "$output" == *"kept: closure: mount point (not in the image"* ]]
	run slimfs_export --why /unused/small --include '/unused/s*' t.db
	[[ "$output" == *"kept: include /unused/s*"* ]]
}

@test "export --why explains left-out paths: below --keep, not in image, excluded, untouched" {
	run slimfs_export --why /etc/tool.conf --keep read t.db
	[[ "$output" == *"t.db run 1: open"* ]]
	[[ "$output" == *"left out: evidence open is below --keep read"* ]]
	run slimfs_export --why /nowhere t.db
	[[ "$output" == *"left out: not in the image"* ]]
	run slimfs_export --why /usr/bin/tool --exclude '/usr/**' t.db
	[[ "$output" == *"left out: excluded by --exclude /usr/**"* ]]
	run slimfs_export --why /unused/big t.db
	[[ "$output" == *"recorded: never"* ]]
	[[ "$output" == *"left out: no run touched it"* ]]
	run --separate-stderr slimfs_export --why usr/bin/tool t.db
	fails_one_line
}

# Images slimfs-run unpacked (CACHE/images/<sha256>/rootfs): the only ones a trace may
# name without --from.
@test "export refuses traces of different images unless --from names one" {
	export SLIMFS_CACHE=$BATS_TEST_TMPDIR/cache
	a=$SLIMFS_CACHE/images/$(printf a%.0s {1..64})/rootfs
	b=$SLIMFS_CACHE/images/$(printf b%.0s {1..64})/rootfs
	mkdir -p "$(dirname "$a")" "$b/x"
	cp -a "$IMG" "$a"
	"$MKTRACE" a.db "$a" <<< "lookup /usr/bin/tool"
	"$MKTRACE" b.db "$b" <<< "lookup /x"
	"$SLIMFS_EXPORT" -o one.tar a.db
	tar -tf one.tar | grep -qx ./usr/bin/tool
	run --separate-stderr "$SLIMFS_EXPORT" -o out.tar a.db b.db
	fails_one_line '*different images*--from*'
	[ ! -e out.tar ]
	"$SLIMFS_EXPORT" --from "$a" -o out.tar a.db b.db
	tar -tf out.tar | grep -qx ./usr/bin/tool
}

@test "export reads a trace's image only when slimfs-run unpacked it, else asks for --from" {
	export SLIMFS_CACHE=$BATS_TEST_TMPDIR/cache
	mkdir -p "$SLIMFS_CACHE"
	run --separate-stderr "$SLIMFS_EXPORT" -o out.tar t.db
	fails_one_line "*t.db: the trace names $IMG as its image*--from DIR*"
	[ ! -e out.tar ]
	"$SLIMFS_EXPORT" --from "$IMG" -o out.tar t.db
	tar -tf out.tar | grep -qx ./usr/bin/tool
}

@test "export --from takes the image from the command line" {
	cp -a "$IMG" copy
	echo changed >copy/etc/tool.conf
	slimfs_export --from "$BATS_TEST_TMPDIR/copy" -o out.tar t.db
	extract out.tar x
	[ "$(cat x/etc/tool.conf)" = changed ]
}

@test "export gives one line and non-zero for a missing, foreign or corrupt trace" {
	run --separate-stderr slimfs_export -o out.tar missing.db
	fails_one_line '*missing.db*'
	echo "not a database" >text.db
	run --separate-stderr slimfs_export -o out.tar text.db
	fails_one_line '*text.db*'
	sqlite3 foreign.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
	run --separate-stderr slimfs_export -o out.tar foreign.db
	fails_one_line '*foreign.db*'
	head -c 4096 t.db >corrupt.db
	head -c 20000 /dev/urandom >>corrupt.db
	run --separate-stderr slimfs_export -o out.tar corrupt.db
	fails_one_line '*corrupt.db*'
	run --separate-stderr slimfs_export -o out.tar t.db --from "$BATS_TEST_TMPDIR/no-such-image"
	fails_one_line '*no-such-image*'
	[ ! -e out.tar ]
	[ -z "$(ls -A | grep 'out\.tar')" ]
}

@test "export without -o, --list, --stats or --why is a usage error; --help and --version work" {
	run --separate-stderr slimfs_export t.db
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"nothing to do"* ]]
	run --separate-stderr slimfs_export
	[ "$status" -eq 2 ]
	run --separate-stderr slimfs_export --keep everything --list t.db
	[ "$status" -eq 2 ]
	run slimfs_export --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--keep"*"--include"*"--why"* ]]
	run slimfs_export --version
	[ "$status" -eq 0 ]
	[[ "$output" == "slimfs-export "* ]]
}

@test "export keeps UTF-8 and non-UTF-8 names byte for byte" {
	mkdir -p "$IMG/certs"
	echo a >"$IMG/certs/Főtanúsítvány.pem"
	ln -s Főtanúsítvány.pem "$IMG/certs/988a38cb.0"
	echo b >"$IMG/certs/"$'raw\xff'
	trace t.db <<< "lookup /certs"
	LC_ALL=C slimfs_export -q --include '/certs/**' -o out.tar t.db
	extract out.tar x
	[ "$(cat x/certs/Főtanúsítvány.pem)" = a ]
	[ "$(readlink x/certs/988a38cb.0)" = Főtanúsítvány.pem ]
	[ "$(cat x/certs/$'raw\xff')" = b ]
}

@test "export shows a progress line on a terminal after a second, and none without one" {
	# a big sparse file first (members are sorted), then enough small ones after it
	# for the progress check that runs every 64 members
	mkdir -p "$IMG/a" "$IMG/b"
	truncate -s 768M "$IMG/a/big"
	for i in $(seq 200); do echo "$i" >"$IMG/b/f$i"; done
	{ echo "read /a/big"; for i in $(seq 200); do echo "read /b/f$i"; done; } | trace p.db
	# on a terminal (script(1) gives it one); gzip of 768 MB of zeros takes seconds
	script -qec "$SLIMFS_EXPORT --from $IMG -o tty.tar.gz p.db" /dev/null >tty.out
	grep -a -q "slimfs-export: .*/.* entries, .* MB" tty.out
	# the line is erased at the end: "\r", then ESC [ K, is the last thing written
	[[ $(tail -c 4 tty.out | od -An -tx1 | tr -d ' \n') == 0d1b5b4b ]]
	# not on a pipe
	"$SLIMFS_EXPORT" --from "$IMG" -o pipe.tar.gz p.db 2>pipe.err
	[[ ! -s pipe.err ]]
	cmp <(tar -tzf tty.tar.gz) <(tar -tzf pipe.tar.gz)
}

# interrupt_export SIG OUT ARGS... — slimfs-export ARGS with -o OUT and SIG's default
# action (a background job of a script ignores SIGINT), interrupted with SIG as soon as
# OUT's stand-in exists; sets st (its status) and err (its stderr).
interrupt_export() {
	local sig=$1 out=$2 pid i
	shift 2
	env --default-signal=INT "$SLIMFS_EXPORT" --from "$IMG" -q -o "$out" "$@" 2>stderr &
	pid=$!
	for ((i = 0; i < 1000; i++)); do
		compgen -G "$out.tmp-*" >/dev/null && break
		sleep 0.01
	done
	compgen -G "$out.tmp-*" >/dev/null
	kill -"$sig" "$pid"
	st=0
	wait "$pid" || st=$?
	err=$(cat stderr)
}

@test "a signal during an export: it dies of it, in one line, and leaves neither OUT.tmp-* nor a new OUT" {
	# 64 MiB that compresses slowly (random, xz): seconds of writing, in 64 entries
	mkdir -p "$IMG/data"
	for i in $(seq 64); do
		head -c 1M /dev/urandom >"$IMG/data/f$i"
		echo "read /data/f$i"
	done | trace big.db
	echo old >out.tar.xz
	for sig in INT TERM HUP; do
		interrupt_export $sig out.tar.xz big.db
		echo "$sig: $st: $err"
		[ "$st" -eq $((128 + $(kill -l $sig))) ]
		[ "$err" = "slimfs-export: out.tar.xz: interrupted by SIG$sig; nothing written" ]
		[ "$(cat out.tar.xz)" = old ]
		[ -z "$(compgen -G 'out.tar.xz.tmp-*')" ]
	done
	# the same export, left alone, completes
	"$SLIMFS_EXPORT" --from "$IMG" -q -o out.tar.xz big.db
	[ "$(tar -tJf out.tar.xz | grep -c '^\./data/f')" -eq 64 ]
}
