# run_helpers.bash — shared by tests/run_*.bats and tests/e2e_*.bats (slimfs-run).
load helpers

# The runner's mount points and bundles (on a tmpfs of its own mount namespace).
RUN_STATE=/run/slimfs

# Sets ROOTFS to the shared Debian root fs (read-only!), then points SLIMFS_CACHE at a
# private cache so image tarballs unpacked by tests never land in /var/cache/slimfs.
run_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	ROOTFS=$(rootfs)
	export SLIMFS_CACHE=$BATS_TEST_TMPDIR/cache
	RUN_STATE_BEFORE=$(ls /run/slimfs 2>/dev/null || true)
}

slimfs_run() {
	"$SLIMFS_RUN" "$@"
}

# wait_ready FILE — until CMD has written "ready" to FILE, at most 10 s (a CMD that never
# does fails the test's own checks).
wait_ready() {
	for _ in $(seq 100); do
		grep -q ready "$1" && break
		sleep 0.1
	done
}

# term_reaches_cmd [slimfs-run options...] — SIGTERM to a slimfs-run (trace t.db, output
# in ./out) reaches CMD, which traps it and exits 3, and nothing is left mounted.
term_reaches_cmd() {
	local pid st=0
	"$SLIMFS_RUN" "$@" --trace t.db "$ROOTFS" -- \
		sh -c 'trap "echo got-term; exit 3" TERM; echo ready; sleep 60 & wait' >out 2>&1 &
	pid=$!
	wait_ready out
	kill -TERM "$pid"
	wait "$pid" || st=$?
	[ "$st" -eq 3 ]
	grep -q got-term out
	assert_nothing_left
}

# Every mount, daemon and directory a run makes must be gone after it.  (Other slimfs
# mounts on the machine are not ours: only what slimfs-run makes is looked at.)
assert_nothing_left() {
	local now
	# (each check returns: teardown calls this with errexit off)
	lacks -F ' /run/slimfs/' /proc/self/mountinfo || return 1
	[ -z "$(pgrep -f -- "--trace $BATS_TEST_TMPDIR/")" ] || return 1
	# runc, with its state in a bundle of ours (the runner's private /run/slimfs)
	[ -z "$(pgrep -f -- "runc --root $RUN_STATE/")" ] || return 1
	now=$(ls /run/slimfs 2>/dev/null || true)
	[ -z "$(comm -13 <(echo "$RUN_STATE_BEFORE") <(echo "$now"))" ]
}

# tiny_rootfs DIR — a root file system with dash as /usr/bin/sh plus cat, and the
# libraries they need, copied from the host (small enough to tar in every test).
tiny_rootfs() {
	local dir=$1 f
	mkdir -p "$dir"/usr/bin "$dir"/proc "$dir"/dev "$dir"/sys "$dir"/tmp
	ln -s usr/bin "$dir"/bin
	cp /bin/dash "$dir"/usr/bin/sh
	cp /bin/cat "$dir"/usr/bin/cat
	for f in $(ldd /bin/dash /bin/cat | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
		cp -L --parents "$f" "$dir"/usr
	done
	# the loader and libc live under /lib*; point those at usr/ as Debian does
	for f in lib lib64; do
		if [[ -d $dir/usr/$f && ! -e $dir/$f ]]; then ln -s usr/$f "$dir"/$f; fi
	done
	echo "tiny image" >"$dir"/etc-motd
}

# fake_daemon SCRIPT — a copy of slimfs-run in ./fake/run whose daemon (../fs/slimfs
# next to it) is the bash SCRIPT; $FAKE_RUN is the copy.  The script gets the daemon's
# arguments (the ready pipe is its fd 3) and $REAL_SLIMFS, the real daemon.
fake_daemon() {
	mkdir -p fake/run fake/fs
	cp "$SLIMFS_RUN" fake/run/slimfs-run
	{ echo '#!/bin/bash'; echo "REAL_SLIMFS=$SLIMFS"; echo "$1"; } >fake/fs/slimfs
	chmod +x fake/fs/slimfs
	FAKE_RUN=$PWD/fake/run/slimfs-run
}

# many_files_tar FILE — an image tarball of 40,000 small files (seconds to unpack).
many_files_tar() {
	python3 - "$1" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    def d(name):
        i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
    d("usr/"); d("usr/bin/")
    for n in range(40000):
        if n % 1000 == 0:
            d(f"usr/d{n // 1000}/")
        i = tarfile.TarInfo(f"usr/d{n // 1000}/f{n}"); i.size = 1
        t.addfile(i, io.BytesIO(b"x"))
PY
}
