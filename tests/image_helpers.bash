# image_helpers.bash — container images for tests/image_*.bats, made inside the tests:
# one built by podman from the cached Debian root fs (podman's storage private to the
# suite, so the host's images are never touched), and small ones whose layers are
# written entry by entry (tests/mkoci.py) so every whiteout stands exactly where the
# test wants it.
load run_helpers

MKOCI=$SLIMFS_SRC/tests/mkoci.py
PODMAN_ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
APP=localhost/slimfs-test-app:latest

mkoci() {
	python3 "$MKOCI" "$@"
}

# pod ARGS... — podman with the suite's own storage ($IMG_WORK/storage).
pod() {
	podman --root "$IMG_WORK/storage" --runroot "$IMG_WORK/run" "$@"
}

# pod_fini — the suite's podman storage removed (containers, images, mounts).
pod_fini() {
	pod rm -af >/dev/null 2>&1 || true
	pod rmi -af >/dev/null 2>&1 || true
	awk -v d="$IMG_WORK/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$IMG_WORK/storage" "$IMG_WORK/run"
}

# pod_import_base NAME — the shared Debian root fs (tests/rootfs.sh) imported into the
# suite's podman storage as the image NAME: the base every podman-built test image has.
pod_import_base() {
	tar -C "$(rootfs)" --numeric-owner --xattrs --xattrs-include='*' -cf - . |
		pod import -q - "$1" >/dev/null
}

# build_app DIR — the podman-built test image $APP, saved in DIR as app-oci.tar
# (oci-archive), app-docker.tar (docker-archive), app-docker.tar.gz (`docker save |
# gzip`) and app-layout/ (an OCI layout made by skopeo, ref "app").  Its layers: the
# Debian root fs; a RUN that deletes files, adds a user, a group and a hardlink; a RUN
# that replaces a directory (podman writes opaque whiteouts for it).  Config: a non-root
# User, WorkingDir, Env, Entrypoint and Cmd.
build_app() {
	local dir=$1
	pod_import_base localhost/slimfs-test-base:latest
	cat >"$dir/Containerfile" <<-'EOF'
	FROM localhost/slimfs-test-base:latest
	RUN rm -rf /usr/share/doc/tzdata /etc/motd && mkdir -p /opt/app/sub && \
	    echo one >/opt/app/sub/a && echo two >/opt/app/b && ln /opt/app/b /opt/app/b-link && \
	    useradd -u 1234 -m -s /bin/sh appuser && groupadd -g 2345 extra && \
	    usermod -aG extra appuser && mkdir /srv/data && echo data >/srv/data/file
	RUN rm -rf /opt/app && mkdir -p /opt/app && echo three >/opt/app/c && \
	    rm -rf /usr/share/zoneinfo/Europe && mkdir /usr/share/zoneinfo/Europe && \
	    echo x >/usr/share/zoneinfo/Europe/only && ln /opt/app/c /opt/app/c-link
	ENV GREETING=hello APPMODE=test
	WORKDIR /opt/app
	USER appuser
	ENTRYPOINT ["/bin/sh", "-c", "echo \"entry $0 [$*] $GREETING $APPMODE $(id -un) $(pwd) $HOME\"; id", "ep0"]
	CMD ["arg1", "arg2"]
	EOF
	pod build -q --network none "${PODMAN_ULIMITS[@]}" -t "$APP" "$dir" >/dev/null
	pod save -q --format oci-archive -o "$dir/app-oci.tar" "$APP"
	pod save -q --format docker-archive -o "$dir/app-docker.tar" "$APP"
	gzip -c "$dir/app-docker.tar" >"$dir/app-docker.tar.gz"
	skopeo copy -q "oci-archive:$dir/app-oci.tar" "oci:$dir/app-layout:app"
}

# probe_layer DIR — DIR/probe.tar: a layer holding /bin/true, a static program that
# exits 0, so that images of hand-written layers have something slimfs-run can run.
probe_layer() {
	mkdir -p "$1/probe/bin"
	printf 'int main(void) { return 0; }\n' | gcc -static -O2 -x c - -o "$1/probe/bin/true"
	tar -C "$1/probe" --numeric-owner --owner=0 --group=0 --no-recursion -cf "$1/probe.tar" bin bin/true
}

# hand_layers DIR — three layers written entry by entry: DIR/l1.tar (a tree made with
# GNU tar: owners, a setuid file, a symlink, a hardlink pair), DIR/l2.tar and l3.tar
# (whiteouts, opaque markers before and after their siblings, replacements, hardlinks
# to lower files).  The tree they make is HAND_TREE.
hand_layers() {
	local dir=$1 s=$1/l1
	mkdir -p "$s"/a/sub "$s"/b/y "$s"/d "$s"/g "$s"/opq/lowerdir "$s"/early "$s"/w
	echo keep >"$s"/a/keep; echo gone >"$s"/a/gone; echo deep >"$s"/a/sub/deep
	echo x >"$s"/b/x; echo z >"$s"/b/y/z; echo c >"$s"/c; echo inner >"$s"/d/inner
	ln -s a "$s"/e; echo f >"$s"/f; ln "$s"/f "$s"/f2; echo old >"$s"/g/old
	echo l1 >"$s"/opq/lower1; echo x >"$s"/opq/lowerdir/x; echo lower >"$s"/early/lower
	echo old >"$s"/w/old
	chown 1000:1000 "$s"/a/keep; chmod 4755 "$s"/a/gone
	(cd "$s" && find . -mindepth 1 | sort | tar --numeric-owner --no-recursion -cf ../l1.tar -T -)
	mkoci tar "$dir/l2.tar" <<-'EOF'
	dir a
	empty a/.wh.gone
	empty .wh.b
	empty .wh..wh.plnk
	dir c
	file c/new new
	file d isfile
	dir e
	file e/ine ine
	dir early
	empty early/.wh..wh..opq
	file early/new new
	dir g
	file g/new new
	empty g/.wh.new
	hardlink h a/keep
	dir opq
	dir opq/lowerdir
	file opq/lowerdir/newx newx
	file opq/upper1 u1
	empty opq/.wh..wh..opq
	dir w
	file w/new new
	empty .wh.w
	EOF
	mkoci tar "$dir/l3.tar" <<-'EOF'
	file f f replaced
	dir a 0700
	dir a/sub
	empty a/sub/.wh.deep
	file x/y/z deep parents
	hardlink hl2 x/y/z
	EOF
}

# What hand_layers' three layers make: "TYPE MODE OWNER LINKS PATH" per entry.
HAND_TREE="d 755 0:0 11 .
d 700 0:0 3 ./a
f 644 1000:1000 2 ./a/keep
d 755 0:0 2 ./a/sub
d 755 0:0 2 ./bin
f 755 0:0 1 ./bin/true
d 755 0:0 2 ./c
f 644 0:0 1 ./c/new
f 644 0:0 1 ./d
d 755 0:0 2 ./e
f 644 0:0 1 ./e/ine
d 755 0:0 2 ./early
f 644 0:0 1 ./early/new
f 644 0:0 1 ./f
f 644 0:0 1 ./f2
d 755 0:0 2 ./g
f 644 0:0 1 ./g/new
f 644 0:0 1 ./g/old
f 644 1000:1000 2 ./h
f 644 0:0 2 ./hl2
d 755 0:0 3 ./opq
d 755 0:0 2 ./opq/lowerdir
f 644 0:0 1 ./opq/lowerdir/newx
f 644 0:0 1 ./opq/upper1
d 755 0:0 2 ./w
f 644 0:0 1 ./w/new
d 755 0:0 3 ./x
d 755 0:0 2 ./x/y
f 644 0:0 2 ./x/y/z"

# short_tree DIR — HAND_TREE's form of the tree at DIR.
short_tree() {
	(cd "$1" && find . -printf '%y %m %U:%G %n %p\n' | LC_ALL=C sort -k5)
}

# tree_manifest DIR — every entry's type, mode, owner, size and link target, every
# file's sha256, and the hardlink groups: what must be equal for two unpacks to be one.
tree_manifest() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %l\n' | LC_ALL=C sort) &&
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) &&
	(cd "$1" && find . -type f -links +1 -printf '%i %p\n' | LC_ALL=C sort -k2 |
		awk '{ g[$1] = g[$1] " " $2 } END { for (i in g) print g[i] }' | LC_ALL=C sort)
}

# same_tree A B — tree_manifest of A and B agree (the difference is printed if not).
same_tree() {
	diff <(tree_manifest "$1") <(tree_manifest "$2")
}

# umoci_tree LAYOUT:REF OUT — OUT/rootfs is umoci's unpack of the image.
umoci_tree() {
	umoci unpack --image "$1" "$2" >/dev/null
}

# entry_of [OPTIONS] IMAGE — the cache entry slimfs-run made for IMAGE (read from a
# run's trace: runs.lowerdir is ENTRY/rootfs).  IMAGE must hold true (probe_layer).
entry_of() {
	local t=$BATS_TEST_TMPDIR/entry-of.db
	rm -f "$t"
	"$SLIMFS_RUN" --trace "$t" --entrypoint true "$@" >/dev/null || return
	dirname "$(sqlite3 "$t" 'SELECT lowerdir FROM runs ORDER BY id DESC LIMIT 1')"
}

# cache_clean — the cache holds no entry and no temporary directory (only its lock).
cache_clean() {
	local left
	left=$(ls -A "$SLIMFS_CACHE/images" 2>/dev/null | grep -vx '.lock' || true)
	[ -z "$left" ] || { echo "left in the cache: $left" >&2; return 1; }
}

# sha256_of FILE — "sha256:<hex>" of FILE.
sha256_of() {
	echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

# host_platform — this machine in image-spec terms, and other_platform one it is not.
host_platform() {
	case $(uname -m) in
	x86_64) echo linux/amd64 ;;
	aarch64) echo linux/arm64/v8 ;;
	*) echo "linux/$(uname -m)" ;;
	esac
}
other_platform() {
	[[ $(host_platform) == linux/s390x ]] && echo linux/ppc64le || echo linux/s390x
}
