#!/usr/bin/env bats
# run_basic.bats — slimfs-run: the container it makes, the trace it leaves, image
# tarballs, bad input; the key cases with both runtimes.
load run_helpers

setup() {
	run_setup
}

teardown() {
	assert_nothing_left
}

# ---- built-in runtime -------------------------------------------------------------

@test "exit status of CMD passes through" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
}

@test "stdin and stdout pass through" {
	run bash -c "printf 'one\ntwo\n' | '$SLIMFS_RUN' --trace t.db '$ROOTFS' -- sort -r"
	[ "$status" -eq 0 ]
	[ "$output" = $'two\none' ]
}

@test "--env --workdir --user --hostname reach CMD" {
	run slimfs_run --trace t.db --env FOO=bar --env PATH=/usr/bin:/bin --workdir /usr/share \
		--user 1000:1001 --hostname box "$ROOTFS" -- \
		sh -c 'echo "$FOO $PATH"; pwd; id -u; id -g; hostname; echo "$HOME"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "bar /usr/bin:/bin" ]
	[ "${lines[1]}" = "/usr/share" ]
	[ "${lines[2]}" = "1000" ]
	[ "${lines[3]}" = "1001" ]
	[ "${lines[4]}" = "box" ]
	[ "${lines[5]}" = "/" ]
}

@test "default environment, hostname and user" {
	run env -i TERM=xterm "$SLIMFS_RUN" --trace t.db "$ROOTFS" -- sh -c 'env | sort; hostname; id -u'
	[ "$status" -eq 0 ]
	[[ $output == *"HOME=/root"* ]]
	[[ $output == *"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"* ]]
	[[ $output == *"TERM=xterm"* ]]
	[ "${lines[-2]}" = "slimfs" ]
	[ "${lines[-1]}" = "0" ]
}

@test "--user takes home and group from the image's passwd" {
	run slimfs_run --trace t.db --user 8 "$ROOTFS" -- sh -c 'echo "$HOME"; id -g'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(awk -F: '$3 == 8 { print $6 }' "$ROOTFS/etc/passwd")" ]
	[ "${lines[1]}" = "$(awk -F: '$3 == 8 { print $4 }' "$ROOTFS/etc/passwd")" ]
}

@test "--net none has only lo, and it is up" {
	run slimfs_run --trace t.db --net none "$ROOTFS" -- sh -c 'ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "lo" ]
	[ "${#lines[@]}" -eq 3 ]
	(( ${lines[2]} & 1 ))   # IFF_UP
}

@test "host network by default" {
	run slimfs_run --trace t.db "$ROOTFS" -- ls /sys/class/net
	[ "$status" -eq 0 ]
	[ "$output" = "$(ls /sys/class/net)" ]
}

@test "CMD runs under a pid 1 of its own PID namespace" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'echo $$; cut -d" " -f4 /proc/$$/stat; ls -d /proc/[0-9]* | wc -l'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" -eq 2 ]     # CMD, the child of the runner's init
	[ "${lines[1]}" -eq 1 ]     # its parent is pid 1
	[ "${lines[2]}" -le 5 ]     # init, sh, ls, wc (+ a subshell): no host process
}

@test "/proc /dev /sys work inside, /sys read-only" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c '
		grep -q "^Name:" /proc/self/status && echo proc
		echo x >/dev/null && head -c 5 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c
		test -c /dev/ptmx -o -L /dev/ptmx && test -d /dev/pts && test -d /dev/shm && echo dev
		readlink /dev/fd
		touch /sys/x 2>/dev/null || echo sys-ro'
	[ "$status" -eq 0 ]
	[ "$output" = $'proc\n5\n3\ndev\n/proc/self/fd\nsys-ro' ]
}

@test "CMD can write where the image allows, the image is not modified" {
	before=$(stat -c %Y "$ROOTFS/tmp")
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'echo hi >/tmp/run-basic-x && cat /tmp/run-basic-x'
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]
	[ ! -e "$ROOTFS/tmp/run-basic-x" ]
	[ "$(stat -c %Y "$ROOTFS/tmp")" = "$before" ]
}

@test "--upper keeps what CMD wrote" {
	mkdir up
	run slimfs_run --trace t.db --upper up "$ROOTFS" -- sh -c 'echo kept >/tmp/run-basic-up'
	[ "$status" -eq 0 ]
	[ "$(cat up/tmp/run-basic-up)" = "kept" ]
}

@test "nothing is left mounted after a run" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'grep -c " / " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	assert_nothing_left
}

@test "SIGTERM to the runner reaches CMD and leaves nothing mounted" {
	term_reaches_cmd
	# the trace was completed although the run was cut short
	[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NOT NULL')" -eq 1 ]
}

@test "a dead slimfs daemon stops CMD and fails the run" {
	# the workload ignores every error, so only the runner can end it
	"$SLIMFS_RUN" --trace "$PWD/t.db" "$ROOTFS" -- sh -c 'echo ready; while :; do cat /etc/os-release >/dev/null 2>&1; sleep 0.05; done' >out 2>err &
	pid=$!
	wait_ready out
	daemon=
	for p in $(pgrep -x slimfs); do
		grep -qF -- "$PWD/t.db" "/proc/$p/cmdline" && daemon=$p
	done
	[ -n "$daemon" ] || { kill -KILL "$pid"; false; }
	kill -KILL "$daemon"
	st=0 && timeout 20 tail --pid="$pid" -f /dev/null || st=$?
	[ "$st" -eq 0 ] || { kill -KILL "$pid"; false; }
	st=0 && wait "$pid" || st=$?
	[ "$st" -eq 125 ]
	# one line from the runner (the workload's own complaints may come before it)
	[ "$(grep -c '^slimfs-run:' err)" -eq 1 ]
	tail -n 1 err | grep -q "^slimfs-run: the slimfs daemon died during the run"
	assert_nothing_left
}

@test "SIGTERM while a tarball is unpacked ends the run and leaves no cache entry" {
	many_files_tar many.tar
	"$SLIMFS_RUN" --trace t.db many.tar -- sh -c true >out 2>err &
	pid=$!
	for _ in $(seq 200); do
		compgen -G "$SLIMFS_CACHE/images/.tmp-*/rootfs/usr/d1" >/dev/null && break
		sleep 0.05
	done
	kill -TERM "$pid"
	st=0 && timeout 30 tail --pid="$pid" -f /dev/null || st=$?
	[ "$st" -eq 0 ] || { kill -KILL "$pid"; false; }
	st=0 && wait "$pid" || st=$?
	cat err
	[ "$st" -eq 143 ]
	[ "$(cat err)" = "slimfs-run: many.tar: interrupted by signal 15 while unpacking it" ]
	[ -z "$(ls -A "$SLIMFS_CACHE/images" | grep -v '^\.lock$')" ]
	[ ! -e t.db ]
}

@test "SIGTERM or SIGINT while the daemon mounts ends the run and stops the daemon" {
	# the daemon signals the runner, then never mounts (never writes its ready byte)
	fake_daemon 'echo $$ >"$(dirname "$0")/daemon.pid"; kill -"$SIG" $PPID; exec sleep 60'
	for sig in TERM INT; do
		rm -f fake/fs/daemon.pid
		st=0 && SIG=$sig timeout -s KILL 30 "$FAKE_RUN" --trace t.db "$ROOTFS" -- true >out 2>err ||
			st=$?
		cat err
		[ "$st" -eq $((128 + $(kill -l "$sig"))) ]
		grep -q "^slimfs-run: interrupted by signal $(kill -l "$sig") while mounting $ROOTFS" err
		daemon=$(cat fake/fs/daemon.pid)
		run ! kill -0 "$daemon"
		assert_nothing_left
	done
}

@test "SIGTERM right after the mount, before CMD exists, ends the run cleanly" {
	# the real daemon; once it is mounted (its ready byte), the runner gets SIGTERM
	fake_daemon 'runner=$PPID; exec 5>&3; exec "$REAL_SLIMFS" "$@" 3> >(head -c1 >&5; exec 5>&-; kill -TERM $runner)'
	for rt in builtin runc; do
		st=0 && timeout -s KILL 60 "$FAKE_RUN" --runtime "$rt" --trace "$PWD/t.db" "$ROOTFS" -- \
			sleep 60 >out 2>err || st=$?
		[ "$st" -eq 143 ]
		assert_nothing_left
	done
	[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NOT NULL')" -eq 2 ]
}

# kill_runner_9 [slimfs-run options] — SIGKILL to a slimfs-run whose CMD runs: nothing
# of the container is left running, and the daemon completes the trace.
kill_runner_9() {
	local cmd
	"$SLIMFS_RUN" "$@" --trace "$PWD/t.db" "$ROOTFS" -- sh -c 'echo ready; exec sleep 86398' \
		>out 2>err &
	pid=$!
	wait_ready out
	# "ready" is printed just before the exec: wait for the sleep itself
	for _ in $(seq 100); do
		cmd=$(pgrep -fx 'sleep 86398') && break
		sleep 0.1
	done
	[ "$(wc -w <<<"$cmd")" -eq 1 ] || { kill -KILL "$pid" $cmd; false; }
	kill -KILL "$pid"
	for _ in $(seq 100); do
		{ ! kill -0 "$cmd" 2>/dev/null && assert_nothing_left; } && break
		sleep 0.1
	done
	# (a CMD that outlived the runner is killed here, so it does not outlive the test)
	if kill -0 "$cmd" 2>/dev/null; then kill -KILL "$cmd"; false; fi
	assert_nothing_left
	timeout 30 flock t.db true
	[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NOT NULL')" -eq 1 ]
	[ "$(sqlite3 t.db 'PRAGMA integrity_check')" = ok ]
}

@test "SIGKILL of the runner leaves nothing of the container running" {
	kill_runner_9
}

@test "runc: SIGKILL of the runner leaves nothing of the container running" {
	kill_runner_9 --runtime runc
	# and the next run removes the cgroups runc made for the dead one
	slimfs_run --runtime runc --trace t.db "$ROOTFS" -- true
	[ -z "$(find /sys/fs/cgroup -maxdepth 2 -name "slimfs-$pid")" ]
}

# A closed fd 0, 1 or 2 must not be taken by a pipe or file of the runner's (the ready
# pipe on fd 0 used to hang the run); `timeout` turns a hang into a failure.
@test "slimfs-run and --check work whatever fds 0-2 are: closed, one file, a pipe" {
	tiny_rootfs image
	cp -a image lean
	for rt in builtin runc; do
		# stdin closed: CMD reads an empty stdin
		run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --runtime $rt --trace t.db '$ROOTFS' -- sh -c 'cat; echo done' <&-"
		[ "$status" -eq 0 ]
		[ "$output" = done ]
		# stdout closed: stderr still works
		run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --runtime $rt --trace t.db '$ROOTFS' -- sh -c 'echo err >&2; exit 4' >&-"
		[ "$status" -eq 4 ]
		[ "$output" = err ]
		# stderr closed
		run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --runtime $rt --trace t.db '$ROOTFS' -- sh -c 'echo out; exit 5' 2>&-"
		[ "$status" -eq 5 ]
		[ "$output" = out ]
		# all three closed
		run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --runtime $rt --trace t.db '$ROOTFS' -- sh -c 'exit 6' <&- >&- 2>&-"
		[ "$status" -eq 6 ]
		# stdout and stderr one file, stdin a pipe
		run timeout -s KILL 60 bash -c "echo piped | '$SLIMFS_RUN' --runtime $rt --trace t.db '$ROOTFS' -- sh -c 'cat; echo e >&2' >both 2>&1; cat both"
		[ "$status" -eq 0 ]
		[ "$output" = $'piped\ne' ]
	done
	run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --check lean image -- cat /etc-motd <&- 2>&-"
	[ "$status" -eq 0 ]
	[[ $output == "slimfs-run: check passed:"* ]]
	run timeout -s KILL 60 bash -c "'$SLIMFS_RUN' --check lean image -- cat /etc-motd <&- >&- 2>&-"
	[ "$status" -eq 0 ]
	run timeout -s KILL 60 bash -c "rm lean/etc-motd; '$SLIMFS_RUN' --check lean image -- cat /etc-motd <&- 2>&- | cat"
	[ "$status" -eq 0 ]
	[[ $output == *"check FAILED"* ]]
	[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NOT NULL')" -eq 10 ]
}

@test "CMD killed by the forwarded signal gives 128+N" {
	"$SLIMFS_RUN" --trace t.db "$ROOTFS" -- sh -c 'echo ready; exec sleep 60' >out 2>&1 &
	pid=$!
	wait_ready out
	sleep 0.2
	kill -INT "$pid"
	st=0 && wait "$pid" || st=$?
	[ "$st" -eq 130 ]
}

@test "processes CMD leaves behind are killed with it" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'sleep 1234 & echo started'
	[ "$status" -eq 0 ]
	sleep 0.2
	! pgrep -x -f 'sleep 1234'
}

# ---- the trace ----------------------------------------------------------------------

@test "trace has a finished run with the command line" {
	run slimfs_run --trace t.db "$ROOTFS" -- sh -c 'cat /etc/hostname'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 t.db 'SELECT command FROM runs')" = "sh -c cat /etc/hostname" ]
	[ "$(sqlite3 t.db 'SELECT ended_ns > started_ns FROM runs')" = "1" ]
	[ "$(sqlite3 t.db 'SELECT lowerdir FROM runs')" = "$(realpath "$ROOTFS")" ]
	has_read t.db /etc/hostname
	has_event t.db /usr/bin/cat exec || has_event t.db /usr/bin/cat open
}

@test "FUSE passthrough by default, and off with --no-passthrough" {
	slimfs_run --trace t.db "$ROOTFS" -- cat /etc/hostname
	slimfs_run --trace t.db --no-passthrough "$ROOTFS" -- cat /etc/hostname
	[ "$(sqlite3 t.db "SELECT group_concat(run) FROM event_paths WHERE path = '/etc/hostname' AND op = 'passthrough'")" = 1 ]
	[ "$(sqlite3 t.db "SELECT group_concat(run) FROM event_paths WHERE path = '/etc/hostname' AND op = 'read'")" = 2 ]
}

@test "the default trace is ./slimfs-trace.db" {
	run slimfs_run "$ROOTFS" -- true
	[ "$status" -eq 0 ]
	[ "$(sqlite3 slimfs-trace.db 'SELECT count(*) FROM runs')" -eq 1 ]
}

@test "several runs append to one trace" {
	slimfs_run --trace t.db "$ROOTFS" -- cat /etc/hostname
	slimfs_run --trace t.db "$ROOTFS" -- cat /etc/debian_version
	[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NOT NULL')" -eq 2 ]
	[ "$(sqlite3 t.db "SELECT run FROM event_paths WHERE path = '/etc/hostname' AND $READ_OPS")" = 1 ]
	[ "$(sqlite3 t.db "SELECT run FROM event_paths WHERE path = '/etc/debian_version' AND $READ_OPS")" = 2 ]
}

# ---- image tarballs -----------------------------------------------------------------

@test "a tarball ROOTFS is unpacked once into the root-only cache" {
	tiny_rootfs tiny
	tar -C tiny -cf tiny.tar .
	digest=$(sha256sum tiny.tar | cut -d' ' -f1)
	run slimfs_run --trace t.db tiny.tar -- cat /etc-motd
	[ "$status" -eq 0 ]
	[ "$output" = "tiny image" ]
	[ -d "$SLIMFS_CACHE/images/$digest/rootfs/usr/bin" ]
	[ "$(sqlite3 t.db 'SELECT lowerdir FROM runs')" = "$SLIMFS_CACHE/images/$digest/rootfs" ]
	# root's alone: an image's setuid binaries and device nodes are no one else's
	[ "$(stat -c %a:%u "$SLIMFS_CACHE/images")" = 700:0 ]
	[ "$(stat -c %a:%u "$SLIMFS_CACHE/images/$digest")" = 700:0 ]
	# a second run uses the cached tree as it is: it is not unpacked again
	echo cached >"$SLIMFS_CACHE/images/$digest/rootfs/marker"
	run slimfs_run --trace t.db tiny.tar -- cat /marker
	[ "$status" -eq 0 ]
	[ "$output" = "cached" ]
	[ "$(ls "$SLIMFS_CACHE/images" | wc -l)" -eq 1 ]
}

@test "compressed tarballs (.tar.gz .tar.zst .tar.xz) are read" {
	tiny_rootfs tiny
	tar -C tiny -czf tiny.tar.gz .
	tar -C tiny --zstd -cf tiny.tar.zst .
	tar -C tiny -cJf tiny.tar.xz .
	for t in tiny.tar.gz tiny.tar.zst tiny.tar.xz; do
		run slimfs_run --trace t.db "$t" -- cat /etc-motd
		[ "$status" -eq 0 ]
		[ "$output" = "tiny image" ]
	done
	[ "$(ls "$SLIMFS_CACHE/images" | wc -l)" -eq 3 ]
}

@test "unsafe tarballs are refused" {
	mkdir victim
	python3 - "$PWD" <<'PY'
import io, sys, tarfile
here = sys.argv[1]
def member(t, name, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, link
    if kind == tarfile.REGTYPE:
        ti.size = 4
        t.addfile(ti, io.BytesIO(b"evil"))
    else:
        t.addfile(ti)
cases = {
    "dotdot": [("usr/../../victim/dotdot",)],
    "absolute": [(here + "/victim/absolute",)],
    "hardlink": [("usr/pw", tarfile.LNKTYPE, "../../../../../../etc/passwd")],
    "symlink": [("usr/l", tarfile.SYMTYPE, here + "/victim"), ("usr/l/symlink",)],
}
for name, members in cases.items():
    with tarfile.open(f"{name}.tar", "w") as t:
        member(t, "usr/", tarfile.DIRTYPE)
        for m in members:
            member(t, *m)
PY
	for t in dotdot absolute hardlink symlink; do
		run slimfs_run --trace t.db "$t.tar" -- sh -c true
		[ "$status" -eq 125 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ $output == "slimfs-run: $t.tar: "* ]]
	done
	[ -z "$(ls victim)" ]
	[ -z "$(ls "$SLIMFS_CACHE/images")" ]
	[ ! -e t.db ]
}

@test "a tarball that is no root file system is refused" {
	mkdir notroot; echo x >notroot/file
	tar -C notroot -cf notroot.tar .
	run slimfs_run --trace t.db notroot.tar -- sh -c true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: notroot.tar: not a root filesystem (no usr/ or bin/)" ]
	[ -z "$(ls "$SLIMFS_CACHE/images")" ]
}

@test "a corrupt tarball is refused" {
	head -c 20000 /dev/urandom >corrupt.tar
	run slimfs_run --trace t.db corrupt.tar -- sh -c true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "slimfs-run: corrupt.tar: "* ]]
}

# ---- bad input ----------------------------------------------------------------------

@test "bad input: missing ROOTFS" {
	run slimfs_run --trace t.db /nonexistent -- true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: /nonexistent: No such file or directory" ]
	[ ! -e t.db ]
}

@test "bad input: ROOTFS is not a root filesystem" {
	mkdir empty
	run slimfs_run --trace t.db empty -- true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: empty: not a root filesystem (no usr/ or bin/)" ]
}

@test "bad input: CMD not found in the image" {
	run -127 slimfs_run --trace t.db "$ROOTFS" -- no-such-command arg
	[ "$status" -eq 127 ]
	[ "$output" = "slimfs-run: no-such-command: not found in image" ]
	run -127 slimfs_run --trace t.db "$ROOTFS" -- /usr/bin/no-such-command
	[ "$status" -eq 127 ]
	[ "$output" = "slimfs-run: /usr/bin/no-such-command: not found in image" ]
	# on the host, but not in the image
	run -127 slimfs_run --trace t.db "$ROOTFS" -- bats --version
	[ "$status" -eq 127 ]
}

@test "bad input: a trace that cannot be written" {
	run slimfs_run --trace /nonexistent-dir/t.db "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == "slimfs-run: /nonexistent-dir/t.db: cannot write trace"* ]]
	echo "not a trace" >foreign.db
	run slimfs_run --trace foreign.db "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[ "$(cat foreign.db)" = "not a trace" ]
}

@test "bad input: usage errors" {
	run slimfs_run
	[ "$status" -eq 125 ]
	[[ $output == *"expected IMAGE [-- CMD [ARG...]]"* ]]
	# a directory has no Entrypoint or Cmd of its own
	run slimfs_run --trace t.db "$ROOTFS"
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: no command: a directory or tarball has no Entrypoint or Cmd; give one after --" ]
	run slimfs_run --runtime docker "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	run slimfs_run --user :0 "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	# a user the image does not know: 126, as podman's
	run slimfs_run --trace t.db --user no-such-user "$ROOTFS" -- true
	[ "$status" -eq 126 ]
	[ "$output" = "slimfs-run: unable to find user no-such-user: no matching entries in the image's /etc/passwd" ]
	[ ! -e t.db ]
	run slimfs_run --workdir relative "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	run slimfs_run --help
	[ "$status" -eq 0 ]
	[[ $output == *"--runtime"* ]]
}

# ---- runc ---------------------------------------------------------------------------

@test "runc: exit status, stdin and stdout pass through" {
	run slimfs_run --runtime runc --trace t.db "$ROOTFS" -- sh -c 'exit 9'
	[ "$status" -eq 9 ]
	run bash -c "printf 'one\ntwo\n' | '$SLIMFS_RUN' --runtime runc --trace t.db '$ROOTFS' -- sort -r"
	[ "$status" -eq 0 ]
	[ "$output" = $'two\none' ]
}

@test "runc: --env --workdir --user --hostname reach CMD" {
	run slimfs_run --runtime runc --trace t.db --env FOO=bar --workdir /usr/share \
		--user 1000:1001 --hostname box "$ROOTFS" -- \
		sh -c 'echo "$FOO"; pwd; id -u; id -g; hostname'
	[ "$status" -eq 0 ]
	[ "$output" = $'bar\n/usr/share\n1000\n1001\nbox' ]
}

@test "runc: own PID namespace, /proc /dev /sys, --net none" {
	run slimfs_run --runtime runc --trace t.db --net none "$ROOTFS" -- sh -c '
		echo $$; ls /sys/class/net; echo x >/dev/null && head -c 5 /dev/zero | wc -c
		touch /sys/x 2>/dev/null || echo sys-ro'
	[ "$status" -eq 0 ]
	[ "$output" = $'1\nlo\n5\nsys-ro' ]
}

@test "runc: trace has a finished run, nothing left mounted, no container left" {
	run slimfs_run --runtime runc --trace t.db "$ROOTFS" -- cat /etc/hostname
	[ "$status" -eq 0 ]
	[ "$(sqlite3 t.db 'SELECT ended_ns > started_ns FROM runs')" = "1" ]
	has_read t.db /etc/hostname
	assert_nothing_left
	run ! pgrep -f "runc --root $RUN_STATE/"
}

@test "runc: SIGTERM to the runner reaches CMD" {
	term_reaches_cmd --runtime runc
}

@test "runc: CMD not found in the image" {
	run -127 slimfs_run --runtime runc --trace t.db "$ROOTFS" -- no-such-command
	[ "$status" -eq 127 ]
	[ "$output" = "slimfs-run: no-such-command: not found in image" ]
}

@test "runc not installed when asked for" {
	run env PATH=/nonexistent "$SLIMFS_RUN" --runtime runc --trace t.db "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: runc: not installed (no runc on PATH)" ]
	[ ! -e t.db ]
}

# ---- --check ------------------------------------------------------------------------

@test "--check passes on an identical directory and leaves both images untouched" {
	tiny_rootfs image
	cp -a image lean
	before=$(manifest image)
	run slimfs_run --check lean image -- sh -c 'cat /etc-motd; echo x >/tmp/written'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]   # CMD's stdout is compared, not shown
	[[ ${lines[-1]} == "slimfs-run: check passed: exit status 0 and 11 bytes of stdout identical in image and lean" ]]
	[ "$(manifest image)" = "$before" ]
	[ ! -e lean/tmp/written ]
	[ ! -e slimfs-trace.db ]
}

@test "--check prints a unified diff and fails when stdout differs" {
	tiny_rootfs image
	cp -a image lean
	echo "lean image" >lean/etc-motd
	run slimfs_run --check lean image -- cat /etc-motd
	[ "$status" -eq 1 ]
	[[ $output == *"-tiny image"* ]]
	[[ $output == *"+lean image"* ]]
	[ "${lines[-1]}" = "slimfs-run: check FAILED: stdout differs (exit status 0 in both)" ]
}

@test "--check fails when the exit status differs" {
	tiny_rootfs image
	cp -a image lean
	rm lean/etc-motd
	run slimfs_run --check lean image -- cat /etc-motd
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "slimfs-run: check FAILED: exit status 0 in image, 1 in lean; stdout differs" ]]
}
