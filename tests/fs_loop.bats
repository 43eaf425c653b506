#!/usr/bin/env bats
# fs_loop.bats — the /dev/fuse request loop (fs/loop.c) keeps a request on its caller's
# CPU as far as Linux allows: its "slimfs-fuse" threads are pinned, four per CPU (ten at
# least); a caller's requests wake the threads of its own CPU (the wait queue is
# reordered for it); a thread replies at SCHED_IDLE, so the caller stays on that CPU,
# and sleeps at normal priority, so a busy machine serves it as before.
#
# Which thread answered is counted exactly: each reply through /dev/fuse is one
# writev(2) (syscw in the thread's /proc io); negative lookups make no inodes, so the
# kernel sends no FORGET.
load fs_common

setup() {
	mount_tmp_setup /tmp/slimfs-loop.XXXXXX
	mkdir -p "$LOWER/etc"
	echo data >"$LOWER/etc/data"
}

teardown() {
	mount_tmp_teardown
}

# fuse_threads PID — "TID CPU-LIST" for each of PID's /dev/fuse threads.
fuse_threads() {
	local t
	for t in $(tasks_named "$1" slimfs-fuse); do
		echo "${t##*/} $(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status")"
	done
}

# replies_on PID CPU — replies written by PID's /dev/fuse threads pinned to CPU.
replies_on() {
	local tid cpu n=0
	while read -r tid cpu; do
		[[ $cpu == "$2" ]] || continue
		n=$((n + $(awk '/^syscw:/ { print $2 }' /proc/"$1"/task/"$tid"/io)))
	done < <(fuse_threads "$1")
	echo "$n"
}

# cpus — the CPUs this shell may run on, one per line (the daemon inherits them).
cpus() {
	taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' |
		awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }'
}

@test "four /dev/fuse threads per CPU, ten at least, each pinned to one CPU" {
	local n want c
	n=$(cpus | wc -l)
	want=$((4 * n > 10 ? 4 * n : 10))
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=off
	fuse_threads "$daemon_pid" >"$TMP/threads"
	[ "$(wc -l <"$TMP/threads")" -eq "$want" ]
	if ((n > 1)); then
		for c in $(cpus); do
			[ "$(awk -v c="$c" '$2 == c' "$TMP/threads" | wc -l)" -ge 4 ]
		done
		[ "$(awk '{ print $2 }' "$TMP/threads" | sort -u | wc -l)" -eq "$n" ]
	fi
}

@test "a caller's requests are answered by the threads of its own CPU" {
	local c here all
	(($(cpus | wc -l) > 1)) || skip "one CPU: nothing to steer"
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=off
	for c in $(cpus | head -2); do
		here=$(replies_on "$daemon_pid" "$c")
		all=$(dev_total "$daemon_pid")
		taskset -c "$c" "$(fs_probe)" $(for i in $(seq 500); do echo "miss:$MNT/nx$c-$i"; done)
		here=$(($(replies_on "$daemon_pid" "$c") - here))
		all=$(($(dev_total "$daemon_pid") - all))
		echo "CPU $c: $here of $all replies by its own threads" >&2
		[ "$all" -ge 500 ]
		[ $((here * 10)) -ge $((all * 8)) ]
	done
}

# dev_total PID — replies written by all of PID's /dev/fuse threads.
dev_total() {
	tasks_named "$1" slimfs-fuse | sed 's,$,/io,' | xargs -r cat |
		awk '/^syscw:/ { n += $2 } END { print n + 0 }'
}

# idle_calls CPU — the daemon's switches to SCHED_IDLE (sched_setscheduler calls, by
# strace) while a caller on CPU makes 2000 negative lookups; then, asleep, every thread
# must be back at normal priority.  (Sampling the threads' policy missed them on a busy
# machine: a thread is SCHED_IDLE only from a reply until it finds no next request.)
idle_calls() {
	local c=$1 tid log=$BATS_TEST_TMPDIR/sched.log strace_pid
	strace -f -qq -o "$log" -e trace=sched_setscheduler -p "$daemon_pid" &
	strace_pid=$!
	# attached once every thread has a tracer (else a count of 0 would prove nothing)
	for _ in $(seq 100); do
		grep -q '^TracerPid:[[:space:]]*0$' /proc/"$daemon_pid"/task/*/status || break
		sleep 0.05
	done
	if grep -q '^TracerPid:[[:space:]]*0$' /proc/"$daemon_pid"/task/*/status; then
		kill "$strace_pid"
		return 1
	fi
	taskset -c "$c" "$(fs_probe)" $(for i in $(seq 2000); do echo "miss:$MNT/busy$i"; done) >/dev/null
	sleep 0.5
	kill -INT "$strace_pid"
	wait "$strace_pid" || true
	grep -c 'SCHED_IDLE' "$log" || true
	for tid in $(fuse_threads "$daemon_pid" | awk '{ print $1 }'); do
		chrt -p "$tid" | grep -q "policy: SCHED_OTHER" || return 1
	done
}

@test "a thread replies at SCHED_IDLE and sleeps at normal priority" {
	local idle
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=off
	# each reply is written at SCHED_IDLE (a thread that finds the caller's next
	# request stays so); asleep, every thread is back at normal priority
	idle=$(idle_calls "$(cpus | head -1)")
	echo "switched to SCHED_IDLE $idle times" >&2
	[ "$idle" -gt 0 ]
}

@test "where a thread could not leave SCHED_IDLE (no CAP_SYS_NICE, RLIMIT_NICE 0), none enters it" {
	local idle real=$SLIMFS
	# the daemon as a container's root often runs: without CAP_SYS_NICE (dropped from
	# the bounding set, so gone after exec) and with a nice limit of 0
	SLIMFS=$BATS_TEST_TMPDIR/slimfs-nonice
	printf '#!/bin/sh\nexec capsh --drop=cap_sys_nice -- -c '\''exec prlimit --nice=0:0 "$0" "$@"'\'' %q "$@"\n' \
		"$real" >"$SLIMFS"
	chmod +x "$SLIMFS"
	start_slimfs "$LOWER" "$MNT" "$TRACE" --io-uring=off
	# CAP_SYS_NICE is capability 23
	(( (0x$(awk '/^CapEff/ { print $2 }' /proc/"$daemon_pid"/status) >> 23 & 1) == 0 ))
	[ "$(awk '/^Max nice priority/ { print $4 }' /proc/"$daemon_pid"/limits)" = 0 ]
	idle=$(idle_calls "$(cpus | head -1)")
	[ "$idle" -eq 0 ]
}
