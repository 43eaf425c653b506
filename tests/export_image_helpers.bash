# export_image_helpers.bash — container images for the export_image suite, made inside
# the test from the shared Debian root fs with podman, in the suite's own podman storage
# (image_helpers.bash: pod, in $IMG_WORK), so the host's images are never touched, and
# nothing is fetched.
load image_helpers

MKTRACE=$SLIMFS_BUILD/tests/mktrace

# pod_run IMAGE — run IMAGE's own command as podman would for a user (the ulimits: this
# machine has no CAP_SYS_RESOURCE); stdout only, the exit status is the command's.
pod_run() {
	pod run --rm --network none "${PODMAN_ULIMITS[@]}" "$1" 2>/dev/null
}

# build_source_image DIR — localhost/src:1.0, a docker-format image (HEALTHCHECK, SHELL
# and ONBUILD exist only there) of several layers over the Debian root fs: files and a
# directory deleted, a directory replaced (an opaque whiteout), hardlinks, a non-root
# user, and every config key a lean image must keep.  Saved as DIR/src.tar
# (docker-archive).
build_source_image() {
	local dir=$1
	mkdir -p "$dir/ctx"
	pod_import_base localhost/slimfs-base:1
	cat >"$dir/ctx/run.sh" <<-'EOF'
		#!/bin/sh
		echo "user=$(id -un) uid=$(id -u) gid=$(id -g) dir=$PWD greet=$GREETING args=$*"
		cat /opt/data/a-link /etc/apt/marker
		stat -c '%n %s %h' /opt/data/*
		ls /etc/apt
		if [ -e /usr/share/doc ]; then echo doc-present; else echo doc-gone; fi
		python3 -c 'import json, sys; print(json.dumps({"py": sys.version_info[0]}))'
		exit 3
	EOF
	cat >"$dir/ctx/Containerfile" <<-'EOF'
		FROM localhost/slimfs-base:1
		RUN rm -rf /usr/share/doc /usr/share/man /usr/share/info /usr/bin/perl*
		RUN rm -rf /etc/apt && mkdir /etc/apt && echo replaced >/etc/apt/marker
		RUN mkdir -p /opt/data && echo one >/opt/data/a && echo two >/opt/data/b && \
		    ln /opt/data/a /opt/data/a-link && ln /opt/data/a /opt/data/.third-name
		COPY run.sh /srv/app/run.sh
		RUN useradd -m -u 1000 -s /bin/sh app && chmod 755 /srv/app/run.sh
		USER app
		WORKDIR /srv/app
		ENV GREETING=hello PATH=/usr/local/bin:/usr/bin:/bin
		ENTRYPOINT ["/srv/app/run.sh"]
		CMD ["arg1"]
		HEALTHCHECK --interval=30s CMD ["/bin/true"]
		LABEL org.example.name=test org.example.v=1
		EXPOSE 8080/tcp
		STOPSIGNAL SIGINT
		VOLUME /srv/app/state
		SHELL ["/bin/sh", "-ec"]
		ONBUILD RUN true
	EOF
	pod build -q --format docker --network none "${PODMAN_ULIMITS[@]}" -t localhost/src:1.0 \
		"$dir/ctx" >/dev/null
	pod save -q --format docker-archive -o "$dir/src.tar" localhost/src:1.0
}

# blob ARCHIVE DIGEST — the blob sha256:HEX of an image archive, on stdout.
blob() {
	tar -xOf "$1" "blobs/sha256/${2#sha256:}"
}

# layer_of ARCHIVE — the digest of the one layer of an image archive (docker manifest).
layer_of() {
	tar -xOf "$1" manifest.json | jq -r '.[0].Layers[0] | sub("blobs/sha256/"; "sha256:")'
}

# config_of ARCHIVE — the config blob of an image archive.
config_of() {
	blob "$1" "$(tar -xOf "$1" manifest.json | jq -r '.[0].Config | sub("blobs/sha256/"; "")')"
}

# tar_paths — member names of the tar on stdin as absolute paths ("./usr/" -> "/usr").
tar_paths() {
	tar -tf - | sed -e 's,^\./,/,' -e 's,/$,,' -e 's,^$,/,' | LC_ALL=C sort
}

# same_config SOURCE_CONFIG LEAN_CONFIG — the lean config is the source's but for rootfs,
# history, created and the io.slimfs.* labels; prints those labels as JSON.
same_config() {
	python3 - "$1" "$2" <<-'EOF'
		import json, sys
		src, lean = (json.load(open(p)) for p in sys.argv[1:3])
		for k in ("rootfs", "history", "created"):
		    src.pop(k, None); lean.pop(k, None)
		labels = lean["config"]["Labels"]
		slim = {k: labels.pop(k) for k in list(labels) if k.startswith("io.slimfs.")}
		if src != lean:
		    sys.exit("configs differ:\n%s\n%s" % (json.dumps(src, sort_keys=True),
		                                       json.dumps(lean, sort_keys=True)))
		print(json.dumps(slim, sort_keys=True))
	EOF
}

# no_time_records TAR — no member of TAR has an atime or ctime pax record.
no_time_records() {
	python3 - "$1" <<-'EOF'
		import sys, tarfile
		bad = [m.name for m in tarfile.open(sys.argv[1]) if {"atime", "ctime"} & set(m.pax_headers)]
		sys.exit(" ".join(bad[:5]) or None)
	EOF
}

# count_files TAR — regular files by name (hardlinks included), as --stats counts them.
count_files() {
	python3 -c 'import sys, tarfile; print(sum(m.isreg() or m.islnk() for m in tarfile.open(sys.argv[1])))' "$1"
}
