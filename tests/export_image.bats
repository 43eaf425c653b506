#!/usr/bin/env bats
# slimfs-export of a trace recorded from a container image: an image out (oci-archive by
# default, docker-archive, an OCI layout directory), proven with the real tools — umoci
# unpack checks every digest and diff_id, skopeo reads the config, podman loads and runs
# the lean image and must print what the original prints.  The source image is built in
# setup_file from the shared Debian root fs (podman, a private store).
load export_image_helpers

setup_file() {
	export IMG_WORK=$BATS_FILE_TMPDIR
	export SRC=$BATS_FILE_TMPDIR/src.tar TRACE=$BATS_FILE_TMPDIR/app.db
	build_source_image "$BATS_FILE_TMPDIR"
	# the suite's own image cache (the shared root fs above came from the host's)
	export SLIMFS_CACHE=$BATS_FILE_TMPDIR/cache
	# slimfs-run unpacks the image into the cache and runs its own command
	local st=0
	"$SLIMFS_RUN" --trace "$TRACE" "$SRC" >/dev/null 2>&1 || st=$?
	[ "$st" -eq 3 ]
	ENTRY=$(dirname "$(sqlite3 "$TRACE" 'SELECT lowerdir FROM runs')")
	export ENTRY
	# what the original prints, as podman runs it
	st=0
	pod_run localhost/src:1.0 >"$BATS_FILE_TMPDIR/src.out" || st=$?
	echo "$st" >"$BATS_FILE_TMPDIR/src.status"
}

teardown_file() {
	pod_fini
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# the image's config as skopeo reads it (raw: every key, docker's included)
source_config() {
	skopeo inspect --config --raw "docker-archive:$SRC"
}

@test "export_image_source_has_deletions_an_opaque_directory_and_hardlinks" {
	# the source image's layers hold what the lean image must flatten correctly
	for l in $(tar -xOf "$SRC" manifest.json | jq -r '.[0].Layers[]'); do
		tar -xOf "$SRC" "$l" | tar -tvf -
	done >members
	[ "$(tar -xOf "$SRC" manifest.json | jq -r '.[0].Layers | length')" -ge 5 ]
	grep -q ' usr/share/\.wh\.doc$' members
	grep -q ' etc/apt/\.wh\.\.wh\.\.opq$' members
	grep -q '^h.* opt/data/[^ ]* link to opt/data/' members
	# and the recorded run saw the image as podman runs it
	grep -qx 'user=app uid=1000 gid=1000 dir=/srv/app greet=hello args=arg1' "$BATS_FILE_TMPDIR/src.out"
	[ "$(cat "$BATS_FILE_TMPDIR/src.status")" -eq 3 ]
}

@test "export_image_default_is_an_oci_archive_with_a_docker_manifest" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	diff <(tar -tf lean.tar | grep -v '^blobs/sha256/.') - <<-'EOF'
		blobs/
		blobs/sha256/
		index.json
		manifest.json
		oci-layout
	EOF
	[ "$(tar -xOf lean.tar oci-layout)" = '{"imageLayoutVersion":"1.0.0"}' ]
	# one manifest, named by the default tag, pointing at what manifest.json points at
	idx=$(tar -xOf lean.tar index.json)
	[ "$(jq -r '.manifests | length' <<<"$idx")" -eq 1 ]
	[ "$(jq -r '.manifests[0].annotations."org.opencontainers.image.ref.name"' <<<"$idx")" = localhost/src:1.0-slim ]
	man=$(blob lean.tar "$(jq -r '.manifests[0].digest' <<<"$idx")")
	[ "$(jq -r '.layers | length' <<<"$man")" -eq 1 ]
	[ "$(jq -r '.layers[0].mediaType' <<<"$man")" = application/vnd.oci.image.layer.v1.tar+gzip ]
	[ "$(jq -r '.layers[0].digest' <<<"$man")" = "$(layer_of lean.tar)" ]
	[ "$(tar -xOf lean.tar manifest.json | jq -r '.[0].RepoTags[0]')" = localhost/src:1.0-slim ]
	[ "sha256:$(config_of lean.tar | sha256sum | cut -d' ' -f1)" = "$(jq -r .config.digest <<<"$man")" ]
	# skopeo reads it as an oci-archive: that manifest, one layer, the platform
	insp=$(skopeo inspect oci-archive:lean.tar)
	[ "$(jq -r .Digest <<<"$insp")" = "$(jq -r '.manifests[0].digest' <<<"$idx")" ]
	[ "$(jq -r '.Layers | length' <<<"$insp")" -eq 1 ]
	[ "$(jq -r '.Os + "/" + .Architecture' <<<"$insp")" = linux/amd64 ]
	# umoci checks every blob's digest and the layer's diff_id while unpacking
	mkdir layout
	tar -xf lean.tar -C layout
	umoci unpack --image layout:localhost/src:1.0-slim bundle
	[ "$(cat bundle/rootfs/etc/apt/marker)" = replaced ]
	[ -x bundle/rootfs/srv/app/run.sh ]
	[ "$(stat -c %i bundle/rootfs/opt/data/a)" = "$(stat -c %i bundle/rootfs/opt/data/a-link)" ]
}

@test "export_image_keeps_the_source_config_but_rootfs_history_created_and_labels" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	source_config >src.json
	skopeo inspect --config --raw oci-archive:lean.tar >lean.json
	skopeo inspect --config --raw docker-archive:lean.tar | cmp - lean.json
	labels=$(same_config src.json lean.json)
	# the keys a lean image must not lose are there to be compared
	for k in Entrypoint Cmd Env WorkingDir User ExposedPorts Volumes Labels StopSignal \
		Healthcheck Shell OnBuild; do
		jq -e --arg k "$k" '.config | has($k)' src.json >/dev/null
	done
	jq -e '.architecture == "amd64" and .os == "linux"' lean.json >/dev/null
	[ "$(jq -r '."io.slimfs.source.digest"' <<<"$labels")" = "$(jq -r .manifest_digest "$ENTRY/image.json")" ]
	[ "$(jq -r '."io.slimfs.source.config"' <<<"$labels")" = "$(jq -r .config_digest "$ENTRY/image.json")" ]
	[ "$(jq -r '."io.slimfs.source.reference"' <<<"$labels")" = localhost/src:1.0 ]
	# one layer, its diff_id the layer's
	[ "$(jq -r '.rootfs.diff_ids | length' lean.json)" -eq 1 ]
	[ "$(jq -r .rootfs.type lean.json)" = layers ]
	# history: the source's entries, now empty layers, then slimfs's
	n=$(jq '.history | length' src.json)
	[ "$(jq '.history | length' lean.json)" -eq $((n + 1)) ]
	jq -e --slurpfile s src.json '.history[:-1] == [$s[0].history[] | . + {empty_layer: true}]' lean.json >/dev/null
	jq -e '.history[-1] | (.empty_layer | not) and (.created_by | startswith("slimfs-export --keep lookup")) and (.created_by | endswith(" app.db"))' lean.json >/dev/null
	# created: the source's
	[ "$(jq -r .created lean.json)" = "$(jq -r .created src.json)" ]
	[ "$(jq -r '.history[-1].created' lean.json)" = "$(jq -r .created src.json)" ]
}

@test "export_image_runs_under_podman_as_the_original_does" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	run pod load -i lean.tar
	[ "$status" -eq 0 ]
	[[ "$output" == *"Loaded image: localhost/src:1.0-slim"* ]]
	st=0
	pod_run localhost/src:1.0-slim >lean.out || st=$?
	diff "$BATS_FILE_TMPDIR/src.out" lean.out
	[ "$st" -eq "$(cat "$BATS_FILE_TMPDIR/src.status")" ]
	[ "$st" -eq 3 ]
	grep -qx 'user=app uid=1000 gid=1000 dir=/srv/app greet=hello args=arg1' lean.out
	grep -qx doc-gone lean.out
	# the lean image is much smaller than the original
	src_size=$(pod image inspect --format '{{.Size}}' localhost/src:1.0)
	lean_size=$(pod image inspect --format '{{.Size}}' localhost/src:1.0-slim)
	[ "$lean_size" -lt $((src_size / 4)) ]
	pod rmi -f localhost/src:1.0-slim >/dev/null
}

@test "export_image_lean_image_runs_its_own_entrypoint_under_slimfs_run" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	"$SLIMFS_EXPORT" --format docker-archive -o lean-docker.tar "$TRACE"
	"$SLIMFS_EXPORT" --format oci -o lean-layout "$TRACE"
	for lean in lean.tar lean-docker.tar lean-layout; do
		# no CMD: the lean image's own Entrypoint, Cmd, User, WorkingDir and Env
		st=0
		"$SLIMFS_RUN" --trace "$lean.db" "$PWD/$lean" >lean.out 2>/dev/null || st=$?
		diff "$BATS_FILE_TMPDIR/src.out" lean.out
		[ "$st" -eq 3 ]
		# the run row names the lean image by its own config, not the source's
		[ "$(sqlite3 "$lean.db" 'SELECT config_digest FROM runs')" = \
			"sha256:$(skopeo inspect --config --raw "oci-archive:lean.tar" | sha256sum | cut -d' ' -f1)" ]
		[ "$(sqlite3 "$lean.db" 'SELECT config_digest FROM runs')" != \
			"$(sqlite3 "$TRACE" 'SELECT config_digest FROM runs')" ]
	done
}

@test "export_image_check_runs_the_lean_image_and_the_source_each_with_its_config" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	run "$SLIMFS_RUN" --check "$PWD/lean.tar" "$SRC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "slimfs-run: check passed: exit status 3 "* ]]
	# a lean image without what the entrypoint reads: the check sees it
	"$SLIMFS_EXPORT" --exclude /opt/data -o broken.tar "$TRACE"
	run "$SLIMFS_RUN" --check "$PWD/broken.tar" "$SRC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "slimfs-run: check FAILED: stdout differs"* ]]
}

@test "export_image_docker_archive_keeps_the_healthcheck_for_podman" {
	"$SLIMFS_EXPORT" --format docker-archive -o lean.tar "$TRACE"
	diff <(tar -tf lean.tar | grep -v '^blobs/sha256/.') - <<-'EOF'
		blobs/
		blobs/sha256/
		manifest.json
	EOF
	[ "$(tar -tf lean.tar | grep -c '^blobs/sha256/.')" -eq 2 ]
	skopeo inspect --config --raw docker-archive:lean.tar >lean.json
	same_config <(source_config) lean.json >/dev/null
	run pod load -i lean.tar
	[ "$status" -eq 0 ]
	[ "$(pod image inspect --format '{{.ManifestType}}' localhost/src:1.0-slim)" = application/vnd.docker.distribution.manifest.v2+json ]
	[ "$(pod image inspect --format '{{.HealthCheck.Test}}' localhost/src:1.0-slim)" = "[CMD /bin/true]" ]
	[ "$(pod image inspect --format '{{.Config.StopSignal}} {{.Config.User}} {{.Config.WorkingDir}}' localhost/src:1.0-slim)" = "SIGINT app /srv/app" ]
	st=0
	pod_run localhost/src:1.0-slim >lean.out || st=$?
	diff "$BATS_FILE_TMPDIR/src.out" lean.out
	[ "$st" -eq 3 ]
	pod rmi -f localhost/src:1.0-slim >/dev/null
}

@test "export_image_is_byte_identical_on_a_second_export" {
	"$SLIMFS_EXPORT" -o a.tar "$TRACE"
	sleep 1.1
	"$SLIMFS_EXPORT" -o b.tar "$TRACE"
	cmp a.tar b.tar
	# the archive's own members carry the image's creation time, owner 0:0
	created=$(jq -r .created <(source_config))
	want=$(date -u -d "$created" '+%Y-%m-%d %H:%M:%S')
	[ -z "$(tar --full-time -tvf a.tar | awk -v w="$want" '$4 " " $5 != w || $2 != "0/0"')" ]
	# gzip: no timestamp, no name (flags 0)
	blob a.tar "$(layer_of a.tar)" >layer.gz
	[ "$(od -An -tx1 -j3 -N5 layer.gz | tr -d ' ')" = 0000000000 ]
	# no atime/ctime pax records in the layer
	gunzip -c layer.gz >layer.tar
	no_time_records layer.tar
	# SOURCE_DATE_EPOCH decides created, and only that changes
	SOURCE_DATE_EPOCH=1700000000 "$SLIMFS_EXPORT" -o c.tar "$TRACE"
	SOURCE_DATE_EPOCH=1700000000 "$SLIMFS_EXPORT" -o d.tar "$TRACE"
	cmp c.tar d.tar
	run cmp -s a.tar c.tar
	[ "$status" -ne 0 ]
	[ "$(config_of c.tar | jq -r .created)" = 2023-11-14T22:13:20Z ]
	[ "$(config_of c.tar | jq -r '.history[-1].created')" = 2023-11-14T22:13:20Z ]
	[ -z "$(tar --full-time -tvf c.tar | awk '$4 " " $5 != "2023-11-14 22:13:20"')" ]
	[ "$(layer_of a.tar)" = "$(layer_of c.tar)" ]
	# the trace's location does not matter, only its name
	mkdir elsewhere
	cp "$TRACE" elsewhere/
	"$SLIMFS_EXPORT" -o e.tar elsewhere/app.db
	cmp a.tar e.tar
}

@test "export_image_layer_holds_exactly_the_listed_paths_with_right_digests" {
	"$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	"$SLIMFS_EXPORT" --list "$TRACE" | LC_ALL=C sort >list
	[ "$(wc -l <list)" -gt 100 ]
	blob lean.tar "$(layer_of lean.tar)" >layer.gz
	gunzip -c layer.gz | tar_paths | diff list -
	# blob digest: the compressed bytes; diff_id: the tar, which is the flat tarball
	[ "sha256:$(sha256sum <layer.gz | cut -d' ' -f1)" = "$(layer_of lean.tar)" ]
	diff_id=$(config_of lean.tar | jq -r '.rootfs.diff_ids[0]')
	[ "sha256:$(gunzip -c layer.gz | sha256sum | cut -d' ' -f1)" = "$diff_id" ]
	"$SLIMFS_EXPORT" --format tar -o flat.tar "$TRACE"
	[ "sha256:$(sha256sum <flat.tar | cut -d' ' -f1)" = "$diff_id" ]
	# sizes in the manifest are the blobs'
	man=$(blob lean.tar "$(jq -r '.manifests[0].digest' <(tar -xOf lean.tar index.json))")
	[ "$(jq -r '.layers[0].size' <<<"$man")" -eq "$(stat -c %s layer.gz)" ]
	[ "$(jq -r '.config.size' <<<"$man")" -eq "$(config_of lean.tar | wc -c)" ]
}

@test "export_image_formats_oci_dir_tar_dir_and_layer_compression" {
	# oci: the layout as a directory, without docker's manifest.json
	"$SLIMFS_EXPORT" --format oci -o layout "$TRACE"
	[ -f layout/oci-layout ]
	[ -f layout/index.json ]
	[ ! -e layout/manifest.json ]
	umoci unpack --image layout:localhost/src:1.0-slim bundle
	[ "$(cat bundle/rootfs/opt/data/a-link)" = one ]
	run --separate-stderr "$SLIMFS_EXPORT" --format oci -o layout "$TRACE"
	fails_one_line '*layout*exists*'
	# tar and dir: the lean tree as before, the same tree umoci unpacked
	"$SLIMFS_EXPORT" --format tar -o flat.tar "$TRACE"
	[ "$(head -c 262 flat.tar | tail -c 5)" = ustar ]
	"$SLIMFS_EXPORT" --format dir -o tree "$TRACE"
	diff <(cd tree && find . | LC_ALL=C sort) <(cd bundle/rootfs && find . | LC_ALL=C sort)
	[ "$(stat -c %U:%a tree/srv/app/run.sh)" = "$(stat -c %U:%a bundle/rootfs/srv/app/run.sh)" ]
	# zstd and uncompressed layers
	"$SLIMFS_EXPORT" --compression-format zstd -o z.tar "$TRACE"
	blob z.tar "$(layer_of z.tar)" | zstd -t -q
	[ "$(skopeo inspect --raw oci-archive:z.tar | jq -r '.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+zstd ]
	"$SLIMFS_EXPORT" --compression-format none -o n.tar "$TRACE"
	[ "$(skopeo inspect --raw oci-archive:n.tar | jq -r '.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar ]
	[ "$(layer_of n.tar)" = "$(config_of n.tar | jq -r '.rootfs.diff_ids[0]')" ]
	[ "$(config_of z.tar | jq -r '.rootfs.diff_ids[0]')" = "$(config_of n.tar | jq -r '.rootfs.diff_ids[0]')" ]
	mkdir nl
	tar -xf n.tar -C nl
	umoci unpack --image nl:localhost/src:1.0-slim nbundle
	# podman reads the zstd layer
	pod load -q -i z.tar >/dev/null
	st=0
	pod_run localhost/src:1.0-slim >lean.out || st=$?
	diff "$BATS_FILE_TMPDIR/src.out" lean.out
	pod rmi -f localhost/src:1.0-slim >/dev/null
}

@test "export_image_tag_names_the_image_and_the_default_follows_the_source" {
	"$SLIMFS_EXPORT" --tag registry.example:5000/team/app:v2 -o a.tar "$TRACE"
	[ "$(tar -xOf a.tar manifest.json | jq -r '.[0].RepoTags[0]')" = registry.example:5000/team/app:v2 ]
	jq -e '.manifests[0].annotations == {"io.containerd.image.name": "registry.example:5000/team/app:v2", "org.opencontainers.image.ref.name": "registry.example:5000/team/app:v2"}' <(tar -xOf a.tar index.json) >/dev/null
	skopeo inspect oci-archive:a.tar:registry.example:5000/team/app:v2 >/dev/null
	# no tag: latest; a docker hub name gets docker.io/library/ for containerd
	"$SLIMFS_EXPORT" --tag app -o b.tar "$TRACE"
	[ "$(tar -xOf b.tar manifest.json | jq -r '.[0].RepoTags[0]')" = app:latest ]
	[ "$(tar -xOf b.tar index.json | jq -r '.manifests[0].annotations."io.containerd.image.name"')" = docker.io/library/app:latest ]
	# a source without a name: localhost/slimfs:<12 hex of its digest>-slim; a source
	# named without a tag: latest-slim.  (Entries named by --from: the cache's copies.)
	hex=$(basename "$ENTRY")
	for ref in null '"localhost/unnamed"'; do
		e=$SLIMFS_CACHE/images/$(printf '%064d' "${#ref}")
		rm -rf "$e"
		mkdir -m 0700 "$e"
		cp -al "$ENTRY/rootfs" "$e/rootfs"
		cp "$ENTRY/config.json" "$e/config.json"
		jq --argjson r "$ref" '.reference = $r' "$ENTRY/image.json" >"$e/image.json"
		"$SLIMFS_EXPORT" --from "$e" -o "c-${#ref}.tar" "$TRACE"
		rm -rf "$e"
	done
	[ "$(tar -xOf c-4.tar manifest.json | jq -r '.[0].RepoTags[0]')" = "localhost/slimfs:${hex:0:12}-slim" ]
	[ "$(tar -xOf c-19.tar manifest.json | jq -r '.[0].RepoTags[0]')" = localhost/unnamed:latest-slim ]
}

@test "export_image_from_names_the_entry_or_the_image_and_a_lookalike_outside_the_cache_is_a_plain_dir" {
	"$SLIMFS_EXPORT" -o a.tar "$TRACE"
	"$SLIMFS_EXPORT" --from "$ENTRY" -o b.tar "$TRACE"
	cmp a.tar b.tar
	"$SLIMFS_EXPORT" --from "$ENTRY/rootfs" -o c.tar "$TRACE"
	cmp a.tar c.tar
	"$SLIMFS_EXPORT" --from "$SRC" -o d.tar "$TRACE"
	cmp a.tar d.tar
	# an entry-shaped directory outside the cache: its config is never read
	mkdir -p fake
	cp -al "$ENTRY/rootfs" fake/rootfs
	cp "$ENTRY/config.json" "$ENTRY/image.json" fake/
	"$MKTRACE" t.db "$PWD/fake/rootfs" <<<"exec /srv/app/run.sh"
	# the trace alone does not get it read (the trust rule), --from does, as a plain tree
	run --separate-stderr "$SLIMFS_EXPORT" -o plain.tar t.db
	fails_one_line "*the trace names $PWD/fake/rootfs as its image*--from*"
	"$SLIMFS_EXPORT" --from "$PWD/fake/rootfs" -o plain.tar t.db
	[ "$(head -c 262 plain.tar | tail -c 5)" = ustar ]
	[ "$(tar -tf plain.tar | head -1)" = ./ ]
	run --separate-stderr "$SLIMFS_EXPORT" --from "$PWD/fake/rootfs" --format oci-archive -o img.tar t.db
	fails_one_line "*fake/rootfs*not an image*"
}

@test "export_image_keeps_list_and_stats_as_for_a_tree" {
	"$SLIMFS_EXPORT" --list --stats --json -o lean.tar "$TRACE" >img.out
	"$SLIMFS_EXPORT" --list --stats --json --format tar -o flat.tar "$TRACE" >flat.out
	diff img.out flat.out
	grep -qx /srv/app/run.sh img.out
	n=$("$SLIMFS_EXPORT" --stats --json "$TRACE" | jq -r .files_kept)
	[ "$n" -gt 10 ]
	[ "$n" -eq "$(count_files flat.tar)" ]
}

@test "export_image_bad_input_gives_one_line_and_writes_nothing" {
	for tag in Upper/app:1 app:1@sha256:0000 'app:-x' 'app:' '/app:1' 'a//b:1' 'app:t!'; do
		run --separate-stderr "$SLIMFS_EXPORT" --tag "$tag" -o lean.tar "$TRACE"
		fails_one_line "*--tag $tag*"
	done
	run --separate-stderr "$SLIMFS_EXPORT" --format zip -o lean.tar "$TRACE"
	fails_one_line '*--format zip*'
	run --separate-stderr "$SLIMFS_EXPORT" --compression-format lz4 -o lean.tar "$TRACE"
	fails_one_line '*--compression-format lz4*'
	run --separate-stderr "$SLIMFS_EXPORT" -o lean.tar.gz "$TRACE"
	fails_one_line '*lean.tar.gz*--format tar*'
	SOURCE_DATE_EPOCH=soon run --separate-stderr "$SLIMFS_EXPORT" -o lean.tar "$TRACE"
	fails_one_line '*SOURCE_DATE_EPOCH=soon*'
	# a trace of a plain directory has no config to write an image with
	mkdir -p img/usr/bin
	echo x >img/usr/bin/tool
	"$MKTRACE" t.db "$PWD/img" <<<"read /usr/bin/tool"
	for f in oci-archive docker-archive oci; do
		run --separate-stderr "$SLIMFS_EXPORT" --format "$f" -o out --from "$PWD/img" t.db
		fails_one_line "*$PWD/img*not an image*--format $f*"
	done
	run --separate-stderr "$SLIMFS_EXPORT" --tag app:1 -o out.tar --from "$PWD/img" t.db
	fails_one_line '*--tag*--format tar*'
	# a broken entry: config.json not what image.json says
	e=$SLIMFS_CACHE/images/$(printf '%064d' 7)
	mkdir -m 0700 "$e"
	cp -al "$ENTRY/rootfs" "$e/rootfs"
	cp "$ENTRY/image.json" "$e/"
	echo '{}' >"$e/config.json"
	run --separate-stderr "$SLIMFS_EXPORT" --from "$e" -o out.tar "$TRACE"
	rm -rf "$e"
	fails_one_line "*$e*config.json*"
	# (bats and SQLite leave their own files here)
	[ -z "$(ls -A | grep -e out -e lean -e tmp)" ]
}

@test "export_image_output_is_atomic_a_failed_export_leaves_nothing" {
	mkdir small
	mount -t tmpfs -o size=300k tmpfs small
	echo old >small/keep.tar
	run --separate-stderr "$SLIMFS_EXPORT" -o small/keep.tar "$TRACE"
	st_archive=$status
	err_archive=$stderr
	run --separate-stderr "$SLIMFS_EXPORT" --format oci -o small/layout "$TRACE"
	st_layout=$status
	err_layout=$stderr
	listing=$(ls -A small)
	content=$(cat small/keep.tar)
	umount small
	[ "$st_archive" -ne 0 ]
	[ "$(wc -l <<<"$err_archive")" -eq 1 ]
	[[ "$err_archive" == *small/keep.tar*"No space left"* ]]
	[ "$st_layout" -ne 0 ]
	[ "$(wc -l <<<"$err_layout")" -eq 1 ]
	[[ "$err_layout" == *small/layout* ]]
	[ "$listing" = keep.tar ]
	[ "$content" = old ]
}
