#!/usr/bin/env bats
# rel_escape.bats — the recording container is as confined as `podman run` makes an
# image by default, in both of slimfs-run's runtimes.
#
# One set of escape attempts (tests/escape_probe.c) runs in one small image — the
# static probe, a setuid-root copy of it and a copy with the file capability
# cap_sys_admin+ep — under podman (the anchor: the same image, `podman import`ed),
# under the built-in runtime and under runc, each by default and with --privileged.
# The attempts: write /proc/sys, mount a tmpfs, mknod a block device and read it, read
# /proc/kcore and the masked /proc files, find a key of the host's session keyring,
# unshare a user and a mount namespace, ptrace a host process, raise CAP_SYS_ADMIN
# through the setuid and the file-capability binary as uid 1000, write /sys, and two
# calls the seccomp profile refuses (userfaultfd) or does not list (add_key).  Every
# attempt must end as it ends under podman, in both modes; the ones podman's
# --privileged lets through must get through with ours, so a refusal by default is the
# confinement's doing and the test can fail.
load run_helpers

ATTEMPTS=(proc_sys mount mknod_block kcore proc_masked keyctl unshare_user unshare_mount
	ptrace setuid_cap filecap_cap sys_write add_key userfaultfd)
# refused by podman by default, let through by its --privileged: the anchor's shape,
# checked, so a podman that changed would say so here first
CONFINED=(proc_sys mount mknod_block proc_masked unshare_mount setuid_cap filecap_cap
	sys_write add_key userfaultfd)

podman_run() {
	podman run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
}

# with_host_key CMD... — CMD in a new session keyring of the host holding the key
# "user" $KEY_DESC: what the container would find if it shared the host's keyring.
with_host_key() {
	keyctl session - sh -c 'keyctl add user "$KEY_DESC" secret @s >/dev/null && exec "$@"' \
		sh "$@"
}

# host_process — a process of the host to ptrace, in $HOST_PID.
host_process() {
	sleep 600 </dev/null >/dev/null 2>&1 3>&- &
	HOST_PID=$!
}

# probe_args — the probe's arguments: its targets, then every attempt.
probe_args() {
	PROBE=(/usr/bin/escape_probe --block "$BLOCK_DEV" --host-pid "$HOST_PID" --key "$KEY_DESC"
		"${ATTEMPTS[@]}")
}

# outcomes — "NAME ok|refused" lines of the probe's output on stdin.
outcomes() {
	awk '{ print $1, $2 }'
}

setup_file() {
	local img=$BATS_FILE_TMPDIR/image node
	mkdir -p "$img"/usr/bin "$img"/dev "$img"/proc "$img"/sys "$img"/etc
	install -d -m 1777 "$img"/tmp
	install -m 0755 "$SLIMFS_BUILD/tests/escape_probe" "$img"/usr/bin/escape_probe
	install -m 4755 "$SLIMFS_BUILD/tests/escape_probe" "$img"/usr/bin/escape_probe-suid
	install -m 0755 "$SLIMFS_BUILD/tests/escape_probe" "$img"/usr/bin/escape_probe-fcap
	setcap cap_sys_admin+ep "$img"/usr/bin/escape_probe-fcap
	export ESCAPE_TAR=$BATS_FILE_TMPDIR/escape.tar
	tar --xattrs --xattrs-include='security.capability' -C "$img" -cf "$ESCAPE_TAR" .
	export ESCAPE_IMAGE=localhost/slimfs-escape:$(sha256sum "$ESCAPE_TAR" | cut -c1-16)
	podman import -q "$ESCAPE_TAR" "$ESCAPE_IMAGE" >/dev/null
	# a block device the host itself can open (some sandboxes refuse disks)
	export BLOCK_DEV=
	node=$BATS_FILE_TMPDIR/blk
	for dev in /sys/dev/block/*; do
		dev=${dev##*/}
		rm -f "$node"
		mknod "$node" b "${dev%%:*}" "${dev##*:}" || continue
		if dd if="$node" of=/dev/null bs=512 count=1 2>/dev/null; then
			BLOCK_DEV=$dev
			break
		fi
	done
	rm -f "$node"
	[ -n "$BLOCK_DEV" ]
	export KEY_DESC=slimfs-escape-$$
	# the anchor, once for the file
	host_process
	probe_args
	with_host_key podman run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		"$ESCAPE_IMAGE" "${PROBE[@]}" | outcomes >"$BATS_FILE_TMPDIR/podman"
	with_host_key podman run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		--privileged "$ESCAPE_IMAGE" "${PROBE[@]}" | outcomes >"$BATS_FILE_TMPDIR/podman-privileged"
	kill "$HOST_PID"
}

teardown_file() {
	podman rmi -f "$ESCAPE_IMAGE" >/dev/null 2>&1 || true
}

setup() {
	run_setup
	HOST_PID=
}

teardown() {
	[ -z "$HOST_PID" ] || kill "$HOST_PID" 2>/dev/null || true
	assert_nothing_left
}

# escape_run [slimfs-run options] — the attempts in slimfs-run; outcomes in ./got.
escape_run() {
	host_process
	probe_args
	with_host_key "$SLIMFS_RUN" --trace t.db "$@" "$ESCAPE_TAR" -- "${PROBE[@]}" >probe.out
	outcomes <probe.out >got
	cat probe.out
}

# same_as FILE — ./got has every attempt, each ending as in FILE (podman's).
same_as() {
	[ "$(wc -l <got)" -eq "${#ATTEMPTS[@]}" ]
	diff "$BATS_FILE_TMPDIR/$1" got
}

@test "the anchor: podman refuses the confined attempts, and its --privileged lets them through" {
	cat "$BATS_FILE_TMPDIR/podman" "$BATS_FILE_TMPDIR/podman-privileged"
	[ "$(wc -l <"$BATS_FILE_TMPDIR/podman")" -eq "${#ATTEMPTS[@]}" ]
	for a in "${CONFINED[@]}"; do
		grep -qx "$a refused" "$BATS_FILE_TMPDIR/podman"
		grep -qx "$a ok" "$BATS_FILE_TMPDIR/podman-privileged"
	done
	# out of reach in both modes: the host's keyring and processes
	grep -qx "keyctl refused" "$BATS_FILE_TMPDIR/podman-privileged"
	grep -qx "ptrace refused" "$BATS_FILE_TMPDIR/podman-privileged"
}

@test "builtin: every escape attempt ends as under podman" {
	escape_run
	same_as podman
}

@test "builtin --privileged: every attempt ends as under podman --privileged" {
	escape_run --privileged
	same_as podman-privileged
}

@test "runc: every escape attempt ends as under podman" {
	escape_run --runtime runc
	same_as podman
}

@test "runc --privileged: every attempt ends as under podman --privileged" {
	escape_run --runtime runc --privileged
	same_as podman-privileged
}

# Capabilities (all five sets), no_new_privs and the seccomp mode, as podman sets them
# for the same options.
@test "capabilities, no_new_privs and seccomp mode are podman's, option for option" {
	local opts
	for opts in "" "--user 1000:1000" "--cap-add SYS_ADMIN --cap-drop chown" \
		"--cap-add cap_net_raw --cap-add MKNOD" "--cap-drop ALL --cap-add KILL" \
		"--cap-drop all" "--privileged" "--privileged --cap-drop SYS_ADMIN" \
		"--cap-add ALL --cap-drop NET_ADMIN"; do
		# shellcheck disable=SC2086
		podman_run $opts "$ESCAPE_IMAGE" /usr/bin/escape_probe status >want
		for rt in builtin runc; do
			# shellcheck disable=SC2086
			"$SLIMFS_RUN" --trace t.db --runtime "$rt" $opts "$ESCAPE_TAR" -- \
				/usr/bin/escape_probe status >got
			echo "== $rt $opts"
			diff want got
		done
	done
}

@test "--cap-add and --cap-drop: bad names are one line of error, nothing run" {
	run --separate-stderr "$SLIMFS_RUN" --trace t.db --cap-add NO_SUCH "$ESCAPE_TAR" -- /usr/bin/escape_probe status
	fails_one_line "slimfs-run: --cap-add NO_SUCH: no such capability"
	[ "$status" -eq 125 ]
	run --separate-stderr "$SLIMFS_RUN" --trace t.db --cap-add CHOWN --cap-drop cap_chown "$ESCAPE_TAR" -- true
	fails_one_line "slimfs-run: capability CAP_CHOWN cannot be both added and dropped"
	[ ! -e t.db ]
}

@test "--cap-add gives back what a workload needs, by name, and nothing else" {
	for rt in builtin runc; do
		escape_run --runtime "$rt" --cap-add SYS_ADMIN
		grep -qx "mount ok" got
		grep -qx "unshare_mount ok" got
		grep -qx "proc_sys refused" got          # still read-only
		grep -qx "proc_masked refused" got       # still masked
		grep -qx "add_key refused" got           # still filtered
		escape_run --runtime "$rt" --cap-add MKNOD
		grep -qx "mknod_block refused" got       # made, but it opens nothing
	done
}

@test "no fd of the runner above 2 reaches CMD, in both runtimes" {
	for rt in builtin runc; do
		"$SLIMFS_RUN" --trace t.db --runtime "$rt" "$ESCAPE_TAR" -- /usr/bin/escape_probe fds \
			3</etc/hostname 7</etc/hostname 9>extra >got
		[ "$(cat got)" = $'0\n1\n2' ]
	done
	podman_run "$ESCAPE_IMAGE" /usr/bin/escape_probe fds 3</etc/hostname >got
	[ "$(cat got)" = $'0\n1\n2' ]
}
