# lib.sh — what the bench scripts share; sourced, not run.

# median — the median of the numbers on stdin (space or newline separated).
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ratio A B — "A/Bx" with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

# need_built FILE... — every FILE is an executable of the build, or the script stops
# saying which is missing.
need_built() {
	local f
	for f; do
		[[ -x $f ]] || { echo "$(basename "$0"): $f missing (build it first)" >&2; exit 1; }
	done
}

# need_gnu_time — /usr/bin/time (GNU time, for peak RSS and CPU), installed when missing.
need_gnu_time() {
	command -v /usr/bin/time >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}

# bench_lock — hold the machine-wide test lock for the rest of this script (and the
# scripts it runs, which see SLIMFS_BENCH_LOCKED and do not take it again): no test
# suite runs beside a benchmark, and none flips the io_uring switch under it.
bench_lock() {
	[[ -z ${SLIMFS_BENCH_LOCKED:-} ]] || return 0
	exec 9>>/tmp/slimfs-tests.lock
	flock 9
	export SLIMFS_BENCH_LOCKED=1
}

# URING_SWITCH — the kernel's host-wide FUSE-over-io_uring switch (fs/ring.h).
URING_SWITCH=/sys/module/fuse/parameters/enable_uring

# quiet — wait (30 s at most) until the CPUs were at least 90% idle for half a second:
# the machines this runs on are shared, and others compile without the test lock.
quiet() {
	local a b tot idle
	for _ in $(seq 60); do
		read -r -a a < <(head -1 /proc/stat)
		sleep 0.5
		read -r -a b < <(head -1 /proc/stat)
		idle=$((b[4] + b[5] - a[4] - a[5]))
		tot=0
		for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
		((tot > 0 && idle * 100 >= tot * 90)) && return 0
	done
}
