#!/usr/bin/env bats
# image_run.bats — slimfs-run IMAGE runs the image as `podman run IMAGE` does: the same
# stdout and exit status for the default command, -- ARGS, --entrypoint, --user (names,
# groups, numbers), --workdir and --env, on both runtimes; the run row records the
# image; --check runs each side with its own config.
load image_helpers

setup_file() {
	export IMG_WORK=$BATS_FILE_TMPDIR
	export SUITE_CACHE=$IMG_WORK/cache
	build_app "$IMG_WORK"
	# the same image with a WorkingDir its tree lacks (podman makes it at run time)
	printf 'FROM %s\nUSER root\nWORKDIR /srv/new/dir\nRUN rmdir /srv/new/dir /srv/new\nUSER appuser\n' \
		"$APP" >"$IMG_WORK/Containerfile.wd"
	pod build -q --network none "${PODMAN_ULIMITS[@]}" -f "$IMG_WORK/Containerfile.wd" \
		-t localhost/slimfs-test-wd:latest "$IMG_WORK" >/dev/null
	pod save -q --format oci-archive -o "$IMG_WORK/wd-oci.tar" localhost/slimfs-test-wd:latest
}

teardown_file() {
	pod_fini
}

setup() {
	run_setup
	export SLIMFS_CACHE=$SUITE_CACHE
}

teardown() {
	assert_nothing_left
}

# like_podman [FLAGS...] [-- ARGS...] — `podman run FLAGS $APP ARGS` and `slimfs-run
# FLAGS app-oci.tar -- ARGS` (runtime $RUNTIME, default builtin) print the same stdout
# and exit with the same status.  IMAGE (default $APP) and ARCHIVE may be set.
like_podman() {
	local flags=() args=() want want_status
	while (($#)) && [[ $1 != -- ]]; do flags+=("$1"); shift; done
	if (($#)); then shift; args=(-- "$@"); fi
	run --separate-stderr pod run --rm "${PODMAN_ULIMITS[@]}" "${flags[@]}" "${IMAGE:-$APP}" "${args[@]:1}"
	want=$output want_status=$status
	run --separate-stderr slimfs_run --trace t.db --runtime "${RUNTIME:-builtin}" "${flags[@]}" \
		"${ARCHIVE:-$IMG_WORK/app-oci.tar}" "${args[@]}"
	echo "podman ($want_status): $want"
	echo "slimfs-run ($status): $output"
	echo "slimfs-run stderr: $stderr"
	[ "$status" -eq "$want_status" ]
	[ "$output" = "$want" ]
}

@test "the image's Entrypoint and Cmd run with its Env, WorkingDir and User, as podman runs them" {
	like_podman
	[[ ${lines[0]} == "entry ep0 [arg1 arg2] hello test appuser /opt/app /home/appuser" ]]
	[[ ${lines[1]} == "uid=1234(appuser) gid=1234(appuser) groups=1234(appuser),2345(extra)" ]]
	RUNTIME=runc like_podman
}

@test "-- ARGS replace the image's Cmd, the Entrypoint stays" {
	like_podman -- one two
	[[ ${lines[0]} == "entry ep0 [one two] "* ]]
	RUNTIME=runc like_podman -- one two
}

@test "--entrypoint replaces the Entrypoint and drops the Cmd: a path, a JSON array, '' with ARGS" {
	like_podman --entrypoint /bin/echo
	[ "$output" = "" ]
	like_podman --entrypoint '["/bin/echo","a"]' -- b
	[ "$output" = "a b" ]
	like_podman --entrypoint /bin/sh -- -c 'echo "$0 $HOME"; pwd'
	[ "$output" = $'/bin/sh /home/appuser\n/opt/app' ]
	like_podman --entrypoint '' -- echo only args
	[ "$output" = "only args" ]
	RUNTIME=runc like_podman --entrypoint '["/bin/echo","a"]' -- b
}

@test "--entrypoint '' and no ARGS: nothing to run, 125 as podman's" {
	like_podman --entrypoint ''
	[ "$status" -eq 125 ]
	[ "$stderr" = "slimfs-run: no command: the image has neither Entrypoint nor Cmd; give one after --" ]
}

@test "--user by name, name:group, uid, uid:gid: ids, groups and HOME as podman resolves them" {
	for u in root 0 daemon appuser 1234 appuser:extra appuser:2345 1234:0 daemon:appuser; do
		like_podman --user "$u" --entrypoint /bin/sh -- -c 'id; echo "HOME=$HOME"'
	done
	RUNTIME=runc like_podman --user appuser --entrypoint /bin/sh -- -c 'id; echo "HOME=$HOME"'
	RUNTIME=runc like_podman --user daemon:extra --entrypoint /bin/sh -- -c 'id; echo "HOME=$HOME"'
}

@test "--user unknown to the image: 126 as podman's, nothing mounted" {
	like_podman --user no-such-user
	[ "$status" -eq 126 ]
	like_podman --user appuser:no-such-group
	[ "$status" -eq 126 ]
	[ ! -e t.db ]
}

@test "--workdir and --env override the image's, as podman" {
	like_podman --workdir /srv/data --env GREETING=bye --env NEW=1 --entrypoint /bin/sh -- \
		-c 'pwd; echo "$GREETING $APPMODE $NEW"; cat file'
	[ "$output" = $'/srv/data\nbye test 1\ndata' ]
	RUNTIME=runc like_podman --workdir /srv/data --env GREETING=bye --entrypoint /bin/sh -- \
		-c 'pwd; echo "$GREETING $APPMODE"'
	# a --workdir the image lacks: 126, as podman's
	like_podman --workdir /no/such/dir
	[ "$status" -eq 126 ]
}

@test "a WorkingDir the image lacks is made when the container starts, owned by the user" {
	for rt in builtin runc; do
		IMAGE=localhost/slimfs-test-wd:latest ARCHIVE=$IMG_WORK/wd-oci.tar RUNTIME=$rt \
			like_podman --entrypoint /bin/sh -- -c 'pwd; stat -c "%n %a %u:%g" /srv/new /srv/new/dir'
		[ "$output" = $'/srv/new/dir\n/srv/new 755 0:0\n/srv/new/dir 755 1234:1234' ]
		IMAGE=localhost/slimfs-test-wd:latest ARCHIVE=$IMG_WORK/wd-oci.tar RUNTIME=$rt \
			like_podman --user 4321:99 --entrypoint /bin/sh -- -c 'stat -c "%u:%g" .; echo "$HOME"'
	done
	# made in the run's upper layer, never in the cache
	entry=$(dirname "$(sqlite3 t.db 'SELECT lowerdir FROM runs LIMIT 1')")
	[ ! -e "$entry/rootfs/srv/new" ]
}

@test "the run row records the image as given, its manifest digest and config digest" {
	slimfs_run --trace t.db --entrypoint /bin/true "$IMG_WORK/app-layout:app"
	slimfs_run --trace t.db "$ROOTFS" -- true
	manifest=$(jq -r '.manifests[0].digest' "$IMG_WORK/app-layout/index.json")
	config=$(jq -r .config.digest "$IMG_WORK/app-layout/blobs/sha256/${manifest#sha256:}")
	run sqlite3 t.db "SELECT image, manifest_digest, config_digest, command FROM runs ORDER BY id"
	[ "${lines[0]}" = "$IMG_WORK/app-layout:app|$manifest|$config|/bin/true" ]
	[ "${lines[1]}" = "|||true" ]
	# the image's own command is what the row says was run
	slimfs_run --trace t2.db "$IMG_WORK/app-oci.tar" >/dev/null
	run sqlite3 t2.db "SELECT command FROM runs"
	[[ $output == "/bin/sh -c echo "*" ep0 arg1 arg2" ]]
}

@test "--check: images on both sides, each with its own config; a lean tree that is none takes the image's" {
	a=$IMG_WORK/app-oci.tar
	# the same image in two forms: the same process, the same output
	run slimfs_run --check "$IMG_WORK/app-layout" "$a"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "slimfs-run: check passed"* ]]
	# a lean image whose Cmd differs runs its own Cmd: the check sees it
	cp -a "$IMG_WORK/app-layout" other
	mkoci rewrite other --ref app --config 'c["config"]["Cmd"] = ["changed"]'
	run slimfs_run --check other "$a"
	[ "$status" -eq 1 ]
	[[ $output == *"-entry ep0 [arg1 arg2] "*"+entry ep0 [changed] "* ]]
	# record the default command; export a lean tree (no config: it runs with the image's)
	# and a lean image (lean.tar, an oci-archive by default: it runs with its own)
	slimfs_run --trace t.db "$a" >/dev/null
	"$SLIMFS_EXPORT" -q -o lean --format dir t.db
	"$SLIMFS_EXPORT" -q -o lean.tar t.db
	for lean in lean lean.tar; do
		run slimfs_run --check "$lean" "$a"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ ${lines[-1]} == "slimfs-run: check passed"* ]]
	done
}
