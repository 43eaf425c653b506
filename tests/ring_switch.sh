#!/bin/sh
# ring_switch.sh CMD... — run CMD with the kernel's FUSE-over-io_uring switch on (it is
# host-wide), then put it back as it was.  For the suites meson runs again with
# SLIMFS_TEST_OPTS=--io-uring, or with the ring hidden (--hide-cap uring).
sw=/sys/module/fuse/parameters/enable_uring
old=$(cat "$sw") || exit 1
echo Y >"$sw" || exit 1
"$@"
rc=$?
echo "$old" >"$sw"
exit $rc
