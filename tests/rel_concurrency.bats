#!/usr/bin/env bats
# rel_concurrency.bats — many processes and threads reading, writing, renaming and
# stat-ing in parallel through the mount for a bounded time:
#  - stress-ng's file stressors (dir, rename, hdd with --verify, dentry, readahead...)
#    report no failure on the mount, exactly as on a plain directory, and finish before a
#    timeout (a deadlock would hit it);
#  - the trace holds every path that a parallel `strace -f -e trace=%file` of the same
#    run saw a call succeed on;
#  - a deterministic multi-process, multi-threaded workload ends in the same tree on the
#    mount as on a plain directory, and the lower tree is untouched.
# Needs stress-ng and strace (Debian packages, in the README's package list).
load helpers

STRESS_SECONDS=${SLIMFS_STRESS_SECONDS:-8}
STRESSORS=(--dir 2 --rename 2 --hdd 2 --hdd-bytes 8M --dentry 2 --readahead 1
	--readahead-bytes 16M --fstat 2 --seek 1 --seek-size 8M)

setup() {
	mount_tmp_setup /tmp/slimfs-conc.XXXXXX
	mkdir -p "$LOWER/work" "$LOWER/data" "$TMP/native/work"
	for i in $(seq 1 200); do echo "lower file $i" >"$LOWER/data/f$i"; done
	cp -a "$LOWER/data" "$TMP/native/data"
	manifest "$LOWER" >"$TMP/before"
}

teardown() {
	mount_tmp_teardown
}

# stress DIR LOG [wrapper...] — stress-ng's file stressors in DIR, bounded; exit status.
stress() {
	local dir=$1 log=$2
	shift 2
	timeout -k 10 $((STRESS_SECONDS + 90)) "$@" stress-ng "${STRESSORS[@]}" --verify \
		--temp-path "$dir" -t "$STRESS_SECONDS" --metrics-brief >"$log" 2>&1
}

@test "stress-ng file stressors pass on the mount as on a plain directory, without deadlock" {
	stress "$TMP/native/work" "$TMP/native.log"
	grep -q "successful run completed" "$TMP/native.log"
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	run stress "$MNT/work" "$TMP/mnt.log"
	cat "$TMP/mnt.log" | grep -v metrc | tail -n 20
	[ "$status" -eq 0 ]                     # 124/137: timeout, i.e. a hang
	grep -q "successful run completed" "$TMP/mnt.log"
	lacks -E "fail:|error:" "$TMP/mnt.log"
	# the mount still answers, and stress-ng cleaned up after itself
	[ "$(ls -A "$MNT/work" | wc -l)" -eq "$(ls -A "$TMP/native/work" | wc -l)" ]
	umount_slimfs "$MNT" "$TRACE"
	manifest "$LOWER" >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
}

@test "the trace holds every path a parallel strace saw succeed" {
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	# readers of lower files alongside the stressors
	( for r in 1 2 3; do
		( for i in $(seq 1 200); do cat "$MNT/data/f$i" >/dev/null; stat "$MNT/data/f$((201 - i))" >/dev/null; done ) &
	  done
	  for p in $(jobs -p); do wait "$p" || exit 1; done ) &
	readers=$!
	run stress "$MNT/work" "$TMP/mnt.log" strace -f -qq -e trace=%file -o "$TMP/strace.log"
	wait "$readers"
	[ "$status" -eq 0 ]
	grep -q "successful run completed" "$TMP/mnt.log"
	umount_slimfs "$MNT" "$TRACE"
	for i in $(seq 1 200); do echo "/data/f$i"; done >"$TMP/readers"
	# Successful path calls inside the mount, as container paths (strace's unfinished /
	# resumed halves joined per pid).
	python3 - "$TMP/strace.log" "$MNT" >"$TMP/strace_paths" <<'PY'
import os, re, sys
log, mnt = sys.argv[1], sys.argv[2]
pending, paths = {}, set()
call = re.compile(r'^(\d+)\s+(.*)$')
for line in open(log, errors="surrogateescape"):
    m = call.match(line.rstrip("\n"))
    if not m:
        continue
    pid, rest = m.groups()
    if rest.endswith("<unfinished ...>"):
        pending[pid] = rest[: -len("<unfinished ...>")]
        continue
    if rest.startswith("<... "):
        head = pending.pop(pid, None)
        if head is None:
            continue
        rest = head + rest[rest.index("resumed>") + len("resumed>"):]
    res = re.search(r'\)\s+=\s+(-?\d+|\?)', rest)
    if not res or res.group(1).startswith("-") or res.group(1) == "?":
        continue
    name = rest.split("(", 1)[0]
    if name in ("statfs", "getcwd", "execve"):
        continue
    # absolute path arguments (AT_FDCWD or no dirfd); relative-to-fd ones are skipped
    for p in re.findall(r'"((?:[^"\\]|\\.)*)"', rest):
        if p == mnt or not p.startswith(mnt + "/"):
            continue
        if "\\" in p:
            continue
        # "x/." and "x/.." name x and its parent: no symlinks in this tree
        paths.add(os.path.normpath(p[len(mnt):]))
for p in sorted(paths):
    print(p)
PY
	sqlite3 "$TRACE" "SELECT DISTINCT path FROM event_paths" | sort -u >"$TMP/recorded"
	sort -u "$TMP/strace_paths" >"$TMP/expected"
	echo "# strace saw $(wc -l <"$TMP/expected") paths succeed; the trace holds $(wc -l <"$TMP/recorded") paths" >&3
	[ "$(wc -l <"$TMP/expected")" -gt 1000 ]
	comm -23 "$TMP/expected" "$TMP/recorded" >"$TMP/missing"
	head -n 20 "$TMP/missing"
	[ ! -s "$TMP/missing" ]
	comm -23 <(sort -u "$TMP/readers") "$TMP/recorded" >"$TMP/missing_readers"
	[ ! -s "$TMP/missing_readers" ]
}

# The deterministic workload: P processes x T threads; each thread owns its files and
# writes, appends, renames, stats, reads back and deletes them; every thread also lists
# and reads the shared lower files.  Prints one line per thread (what it saw).
parallel_workload() {
	python3 - "$1" <<'PY'
import os, sys, threading
from concurrent.futures import ProcessPoolExecutor
root = sys.argv[1]
def thread(p, t, out):
    me = f"{root}/work/p{p}t{t}"
    os.mkdir(me)
    seen = 0
    for i in range(60):
        f = f"{me}/f{i}"
        with open(f, "w") as fh:
            fh.write(f"{p}.{t}.{i}\n" * (i + 1))
        with open(f, "a") as fh:
            fh.write("tail\n")
        os.rename(f, f + ".r")
        st = os.stat(f + ".r")
        with open(f + ".r") as fh:
            data = fh.read()
        assert st.st_size == len(data), (f, st.st_size, len(data))
        if i % 3 == 0:
            os.unlink(f + ".r")
        if i % 10 == 0:
            seen += len(os.listdir(f"{root}/data"))
            with open(f"{root}/data/f{i + 1}") as fh:
                seen += len(fh.read())
    os.rename(me, me + ".done")
    out.append(f"p{p}t{t} {len(os.listdir(me + '.done'))} {seen}")
def proc(p):
    out = []
    ts = [threading.Thread(target=thread, args=(p, t, out)) for t in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    return sorted(out)
with ProcessPoolExecutor(6) as ex:
    for lines in ex.map(proc, range(6)):
        print("\n".join(lines))
PY
}

@test "a parallel multi-threaded workload ends in the same tree as on a plain directory" {
	timeout 120 bash -c "$(declare -f parallel_workload); parallel_workload '$TMP/native'" >"$TMP/native.out"
	mount_slimfs "$LOWER" "$MNT" "$TRACE"
	run timeout 120 bash -c "$(declare -f parallel_workload); parallel_workload '$MNT'"
	[ "$status" -eq 0 ]
	echo "$output" >"$TMP/mnt.out"
	diff -u "$TMP/native.out" "$TMP/mnt.out"
	[ "$(wc -l <"$TMP/mnt.out")" -eq 24 ]
	manifest "$TMP/native/work" | cut -d' ' -f1-3,5 >"$TMP/native.tree"
	manifest "$MNT/work" | cut -d' ' -f1-3,5 >"$TMP/mnt.tree"
	umount_slimfs "$MNT" "$TRACE"
	diff -u "$TMP/native.tree" "$TMP/mnt.tree"
	manifest "$LOWER" >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
}
