#!/usr/bin/env bats
# image_input.bats — container images as slimfs-run's ROOTFS (image/img.h): every form
# (oci-archive, OCI layout, docker-archive classic / gzipped / Docker 25+), the layers
# flattened as layer.md says (checked entry by entry and against umoci's unpack), the
# cache entry, selection by name and platform, and bad input refused in one line with
# nothing left in the cache and nothing mounted.
load image_helpers

setup_file() {
	export IMG_WORK=$BATS_FILE_TMPDIR
	export SUITE_CACHE=$IMG_WORK/cache
	build_app "$IMG_WORK"
	umoci_tree "$IMG_WORK/app-layout:app" "$IMG_WORK/umoci-app"
	hand_layers "$IMG_WORK"
	probe_layer "$IMG_WORK"
	local h=$IMG_WORK
	mkoci layout "$h/hand" --ref hand --platform "$(host_platform)" --compress gzip,none,gzip,gzip \
		"$h/l1.tar" "$h/l2.tar" "$h/l3.tar" "$h/probe.tar" >/dev/null
	umoci_tree "$h/hand:hand" "$h/umoci-hand"
}

teardown_file() {
	pod_fini
}

setup() {
	run_setup
}

teardown() {
	assert_nothing_left
}

# ---- forms -------------------------------------------------------------------------

@test "a podman oci-archive unpacks to the tree umoci unpacks, config and record beside it" {
	export SLIMFS_CACHE=$SUITE_CACHE
	run --separate-stderr slimfs_run --trace t.db --entrypoint cat "$IMG_WORK/app-oci.tar" -- /opt/app/c
	[ "$status" -eq 0 ]
	[ "$output" = "three" ]
	entry=$(dirname "$(sqlite3 t.db 'SELECT lowerdir FROM runs')")
	same_tree "$IMG_WORK/umoci-app/rootfs" "$entry/rootfs"
	# keyed by the manifest's digest; config.json byte for byte the config blob
	manifest=$(jq -r '.manifests[0].digest' "$IMG_WORK/app-layout/index.json")
	config=$(jq -r '.config.digest' "$IMG_WORK/app-layout/blobs/sha256/${manifest#sha256:}")
	[ "$(basename "$entry")" = "${manifest#sha256:}" ]
	[ "$(sha256_of "$entry/manifest.json")" = "$manifest" ]
	cmp "$entry/config.json" "$IMG_WORK/app-layout/blobs/sha256/${config#sha256:}"
	# root-only: the cache's images/ and the entry
	[ "$(stat -c %a "$SLIMFS_CACHE/images")" = 700 ]
	[ "$(stat -c %a "$entry")" = 700 ]
	run jq -r '[.source, .reference, .format, .manifest_digest, .config_digest, .platform] | join(" ")' "$entry/image.json"
	[ "$output" = "$IMG_WORK/app-oci.tar $APP oci-archive $manifest $config $(host_platform)" ]
}

@test "a podman docker-archive gives the same tree, keyed by the manifest digest skopeo reports" {
	export SLIMFS_CACHE=$SUITE_CACHE
	entry=$(entry_of "$IMG_WORK/app-docker.tar")
	same_tree "$IMG_WORK/umoci-app/rootfs" "$entry/rootfs"
	digest=$(skopeo inspect "docker-archive:$IMG_WORK/app-docker.tar" | jq -r .Digest)
	[ "$(basename "$entry")" = "${digest#sha256:}" ]
	[ "$(jq -r .format "$entry/image.json")" = docker-archive ]
	[ "$(sha256_of "$entry/manifest.json")" = "$digest" ]
}

@test "an OCI layout directory and a gzipped docker save are read too" {
	entry=$(entry_of "$IMG_WORK/app-layout")
	same_tree "$IMG_WORK/umoci-app/rootfs" "$entry/rootfs"
	[ "$(jq -r .format "$entry/image.json")" = oci ]
	entry=$(entry_of "$IMG_WORK/app-docker.tar.gz")
	same_tree "$IMG_WORK/umoci-app/rootfs" "$entry/rootfs"
}

@test "an image is unpacked once: later runs, from any of its forms, reuse the entry" {
	entry=$(entry_of "$IMG_WORK/hand")
	ino=$(stat -c %i "$entry/rootfs/c/new")
	echo extra >"$entry/rootfs/marker"      # a second unpack would not have it
	[ "$(entry_of "$IMG_WORK/hand:hand")" = "$entry" ]
	mkoci archive "$IMG_WORK/hand" hand.tar --format oci-archive
	[ "$(entry_of hand.tar)" = "$entry" ]
	[ "$(stat -c %i "$entry/rootfs/c/new")" = "$ino" ]
	[ -e "$entry/rootfs/marker" ]
	# the record says who unpacked it first
	[ "$(jq -r .source "$entry/image.json")" = "$IMG_WORK/hand" ]
}

# ---- layers ------------------------------------------------------------------------

@test "whiteouts, opaque directories, replacements and hardlinks apply as layer.md says" {
	entry=$(entry_of "$IMG_WORK/hand")
	diff <(echo "$HAND_TREE") <(short_tree "$entry/rootfs")
	[ "$(cat "$entry/rootfs/f")" = "f replaced" ]        # replaced, its old hardlink kept
	[ "$(cat "$entry/rootfs/f2")" = "f" ]
	[ "$(stat -c %i "$entry/rootfs/h")" = "$(stat -c %i "$entry/rootfs/a/keep")" ]
	[ "$(stat -c %i "$entry/rootfs/hl2")" = "$(stat -c %i "$entry/rootfs/x/y/z")" ]
	same_tree "$IMG_WORK/umoci-hand/rootfs" "$entry/rootfs"
}

@test "layers compressed with zstd, gzip, Docker's gzip type or none give the same tree" {
	h=$IMG_WORK
	mkoci layout zstd --ref z --compress zstd "$h/l1.tar" "$h/l2.tar" "$h/l3.tar" "$h/probe.tar" >/dev/null
	mkoci layout mixed --ref m --compress docker,zstd,none,gzip "$h/l1.tar" "$h/l2.tar" "$h/l3.tar" \
		"$h/probe.tar" >/dev/null
	same_tree "$h/umoci-hand/rootfs" "$(entry_of zstd)/rootfs"
	same_tree "$h/umoci-hand/rootfs" "$(entry_of mixed)/rootfs"
}

@test "docker-archives: classic with plain or gzipped layers, gzipped whole, Docker 25+" {
	h=$IMG_WORK
	mkoci archive "$h/hand" classic.tar --format docker-archive --ref hand
	mkoci archive "$h/hand" classic-gz-layers.tar --format docker-archive --ref hand --gzip-layers
	mkoci archive "$h/hand" classic.tar.gz --format docker-archive --ref hand --gzip
	mkoci archive "$h/hand" docker25.tar --format docker25 --ref hand
	digest=$(skopeo inspect docker-archive:classic.tar | jq -r .Digest)
	for a in classic.tar classic-gz-layers.tar classic.tar.gz; do
		entry=$(entry_of "$a")
		[ "$(basename "$entry")" = "${digest#sha256:}" ]
		same_tree "$h/umoci-hand/rootfs" "$entry/rootfs"
	done
	# Docker 25+: read through its OCI layout, so keyed like the layout; named either way
	layout=$(jq -r '.manifests[0].digest' "$h/hand/index.json")
	[ "$(basename "$(entry_of docker25.tar)")" = "${layout#sha256:}" ]
	[ "$(basename "$(entry_of docker25.tar:hand:latest)")" = "${layout#sha256:}" ]
	[ "$(basename "$(entry_of docker25.tar:docker.io/library/hand:latest)")" = "${layout#sha256:}" ]
}

# ---- selection ---------------------------------------------------------------------

@test "IMAGE:REF picks an image by name; a path holding ':' is taken whole first" {
	h=$IMG_WORK
	printf 'file which one\n' | mkoci tar one.tar
	printf 'file which two\n' | mkoci tar two.tar
	mkoci layout two-images --ref one "$h/probe.tar" one.tar >/dev/null
	mkoci layout two-images --ref two "$h/probe.tar" two.tar >/dev/null
	[ "$(cat "$(entry_of two-images:two)/rootfs/which")" = two ]
	[ "$(cat "$(entry_of two-images:one)/rootfs/which")" = one ]
	# without a name: ambiguous, and the names are listed
	run --separate-stderr slimfs_run --trace t.db two-images -- true
	fails_one_line "*two-images: 2 images for platform*names: one, two*"
	run --separate-stderr slimfs_run --trace t.db two-images:three -- true
	fails_one_line "*two-images: no image named three (names: one, two)"
	# a directory whose name holds ':'
	mkoci layout "lay:out" --ref only "$h/probe.tar" one.tar >/dev/null
	[ "$(cat "$(entry_of "lay:out")/rootfs/which")" = one ]
	[ "$(cat "$(entry_of "lay:out:only")/rootfs/which")" = one ]
}

@test "--platform picks from a multi-platform index (nested or not), attestations skipped" {
	printf 'file arch host\n' | mkoci tar host.tar
	printf 'file arch other\n' | mkoci tar other.tar
	p=$IMG_WORK/probe.tar
	mkoci layout flat --ref multi --platform "$(host_platform)" --index-platform "$p" host.tar >/dev/null
	mkoci layout flat --ref multi --platform "$(other_platform)" --index-platform "$p" other.tar >/dev/null
	cp -a flat nested
	mkoci nest nested --ref multi --attestation >/dev/null
	[ "$(jq -r '.manifests[0].mediaType' nested/index.json)" = application/vnd.oci.image.index.v1+json ]
	for l in flat nested; do
		[ "$(cat "$(entry_of "$l")/rootfs/arch")" = host ]
		[ "$(cat "$(entry_of --platform "$(host_platform)" "$l:multi")/rootfs/arch")" = host ]
		[ "$(cat "$(entry_of --platform "$(other_platform)" "$l")/rootfs/arch")" = other ]
		[ "$(jq -r .platform "$(entry_of --platform "$(other_platform)" "$l")/image.json")" = "$(other_platform)" ]
	done
	# only the attestation manifest for unknown/unknown: nothing to run
	run --separate-stderr slimfs_run --trace t.db --platform unknown/unknown nested -- true
	fails_one_line "*nested: no manifest for platform unknown/unknown (platforms: *)"
}

@test "export --from takes an image and resolves it to the unpacked tree" {
	export SLIMFS_CACHE=$SUITE_CACHE
	slimfs_run --trace t.db --entrypoint cat "$IMG_WORK/app-layout" -- /opt/app/c >/dev/null
	"$SLIMFS_EXPORT" --list t.db >by-lowerdir
	grep -qx /opt/app/c by-lowerdir
	for from in "$IMG_WORK/app-layout" "$IMG_WORK/app-layout:app" "$IMG_WORK/app-oci.tar"; do
		run "$SLIMFS_EXPORT" --from "$from" --list t.db
		[ "$status" -eq 0 ]
		[ "$output" = "$(cat by-lowerdir)" ]
	done
	run --separate-stderr "$SLIMFS_EXPORT" --from "$IMG_WORK/app-layout:nope" --list t.db
	fails_one_line "*app-layout: no image named nope (names: app)"
}

@test "SIGTERM while an image is unpacked ends the run and leaves no cache entry" {
	"$SLIMFS_RUN" --trace t.db "$IMG_WORK/app-oci.tar" >out 2>err &
	pid=$!
	for _ in $(seq 200); do
		compgen -G "$SLIMFS_CACHE/images/.tmp-*/rootfs/usr/share" >/dev/null && break
		sleep 0.05
	done
	kill -TERM "$pid"
	st=0 && timeout 30 tail --pid="$pid" -f /dev/null || st=$?
	[ "$st" -eq 0 ] || { kill -KILL "$pid"; false; }
	st=0 && wait "$pid" || st=$?
	cat err
	[ "$st" -eq 143 ]
	[ "$(cat err)" = "slimfs-run: $IMG_WORK/app-oci.tar: interrupted by signal 15 while unpacking it" ]
	cache_clean
	[ ! -e t.db ]
}

# ---- bad input ---------------------------------------------------------------------

# refused PATTERN IMAGE... — slimfs-run IMAGE fails with one line matching PATTERN,
# nothing unpacked into the cache, nothing mounted.
refused() {
	local pattern=$1
	shift
	run --separate-stderr slimfs_run --trace t.db "$@" -- true
	fails_one_line "$pattern"
	[ "$status" -eq 125 ]
	cache_clean
	assert_nothing_left
	[ ! -e t.db ]           # the daemon never started
}

# a copy of the hand layout to spoil
spoil_copy() {
	cp -a "$IMG_WORK/hand" bad
}

layer_blob() {   # layer_blob N — path of layer N's blob in ./bad
	local m
	m=$(jq -r '.manifests[0].digest' bad/index.json)
	echo "bad/blobs/sha256/$(jq -r ".layers[$1].digest" "bad/blobs/sha256/${m#sha256:}" | cut -d: -f2)"
}

@test "bad input: a truncated archive" {
	mkoci archive "$IMG_WORK/hand" whole.tar --format oci-archive
	head -c $(( $(stat -c %s whole.tar) / 2 )) whole.tar >cut.tar
	refused "*cut.tar: *" cut.tar
	head -c $(( $(stat -c %s "$IMG_WORK/app-docker.tar") - 700000 )) "$IMG_WORK/app-docker.tar" >cut2.tar
	refused "*cut2.tar: truncated or corrupt archive*" cut2.tar
}

@test "bad input: a missing blob" {
	spoil_copy
	blob=$(layer_blob 1)
	rm "$blob"
	refused "*bad: layer sha256:$(basename "$blob") (2 of 4): missing blob" bad
}

@test "bad input: a corrupt layer blob, a manifest that is not its digest" {
	spoil_copy
	blob=$(layer_blob 0)
	printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
	refused "*bad: layer sha256:$(basename "$blob") (1 of 4): digest mismatch (the blob's is sha256:*)" bad
	rm -rf bad
	spoil_copy
	m=$(jq -r '.manifests[0].digest' bad/index.json)
	sed -i 's/"schemaVersion":2/"schemaVersion": 2/' "bad/blobs/sha256/${m#sha256:}"
	refused "*bad: manifest $m: digest mismatch*" bad
}

@test "bad input: a layer whose tar is not the config's diff_id" {
	spoil_copy
	mkoci rewrite bad --ref hand --config 'c["rootfs"]["diff_ids"][3] = c["rootfs"]["diff_ids"][1]'
	refused "*bad: layer sha256:* (4 of 4): diff_id mismatch (its tar's is sha256:*, the config says sha256:*)" bad
}

@test "bad input: an unknown media type" {
	spoil_copy
	mkoci rewrite bad --ref hand --manifest 'm["layers"][1]["mediaType"] = "application/x-made-up"'
	refused "*bad: layer sha256:*: unknown media type application/x-made-up" bad
	rm -rf bad
	spoil_copy
	mkoci rewrite bad --ref hand --manifest 'm["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"'
	refused "*bad: layer sha256:* (1 of 4): not zstd data, as its media type says" bad
}

@test "bad input: no manifest for the platform asked for" {
	refused "*hand: no manifest for platform $(other_platform) (the image is $(host_platform))" \
		--platform "$(other_platform)" "$IMG_WORK/hand"
	refused "*--platform linux: expected os/arch*" --platform linux "$IMG_WORK/hand"
}

@test "bad input: a config that is not JSON" {
	spoil_copy
	mkoci rewrite bad --ref hand --raw-config '{"rootfs": not json'
	refused "*bad: config sha256:*: not JSON (*)" bad
}

@test "bad input: members and hardlinks that escape the tree are refused" {
	for spec in 'file ../evil x' 'file a/../../evil x' 'hardlink h ../../etc/passwd' \
		'hardlink h /etc/passwd' 'empty a/.wh...' 'empty a/../.wh.b'; do
		rm -rf bad
		printf 'dir a\n%s\n' "$spec" | mkoci tar esc.tar
		mkoci layout bad --ref hand "$IMG_WORK/probe.tar" esc.tar >/dev/null
		refused "*bad: layer sha256:* (2 of 2): *: refused" bad
	done
}

@test "a whiteout cannot delete outside the tree, through any symlink" {
	canary=$BATS_TEST_TMPDIR/canary
	mkdir -p "$canary"
	echo precious >"$canary/victim"
	printf 'symlink out %s\nsymlink up ../../../../../../../../%s\n' "$canary" "${canary#/}" | mkoci tar l1.tar
	printf 'empty out/.wh.victim\nempty up/.wh.victim\nempty out/.wh..wh..opq\n' | mkoci tar l2.tar
	mkoci layout esc --ref e "$IMG_WORK/probe.tar" l1.tar l2.tar >/dev/null
	entry=$(entry_of esc)
	[ "$(cat "$canary/victim")" = precious ]
	[ -L "$entry/rootfs/out" ] && [ -L "$entry/rootfs/up" ]
	# a member written through such a symlink: its directory is not in the tree
	export SLIMFS_CACHE=$BATS_TEST_TMPDIR/cache2
	printf 'file out/planted x\n' | mkoci tar l3.tar
	mkoci layout esc2 --ref e "$IMG_WORK/probe.tar" l1.tar l3.tar >/dev/null
	refused "*esc2: layer sha256:* (3 of 3): member 'out/planted': its directory: File exists" esc2
	[ "$(ls "$canary")" = victim ]
}
