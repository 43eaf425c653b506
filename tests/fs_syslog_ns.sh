#!/bin/sh
# fs_syslog_ns.sh — run by tests/fs_errors.bats inside `unshare -m` (a mount namespace
# of its own, so nothing here is seen outside): gives the namespace a /dev of its own
# with a syslog socket (/dev/log) whose messages land in $LOG, mounts $SLIMFS (it
# daemonizes: its stderr is /dev/null from then on) on $M over $L with trace $T, keeps
# the trace's write lock from the daemon's writer for 7 s while the mount is used,
# then unmounts and waits for the trace to be finished.
set -e
mount -t tmpfs -o mode=755 slimfs-test-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/fuse c 10 229
python3 - "$LOG" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b"\n")
PY
listener=$!
for _ in $(seq 100); do [ -e "$LOG.ready" ] && break; sleep 0.05; done
"$SLIMFS" --trace "$T" "$L" "$M"
# Another process holds the trace's write lock longer than the writer waits (5 s).
python3 - "$T" "$M" <<'PY'
import os, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
con.execute("BEGIN IMMEDIATE")
for k in range(70):
    os.stat(f"{sys.argv[2]}/file")
    try:
        os.stat(f"{sys.argv[2]}/missing{k}")
    except FileNotFoundError:
        pass
    time.sleep(0.1)
con.execute("ROLLBACK")
PY
cat "$M/file" > /dev/null
umount "$M"
timeout 30 flock "$T" true
kill "$listener"
