#!/usr/bin/env bats
# run_service.bats — slimfs-run for services: real servers from Debian packages (a
# python http.server, nginx, a worker with a shutdown path) are started, waited for,
# probed from the host (--probe, --http-probe) and inside (--exec), stopped with the
# image's StopSignal, recorded, exported and checked with the same probes; a server
# that crashes at start or never listens is one clear error with nothing left behind.
# Both runtimes, host network and --net none.
load image_helpers

# The web image: the Debian root fs plus /srv/www and /opt/worker.py, exposing 8000/tcp,
# stopped with SIGINT (python's http.server then exits 0), running http.server.
setup_file() {
	export IMG_WORK=$BATS_FILE_TMPDIR
	export SUITE_CACHE=$IMG_WORK/cache
	local w=$IMG_WORK/app
	mkdir -p "$w"/srv/www "$w"/opt
	echo '<h1>served by slimfs</h1>' >"$w"/srv/www/index.html
	echo 'data line' >"$w"/srv/www/data.txt
	tar -C "$(rootfs)" --numeric-owner --xattrs --xattrs-include='*' -cf "$IMG_WORK/base.tar" .
	tar -C "$w" --numeric-owner --owner=0 --group=0 -cf "$IMG_WORK/app.tar" srv opt
	mkoci layout "$IMG_WORK/web" --ref web --compress none --config \
		'{"ExposedPorts": {"8000/tcp": {}}, "StopSignal": "SIGINT",
		  "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		  "Cmd": ["python3", "-m", "http.server", "-d", "/srv/www", "8000"]}' \
		"$IMG_WORK/base.tar" "$IMG_WORK/app.tar"
	rm -f "$IMG_WORK/base.tar"
	export WEB=$IMG_WORK/web:web
}

setup() {
	run_setup
	export SLIMFS_CACHE=$SUITE_CACHE
}

teardown() {
	assert_nothing_left
}

# A worker: ready once it listens on port $1, answers "working"; on SIGTERM it imports
# json (only its shutdown path reads the json package) and writes /tmp/state.json.
WORKER='
import signal, socket, sys
def stop(sig, frame):
    import json
    with open("/tmp/state.json", "w") as f:
        json.dump({"stopped_by": sig, "state": "saved"}, f)
    print("state saved", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("worker ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"working\n")
    c.close()
'

# GET PATH on $SLIMFS_HOST:$SLIMFS_PORT with bash alone: the body's last line.
HOST_GET='exec 3<>/dev/tcp/$SLIMFS_HOST/$SLIMFS_PORT && printf "GET %s HTTP/1.0\r\n\r\n" "$0" >&3 && tail -n1 <&3'

# stderr's lines that slimfs-run itself wrote (not the server's "server| " lines).
own_lines() {
	grep -v '^server| ' <<<"$stderr"
}

@test "the image's ExposedPorts and StopSignal: python http.server probed, stopped with SIGINT, recorded, exported and checked, both runtimes" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db \
			--http-probe=/index.html --probe "bash -c '$HOST_GET' /data.txt" "$WEB"
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "GET http://127.0.0.1:8000/index.html 200 sha256:$(sha256sum <"$IMG_WORK/app/srv/www/index.html" | cut -d' ' -f1) 26 bytes" ]
		[ "${lines[1]}" = "data line" ]
		[ "${#lines[@]}" -eq 2 ]
		grep -q '^slimfs-run: the server is ready (port 8000)' <<<"$stderr"
		grep -q '^slimfs-run: stopping the server with SIGINT$' <<<"$stderr"
		grep -q '^server| Keyboard interrupt received, exiting.$' <<<"$stderr"
		grep -q '^slimfs-run: the server exited with status 0$' <<<"$stderr"
		grep -q '^server| .*"GET /data.txt HTTP/1.0" 200' <<<"$stderr"
	done
	has_read t.db /srv/www/index.html
	has_read t.db /srv/www/data.txt
	run "$SLIMFS_EXPORT" -o lean.tar t.db
	[ "$status" -eq 0 ]
	for rt in builtin runc; do
		run slimfs_run --runtime $rt --net none --check lean.tar \
			--http-probe=/index.html --probe "bash -c '$HOST_GET' /data.txt" "$WEB"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ ${lines[-1]} == "slimfs-run: check passed: probes' exit status 0, "*" the server's exit status 0 identical in "* ]]
	done
}

@test "host network: the probes reach the server on the host's loopback, with SLIMFS_HOST, SLIMFS_PORT and SLIMFS_PORTS" {
	local rt port=$((20000 + RANDOM % 20000))
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --trace t.db --wait-port $port \
			--probe 'echo "$SLIMFS_HOST $SLIMFS_PORT [$SLIMFS_PORTS]"' --http-probe=/etc/hostname \
			"$ROOTFS" -- python3 -m http.server -d / $port
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "127.0.0.1 $port [$port]" ]
		[[ ${lines[1]} == "GET http://127.0.0.1:$port/etc/hostname 200 sha256:"* ]]
	done
}

@test "--net none: the probes run in the container's network namespace, which has only lo" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db --wait-port 8000 \
			--probe "awk 'NR > 2 { print \$1 }' /proc/self/net/dev" --probe "bash -c '$HOST_GET' /etc/hostname" \
			"$ROOTFS" -- python3 -m http.server -d / 8000
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "$output" = "lo:"$'\n'"$(cat "$ROOTFS/etc/hostname")" ]
	done
	# the same probe outside: the host has more than lo
	run awk 'NR > 2 { print $1 }' /proc/self/net/dev
	[ "$output" != "lo:" ]
}

@test "nginx: a static file, a 404 and its config include, recorded, exported and checked; a lean image without the file fails the check" {
	local ng probes
	ng=$("$SLIMFS_SRC/tests/rootfs.sh" nginx)
	probes=(--net none --wait-port 80 --http-probe=/index.nginx-debian.html --http-probe=/no-such-page)
	run --separate-stderr slimfs_run --trace t.db "${probes[@]}" "$ng" -- nginx -g 'daemon off;'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "GET http://127.0.0.1:80/index.nginx-debian.html 200 sha256:$(sha256sum <"$ng/var/www/html/index.nginx-debian.html" | cut -d' ' -f1) 615 bytes" ]
	[[ ${lines[1]} == "GET http://127.0.0.1:80/no-such-page 404 sha256:"* ]]
	# nginx.conf includes sites-enabled/*, a symlink to sites-available/default
	has_read t.db /etc/nginx/sites-available/default
	has_event t.db /etc/nginx/sites-enabled/default readlink
	run "$SLIMFS_EXPORT" --from "$ng" -o lean.tar t.db
	[ "$status" -eq 0 ]
	run slimfs_run --check lean.tar "${probes[@]}" "$ng" -- nginx -g 'daemon off;'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "slimfs-run: check passed: "* ]]
	run "$SLIMFS_EXPORT" --from "$ng" --exclude /var/www/html/index.nginx-debian.html -o bad.tar t.db
	[ "$status" -eq 0 ]
	run slimfs_run --check bad.tar "${probes[@]}" "$ng" -- nginx -g 'daemon off;'
	echo "$output"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "slimfs-run: check FAILED: stdout differs (exit status 0 in both)" ]]
}

@test "a worker's shutdown path is recorded: SIGTERM makes it import json and write its state, both runtimes" {
	local rt
	local ask=(--wait-port 8001 --probe "bash -c 'exec 3<>/dev/tcp/\$SLIMFS_HOST/8001; cat <&3'")
	for rt in builtin runc; do
		rm -rf up t.db && mkdir up
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db --upper up \
			"${ask[@]}" \
			"$ROOTFS" -- python3 -c "$WORKER" 8001
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "$output" = working ]
		grep -q '^server| state saved$' <<<"$stderr"
		grep -q '^slimfs-run: the server exited with status 0$' <<<"$stderr"
		[ "$(cat up/tmp/state.json)" = '{"stopped_by": 15, "state": "saved"}' ]
		has_read t.db /usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc
		has_read t.db /usr/lib/python3.11/json/__pycache__/encoder.cpython-311.pyc
		# the trace is complete when slimfs-run returns
		[ "$(sqlite3 t.db 'SELECT count(*) FROM runs WHERE ended_ns IS NULL')" -eq 0 ]
	done
	# the shutdown path decides the check: a lean image without json fails to save
	run "$SLIMFS_EXPORT" --from "$ROOTFS" -o lean.tar t.db
	[ "$status" -eq 0 ]
	run slimfs_run --net none --check lean.tar "${ask[@]}" \
		"$ROOTFS" -- python3 -c "$WORKER" 8001
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SLIMFS_EXPORT" --from "$ROOTFS" --exclude /usr/lib/python3.11/json -o nojson.tar t.db
	[ "$status" -eq 0 ]
	run slimfs_run --net none --check nojson.tar "${ask[@]}" \
		"$ROOTFS" -- python3 -c "$WORKER" 8001
	echo "$output"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == "slimfs-run: check FAILED: the server's exit status after the stop is 0 in $ROOTFS, 1 in nojson.tar" ]]
}

@test "a server that crashes at start: one clear error with its last lines, nothing left, both runtimes" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --trace t.db --wait-port 8000 --probe 'echo never' \
			"$ROOTFS" -- python3 -c 'import sys; print("loading /etc/app.conf", flush=True); sys.exit("bad config: /etc/app.conf missing")'
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 125 ]
		[ -z "$output" ]
		[ "$(own_lines)" = "slimfs-run: the server (python3) exited with status 1 before it was ready (port 8000); its last lines are above" ]
		grep -q '^server| loading /etc/app.conf$' <<<"$stderr"
		grep -q '^server| bad config: /etc/app.conf missing$' <<<"$stderr"
		assert_nothing_left
	done
}

# A server that writes 20,000 numbered lines to stdout and as many to stderr, then
# listens on 8000 and exits 0 on SIGTERM.
CHATTY='
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
for i in range(20000):
    os.write(1, b"out%d\n" % i)
    os.write(2, b"err%d\n" % i)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000))
s.listen()
while True:
    s.accept()[0].close()
'

@test "a server's stdout and stderr share one log and lose no line to each other, both runtimes" {
	# under runc two copiers write them (runc's pipes): without O_APPEND one's lines
	# were written over the other's (seen in CI, and here 1 run in 3 with 2,000 lines)
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db \
			--wait-port 8000 --probe true "$ROOTFS" -- python3 -c "$CHATTY"
		echo "$rt ($status): $(own_lines)"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
		[ "$(grep -c '^server| out[0-9]*$' <<<"$stderr")" -eq 20000 ]
		[ "$(grep -c '^server| err[0-9]*$' <<<"$stderr")" -eq 20000 ]
		[ "$(grep '^server| ' <<<"$stderr" | sort -u | wc -l)" -eq 40000 ]
		grep -q '^server| out19999$' <<<"$stderr"
		grep -q '^server| err19999$' <<<"$stderr"
		rm -f t.db
	done
}

@test "a server that never listens: killed after --wait-timeout, one clear error, nothing left running, both runtimes" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db --wait-port 8000 \
			--wait-timeout 2 --probe 'echo never' "$ROOTFS" -- sh -c 'echo "still starting"; exec sleep 4242'
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 125 ]
		[ -z "$output" ]
		[ "$(own_lines)" = "slimfs-run: the server (sh) was not ready within 2 s (port 8000); it was killed; its last lines are above" ]
		grep -q '^server| still starting$' <<<"$stderr"
		[ -z "$(pgrep -f 'sleep 4242')" ]
		assert_nothing_left
	done
}

@test "--wait-cmd: ready once it succeeds; one that never does names itself in the error" {
	run --separate-stderr slimfs_run --trace t.db --net none \
		--wait-cmd "bash -c 'exec 3<>/dev/tcp/127.0.0.1/8000'" --probe 'echo probed' \
		"$ROOTFS" -- python3 -m http.server 8000
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = probed ]
	grep -q '^slimfs-run: the server is ready (--wait-cmd ' <<<"$stderr"
	run --separate-stderr slimfs_run --trace t.db --wait-cmd false --wait-timeout 1 --probe 'echo never' \
		"$ROOTFS" -- sleep 4243
	[ "$status" -eq 125 ]
	[ "$(own_lines)" = "slimfs-run: the server (sleep) was not ready within 1 s (--wait-cmd false); it was killed" ]
	[ -z "$(pgrep -f 'sleep 4243')" ]
}

@test "a server that ignores the stop signal gets SIGKILL after --stop-timeout, both runtimes" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db --wait-port 8000 \
			--stop-timeout 1 --probe true "$ROOTFS" -- \
			sh -c 'trap "echo ignoring TERM" TERM; python3 -m http.server 8000 & while :; do wait; done'
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		grep -q '^slimfs-run: the server did not stop within 1 s: SIGKILL$' <<<"$stderr"
		grep -q '^slimfs-run: the server exited with status 137$' <<<"$stderr"
		grep -q '^server| ignoring TERM$' <<<"$stderr"
	done
}

@test "the probes run in order and the first failing one gives the exit status" {
	run --separate-stderr slimfs_run --trace t.db --net none --wait-port 8000 \
		--probe 'echo one' --probe 'echo two; exit 3' --probe 'echo three; exit 5' --probe 'echo four' \
		"$ROOTFS" -- python3 -m http.server 8000
	echo "$stderr"
	[ "$status" -eq 3 ]
	[ "$output" = $'one\ntwo\nthree\nfour' ]
	grep -q '^slimfs-run: --probe echo two; exit 3: exit status 3$' <<<"$stderr"
}

@test "--exec runs inside the container as podman exec: its namespaces, user, groups, environment and directory, both runtimes" {
	local rt
	for rt in builtin runc; do
		run --separate-stderr slimfs_run --runtime $rt --net none --trace t.db --wait-port 8000 \
			--user nobody --env GREETING=hi --workdir /tmp --hostname svc \
			--exec 'id; echo "$GREETING $(pwd) $(hostname)"; cat /proc/[0-9]*/comm | grep -cx python3; awk "NR > 2 { print \$1 }" /proc/self/net/dev; cat /proc/self/status | grep ^CapEff' \
			"$ROOTFS" -- python3 -m http.server -d / 8000
		echo "$rt ($status): $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)" ]
		[ "${lines[1]}" = "hi /tmp svc" ]
		[ "${lines[2]}" = 1 ]
		[ "${lines[3]}" = "lo:" ]
		[ "${lines[4]}" = "CapEff:	0000000000000000" ]
	done
	# what it ran was recorded
	has_event t.db /usr/bin/id exec
}

@test "a service run refuses before mounting when nothing says when it is ready" {
	run --separate-stderr slimfs_run --trace t.db --probe true "$ROOTFS" -- python3 -m http.server
	[ "$status" -eq 125 ]
	[ "$stderr" = "slimfs-run: a service run needs --wait-port or --wait-cmd (no image config gives ports)" ]
	[ ! -e t.db ]
	run --separate-stderr slimfs_run --trace t.db --wait-cmd true --http-probe "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[ "$stderr" = "slimfs-run: --http-probe needs a port: --wait-port PORT" ]
	run --separate-stderr slimfs_run --wait-port 0 "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[[ $stderr == "slimfs-run: --wait-port 0: must be a TCP port"* ]]
}

@test "SIGTERM to slimfs-run during a probe: the probe is killed, the server stopped, 143 and nothing left" {
	local pid st=0
	"$SLIMFS_RUN" --trace t.db --net none --wait-port 8000 \
		--probe 'echo ready; exec sleep 4244' --probe 'echo never' \
		"$ROOTFS" -- python3 -m http.server 8000 >out 2>err &
	pid=$!
	wait_ready out
	kill -TERM "$pid"
	wait "$pid" || st=$?
	cat out err
	[ "$st" -eq 143 ]
	[ "$(cat out)" = ready ]
	grep -q '^slimfs-run: stopping the server with SIGTERM$' err
	[ "$(tail -n1 err)" = "slimfs-run: interrupted by signal 15" ]
	[ -z "$(pgrep -f 'sleep 4244')" ]
}

@test "--probe-timeout: a probe or --exec still running is killed with all it started, fails with 124, and the next one runs" {
	local t0=$SECONDS
	run --separate-stderr slimfs_run --trace t.db --net none --wait-port 8000 --probe-timeout 1 \
		--probe 'echo one; sleep 4245; echo never' --exec 'echo two; sleep 4246; echo never' \
		--probe 'echo three' "$ROOTFS" -- python3 -m http.server 8000
	echo "$output"; echo "$stderr"
	[ "$status" -eq 124 ]
	[ "$output" = $'one\ntwo\nthree' ]
	grep -qx 'slimfs-run: --probe echo one; sleep 4245; echo never: still running after 1 s: killed' <<<"$stderr"
	grep -qx 'slimfs-run: --probe echo one; sleep 4245; echo never: exit status 124' <<<"$stderr"
	grep -qx 'slimfs-run: --exec echo two; sleep 4246; echo never: still running after 1 s: killed' <<<"$stderr"
	# the shells' own children went with them, on the host and in the container
	[ -z "$(pgrep -f 'sleep 424[56]')" ]
	((SECONDS - t0 < 60))
	run "$SLIMFS_RUN" --probe-timeout soon --probe true "$ROOTFS" -- true
	[ "$status" -eq 125 ]
	[ "$output" = "slimfs-run: --probe-timeout soon: must be a number of seconds" ]
}

@test "a --wait-cmd that hangs is killed when --wait-timeout runs out: one clear error, nothing left running" {
	local t0=$SECONDS
	run --separate-stderr slimfs_run --trace t.db --wait-cmd 'sleep 4247' --wait-timeout 2 \
		--probe 'echo never' "$ROOTFS" -- sleep 4248
	echo "$output"; echo "$stderr"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	[ "$(own_lines)" = "slimfs-run: the server (sleep) was not ready within 2 s (--wait-cmd sleep 4247); it was killed" ]
	[ -z "$(pgrep -f 'sleep 424[78]')" ]
	((SECONDS - t0 < 30))
}

@test "--http-probe fails, and says why, when the server answers no HTTP" {
	run --separate-stderr slimfs_run --trace t.db --net none --wait-port 8000 --http-probe --probe 'echo after' \
		"$ROOTFS" -- python3 -c 'import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000))
s.listen()
while True:
    s.accept()[0].close()'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 1 ]
	[ "$output" = after ]
	grep -q '^slimfs-run: --http-probe GET http://127.0.0.1:8000/: ' <<<"$stderr"
	grep -q '^slimfs-run: --http-probe /: exit status 1$' <<<"$stderr"
}
