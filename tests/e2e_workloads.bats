#!/usr/bin/env bats
# e2e_workloads.bats — the whole flow on the cached Debian 12 root fs (read-only): each
# workload is recorded with slimfs-run, exported with slimfs-export, and must pass
# `slimfs-run --check` in its lean image, which must be at most a given fraction of the
# image (the reduction floor, from `slimfs-export --stats --json`).
load run_helpers

setup() {
	run_setup
}

teardown() {
	assert_nothing_left
}

# workload MAX_PERCENT [slimfs-run options] -- CMD... : record, export, check, measure.
workload() {
	local max=$1
	shift
	run "$SLIMFS_RUN" --trace t.db "$@"
	[ "$status" -eq 0 ]
	recorded=$output
	run "$SLIMFS_EXPORT" --from "$ROOTFS" -o lean.tar t.db
	[ "$status" -eq 0 ]
	run "$SLIMFS_RUN" --check lean.tar "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "slimfs-run: check passed:"* ]]
	run "$SLIMFS_EXPORT" --from "$ROOTFS" --stats --json t.db
	[ "$status" -eq 0 ]
	kept=$(python3 -c 'import json, sys; s = json.load(sys.stdin); print("%.2f" % (100 * s["bytes_kept"] / s["bytes_total"]))' <<<"$output")
	echo "lean image: $kept% of the image (floor: at most $max%)"
	python3 -c "import sys; sys.exit(0 if $kept <= $max else 1)"
}

# The options go before ROOTFS: workload_in MAX [options] -- CMD
workload_in() {
	local max=$1 opts=()
	shift
	while [[ $1 != -- ]]; do opts+=("$1"); shift; done
	shift
	workload "$max" "${opts[@]}" "$ROOTFS" -- "$@"
}

@test "python3 with imports (json re collections yaml)" {
	workload_in 15 -- python3 -c 'import json, re, collections, yaml
print(json.dumps(yaml.safe_load("a: [1, 2]\nb: {c: d}"), sort_keys=True))
print(re.sub(r"(\w+)@(\w+)", r"\2 at \1", "user@example"))
print(collections.Counter("mississippi").most_common(2))'
	[[ $recorded == *'{"a": [1, 2], "b": {"c": "d"}}'* ]]
}

@test "shell pipeline: sort | uniq -c | head over a file" {
	workload_in 3 -- sh -c 'cut -d: -f7 /etc/passwd | sort | uniq -c | sort -rn | head -3'
	[[ $recorded == *"/usr/sbin/nologin"* ]]
}

@test "a server starts and answers one request on loopback" {
	workload_in 15 --net none -- sh -c '
		cd /etc && python3 -m http.server 8765 --bind 127.0.0.1 2>/dev/null &
		python3 -c "
import time, urllib.request
for _ in range(200):
    try:
        r = urllib.request.urlopen(\"http://127.0.0.1:8765/os-release\")
        break
    except OSError:
        time.sleep(0.05)
print(r.status, r.headers[\"Content-Type\"])
print(r.read().decode(), end=\"\")"'
	[[ $recorded == *"200 "* ]]
	[[ $recorded == *"bookworm"* ]]
}

@test "a program reads its data files (zoneinfo)" {
	workload_in 15 -- python3 -c 'import datetime, zoneinfo
for tz in ("America/New_York", "Asia/Tokyo", "Europe/London"):
    print(tz, datetime.datetime(2020, 7, 1, tzinfo=zoneinfo.ZoneInfo(tz)).utcoffset())'
	[[ $recorded == *"Asia/Tokyo 9:00:00"* ]]
}

@test "cat /etc/os-release" {
	workload_in 2 -- cat /etc/os-release
	[[ $recorded == *'VERSION_CODENAME=bookworm'* ]]
}

# The image has no /etc/hosts (debootstrap makes none), so "localhost" goes on to dns:
# --net none makes that answer the same in every run (no server).
@test "NSS name lookups (getent passwd, group, hosts)" {
	workload_in 3 --net none -- sh -c 'getent passwd root; getent group daemon
		getent hosts localhost || echo "localhost: no hosts entry"'
	[[ $recorded == *"root:x:0:0:"* ]]
	[[ $recorded == *"daemon:x:1:"* ]]
	[[ $recorded == *"localhost: no hosts entry"* ]]
}

@test "time zones: TZ=Europe/Paris date -d @0" {
	workload_in 3 --env TZ=Europe/Paris -- date -d @0
	[[ $recorded == *"01:00:00 CET 1970"* ]]
}

@test "TLS certificates: python3 ssl loads the CA store" {
	workload_in 15 -- python3 -c 'import ssl
ctx = ssl.create_default_context()
ctx.load_verify_locations(cafile=ssl.get_default_verify_paths().cafile)
print(len(ctx.get_ca_certs()), "certificates")'
	n=${recorded%% *}
	[ "$n" -gt 50 ]
}

@test "ls -l of files: modes, owners, sizes, times, symlinks" {
	workload_in 3 -- ls -l /etc/os-release /usr/bin/ls /bin/sh /etc/passwd /usr/lib/os-release
	[[ $recorded == *"/bin/sh -> dash"* ]]
}

# The README demo: link counts (a lean tree has fewer subdirectories; /proc counts the
# host's processes) and the times of the fresh /proc differ between any two images by
# nature, so the listing is compared without them.
@test "ls -l / (the README demo, without link counts and times)" {
	workload_in 3 -- sh -c 'ls -l --time-style=+ / | awk "{ \$2 = \"\"; print }"'
	[[ $recorded == *"bin -> usr/bin"* ]]
}

# A name that was only listed (readdir) is not kept by the export, so the workload
# reads what it finds: its output then depends only on kept files.
@test "find /etc -name '*.conf' | sort, and read them" {
	workload_in 3 -- sh -c "find /etc -name '*.conf' | sort | xargs wc -c"
	[[ $recorded == *"/etc/nsswitch.conf"* ]]
}

@test "sh -c with coreutils" {
	workload_in 3 -- sh -c 'printf "%s\n" pear apple fig | sort | tr a-z A-Z
		basename /usr/bin/python3; wc -l </etc/passwd; seq 3 | paste -sd+
		head -c 12 /etc/debian_version | od -An -c; stat -c "%n %s %U" /etc/hostname'
	[[ $recorded == *"APPLE"* ]]
}

@test "runc runtime: record and check python3 with imports" {
	workload_in 15 --runtime runc -- python3 -c 'import json, collections
print(json.dumps(collections.Counter("abracadabra"), sort_keys=True))'
	[[ $recorded == *'"a": 5'* ]]
}

@test "several runs merge into one lean image" {
	run "$SLIMFS_RUN" --trace t.db "$ROOTFS" -- cat /etc/os-release
	[ "$status" -eq 0 ]
	workload_in 3 -- sh -c 'cat /etc/debian_version'
	run "$SLIMFS_RUN" --check lean.tar "$ROOTFS" -- cat /etc/os-release
	[ "$status" -eq 0 ]
}
