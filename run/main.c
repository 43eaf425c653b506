/* main.c — slimfs-run: parse the command line, then one call into run/ (run.h). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../common/cleanup.h"
#include "image/img.h"
#include "run.h"

#define PROG "slimfs-run"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " PROG " [OPTIONS] IMAGE [-- CMD [ARG...]]\n"
"Run a container whose root file system is a slimfs mount of IMAGE, and record every\n"
"path it uses in a trace.  IMAGE is a container image: an OCI layout directory, an\n"
"oci-archive or a docker save / podman save archive (PATH:NAME picks an image by its\n"
"name), flattened once into " RUN_CACHE_DIR "/images (or $SLIMFS_CACHE/images); or\n"
"a root file system directory, or a flat tarball (docker export: .tar, .tar.gz,\n"
".tar.zst, .tar.xz), unpacked there too.  The container runs the image's Entrypoint and\n"
"Cmd with its Env, WorkingDir and User, as podman run does; CMD replaces the Cmd (and\n"
"is needed for a directory or a flat tarball).  The exit status is CMD's (128+N if\n"
"killed by signal N), 127 if CMD is not in the image, 126 if it cannot be started\n"
"(an unknown user, a missing --workdir), 125 if slimfs-run itself fails.\n"
"\n"
"  --trace FILE         trace to append this run to (default ./" RUN_DEFAULT_TRACE ")\n"
"  --runtime NAME       builtin (default: namespaces + pivot_root) or runc\n"
"  --platform OS/ARCH[/VARIANT]  the image to take from a multi-platform image\n"
"                       (default: the host's)\n"
"  --entrypoint CMD     replace the image's Entrypoint (and drop its Cmd); a JSON\n"
"                       array gives several words, '' none\n"
"  --env K=V            set an environment variable (repeatable)\n"
"  --workdir DIR        working directory (default: the image's, else /)\n"
"  --user USER[:GROUP]  run as this user, a name or number from the image's\n"
"                       /etc/passwd and /etc/group (default: the image's, else root)\n"
"  --net host|none      host network (default) or only a loopback interface\n"
"  --hostname NAME      host name inside the container (default " RUN_DEFAULT_HOSTNAME ")\n"
"  --upper DIR          keep the files CMD writes in DIR (slimfs --upper)\n"
"  --no-verify          do not run the fanotify verifier (slimfs --no-verify)\n"
"  --no-passthrough     every read of an image file through the daemon\n"
"                       (slimfs --no-passthrough)\n"
"  --io-uring[=MODE]    how the daemon takes requests (slimfs --io-uring): auto\n"
"                       (default: FUSE over io_uring when the kernel's switch is\n"
"                       on, else /dev/fuse), on (the same, with a warning when the\n"
"                       ring is unavailable), off (/dev/fuse); plain --io-uring: on\n"
"  --privileged         no confinement: every capability, no seccomp filter, no\n"
"                       masked or read-only paths, /sys writable (as podman's)\n"
"  --cap-add CAP        give CMD capability CAP (NET_ADMIN or CAP_NET_ADMIN; ALL)\n"
"  --cap-drop CAP       take capability CAP from CMD (ALL: every one); repeatable\n"
"\n"
"A service (a server the image runs): slimfs-run waits until it is ready, runs the\n"
"probes in the order given, then stops it; its shutdown is recorded too.  The exit\n"
"status is then the first failing probe's (0 if none failed).\n"
"  --wait-port PORT     ready once 127.0.0.1:PORT accepts a connection (repeatable;\n"
"                       default: the image's ExposedPorts)\n"
"  --wait-cmd CMD       ready once `sh -c CMD` on the host exits 0\n"
"  --wait-timeout SECS  give up (kill the server, exit 125) after SECS (default 60)\n"
"  --probe CMD          run `sh -c CMD` on the host, with SLIMFS_HOST, SLIMFS_PORT\n"
"                       and SLIMFS_PORTS set (repeatable)\n"
"  --http-probe[=PATH]  GET PATH (default /) on each waited port; prints the URL, the\n"
"                       status and the sha256 of the body (repeatable)\n"
"  --exec CMD           run `sh -c CMD` inside the container, as podman exec does\n"
"                       (its namespaces, user, environment, directory; repeatable)\n"
"  --probe-timeout SECS a --probe or --exec still running after SECS is killed with\n"
"                       all it started and fails with status 124 (default 300; 0:\n"
"                       no limit)\n"
"  --stop-timeout SECS  after the image's StopSignal (default SIGTERM), wait SECS\n"
"                       (default 10), then SIGKILL\n"
"                       With --net none, waits and probes run in the container's\n"
"                       network namespace.  The server's output goes to stderr,\n"
"                       each line prefixed with \"server| \".\n"
"\n"
"  --check LEAN         run in IMAGE and in LEAN (an image, a directory or a tarball;\n"
"                       each image with its own config, else IMAGE's), nothing\n"
"                       recorded; exit 0 only if exit status and stdout are identical\n"
"                       (a service: the probes' stdout and status, and the\n"
"                       server's exit status after the stop signal)\n"
"  -h, --help           show this help\n"
"  --version            show the version\n"
"\n"
"CMD is confined as `podman run` confines an image by default: podman's default\n"
"capabilities (CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP\n"
"SETGID SETPCAP SETUID SYS_CHROOT), its default seccomp profile, /proc/kcore,\n"
"/proc/keys, /sys/firmware, ... masked, /proc/sys and /sys read-only, no device\n"
"but null zero full random urandom tty and a private devpts, a session keyring of\n"
"its own, and no fd above 2.  The image's setuid and file-capability binaries do\n"
"not raise privileges.\n");
}

/* --entrypoint as podman takes it: a JSON array of strings, else one word ('' none). */
static char **parse_entrypoint(const char *s)
{
	json_t *j = s[0] == '[' ? json_loads(s, JSON_REJECT_DUPLICATES, NULL) : NULL;
	size_t n = json_is_array(j) ? json_array_size(j) : s[0] ? 1 : 0, i;
	char **v = calloc(n + 1, sizeof *v);
	json_t *e;

	if (!v)
		goto fail;
	if (!json_is_array(j)) {
		if (n && !(v[0] = strdup(s)))
			goto fail;
		json_decref(j);
		return v;
	}
	json_array_foreach(j, i, e)
		if (!json_is_string(e) || !(v[i] = strdup(json_string_value(e))))
			goto fail;
	json_decref(j);
	return v;
fail:
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
	json_decref(j);
	return NULL;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void strv_freep(char ***v)
{
	strv_free(*v);
}

/* A decimal number in [MIN, MAX]. */
static int number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || end == s || *end || *out < min || *out > max ? -1 : 0;
}

/* The daemon creates the trace; refuse early (nothing mounted yet) if it cannot. */
static int check_trace(const char *trace, struct sfs_err *err)
{
	_cleanup_free_ char *copy = strdup(trace);
	struct stat st;

	if (!copy)
		return sfs_fail(err, ENOMEM, "%s", trace);
	if (stat(trace, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return sfs_fail(err, 0, "%s: trace is not a regular file", trace);
		if (access(trace, W_OK) < 0)
			return sfs_fail(err, errno, "%s: cannot write trace", trace);
		return 0;
	}
	if (errno != ENOENT)
		return sfs_fail(err, errno, "%s: cannot write trace", trace);
	if (access(dirname(copy), W_OK | X_OK) < 0)
		return sfs_fail(err, errno, "%s: cannot write trace", trace);
	return 0;
}

/* The daemon runs elsewhere (its own cwd is ours, but say it plainly): cwd/PATH. */
static char *absolute(const char *path)
{
	_cleanup_free_ char *cwd = NULL;
	char *p;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&p, "%s/%s", cwd, path) < 0)
		return NULL;
	return p;
}

/* The exit status of a failed run: 128+N when a forwarded signal N ended it. */
static int failed(struct sfs_err *err, int status)
{
	int sig = run_pending_signal();

	sfs_err_print(PROG, err);
	return sig ? 128 + sig : status;
}

int main(int argc, char **argv)
{
	enum { OPT_TRACE = 256, OPT_RUNTIME, OPT_ENV, OPT_WORKDIR, OPT_USER, OPT_NET,
	       OPT_HOSTNAME, OPT_UPPER, OPT_NOVERIFY, OPT_NOPT, OPT_URING, OPT_CHECK, OPT_VERSION,
	       OPT_PRIVILEGED, OPT_CAP_ADD, OPT_CAP_DROP, OPT_PLATFORM, OPT_ENTRYPOINT,
	       OPT_WAIT_PORT, OPT_WAIT_CMD, OPT_WAIT_TIMEOUT, OPT_STOP_TIMEOUT, OPT_PROBE,
	       OPT_HTTP_PROBE, OPT_EXEC, OPT_PROBE_TIMEOUT };
	static const struct option longopts[] = {
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "workdir", required_argument, NULL, OPT_WORKDIR },
		{ "user", required_argument, NULL, OPT_USER },
		{ "net", required_argument, NULL, OPT_NET },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "upper", required_argument, NULL, OPT_UPPER },
		{ "no-verify", no_argument, NULL, OPT_NOVERIFY },
		{ "no-passthrough", no_argument, NULL, OPT_NOPT },
		{ "io-uring", optional_argument, NULL, OPT_URING },
		{ "check", required_argument, NULL, OPT_CHECK },
		{ "privileged", no_argument, NULL, OPT_PRIVILEGED },
		{ "cap-add", required_argument, NULL, OPT_CAP_ADD },
		{ "cap-drop", required_argument, NULL, OPT_CAP_DROP },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "wait-port", required_argument, NULL, OPT_WAIT_PORT },
		{ "wait-cmd", required_argument, NULL, OPT_WAIT_CMD },
		{ "wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT },
		{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
		{ "probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "http-probe", optional_argument, NULL, OPT_HTTP_PROBE },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct run_opts o = { .runtime = RUNTIME_BUILTIN,
			      .svc = { .wait_timeout = SVC_DEFAULT_WAIT_TIMEOUT,
				       .stop_timeout = SVC_DEFAULT_STOP_TIMEOUT,
				       .probe_timeout = SVC_DEFAULT_PROBE_TIMEOUT } };
	_cleanup_free_ struct svc_step *steps = calloc((size_t)argc + 1, sizeof *steps);
	long num;
	struct sfs_err err = { 0 };
	_cleanup_free_ char **env = calloc((size_t)argc + 1, sizeof *env);
	_cleanup_free_ char **cap_add = calloc((size_t)argc + 1, sizeof *cap_add);
	_cleanup_free_ char **cap_drop = calloc((size_t)argc + 1, sizeof *cap_drop);
	_cleanup_free_ char *trace_abs = NULL, *upper_abs = NULL;
	char **entrypoint __attribute__((cleanup(strv_freep))) = NULL;
	struct run_image image = { 0 };
	const char *trace = NULL, *check = NULL, *upper = NULL;   /* NULL: not given */
	size_t nenv = 0, nadd = 0, ndrop = 0;
	bool privileged = false;
	int c, status;

	/* before anything is opened: a closed 0, 1 or 2 would take our pipes and files */
	if (run_std_fds(&err) < 0) {
		sfs_err_print(PROG, &err);
		return RUN_EXIT_ERROR;
	}
	if (!env || !cap_add || !cap_drop || !steps)
		return RUN_EXIT_ERROR;
	/* '+': options end at ROOTFS, everything after "--" belongs to CMD */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TRACE: trace = optarg; break;
		case OPT_RUNTIME:
			if (strcmp(optarg, "builtin") == 0)
				o.runtime = RUNTIME_BUILTIN;
			else if (strcmp(optarg, "runc") == 0)
				o.runtime = RUNTIME_RUNC;
			else {
				fprintf(stderr, PROG ": --runtime %s: must be builtin or runc\n", optarg);
				return RUN_EXIT_ERROR;
			}
			break;
		case OPT_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, PROG ": --env %s: must be K=V\n", optarg);
				return RUN_EXIT_ERROR;
			}
			env[nenv++] = optarg;
			break;
		case OPT_WORKDIR:
			if (optarg[0] != '/') {
				fprintf(stderr, PROG ": --workdir %s: must be an absolute path\n", optarg);
				return RUN_EXIT_ERROR;
			}
			o.workdir = optarg;
			break;
		case OPT_USER:
			if (!optarg[0] || optarg[0] == ':' || strchr(optarg, '\n')) {
				fprintf(stderr, PROG ": --user '%s': must be USER[:GROUP] (names or numbers)\n",
					optarg);
				return RUN_EXIT_ERROR;
			}
			o.user = optarg;
			break;
		case OPT_ENTRYPOINT:
			strv_free(entrypoint);
			entrypoint = parse_entrypoint(optarg);
			if (!entrypoint) {
				fprintf(stderr, PROG ": --entrypoint %s: a JSON array of strings, or one word\n",
					optarg);
				return RUN_EXIT_ERROR;
			}
			o.entrypoint = entrypoint;
			break;
		case OPT_NET:
			if (strcmp(optarg, "host") && strcmp(optarg, "none")) {
				fprintf(stderr, PROG ": --net %s: must be host or none\n", optarg);
				return RUN_EXIT_ERROR;
			}
			o.net_none = strcmp(optarg, "none") == 0;
			break;
		case OPT_HOSTNAME:
			if (!*optarg || strlen(optarg) > 64) {
				fprintf(stderr, PROG ": --hostname %s: must be 1 to 64 characters\n", optarg);
				return RUN_EXIT_ERROR;
			}
			o.hostname = optarg;
			break;
		case OPT_UPPER: upper = optarg; break;
		case OPT_NOVERIFY: o.no_verify = true; break;
		case OPT_NOPT: o.no_passthrough = true; break;
		case OPT_URING:
			o.io_uring = optarg ? optarg : "on";
			if (strcmp(o.io_uring, "on") && strcmp(o.io_uring, "off") &&
			    strcmp(o.io_uring, "auto")) {
				fprintf(stderr, PROG ": --io-uring=%s: must be on, off or auto\n", optarg);
				return RUN_EXIT_ERROR;
			}
			break;
		case OPT_CHECK: check = optarg; break;
		case OPT_PRIVILEGED: privileged = true; break;
		case OPT_CAP_ADD: cap_add[nadd++] = optarg; break;
		case OPT_CAP_DROP: cap_drop[ndrop++] = optarg; break;
		case OPT_PLATFORM: o.platform = optarg; break;
		case OPT_WAIT_PORT:
			if (number(optarg, 1, 65535, &num) < 0 || o.svc.nports == SVC_MAX_PORTS) {
				fprintf(stderr, PROG ": --wait-port %s: must be a TCP port (1-65535, at most %d)\n",
					optarg, SVC_MAX_PORTS);
				return RUN_EXIT_ERROR;
			}
			o.svc.ports[o.svc.nports++] = (int)num;
			o.svc.on = true;
			break;
		case OPT_WAIT_CMD: o.svc.wait_cmd = optarg; o.svc.on = true; break;
		case OPT_WAIT_TIMEOUT:
		case OPT_STOP_TIMEOUT:
		case OPT_PROBE_TIMEOUT:
			if (number(optarg, 0, 86400, &num) < 0) {
				fprintf(stderr, PROG ": --%s %s: must be a number of seconds\n",
					c == OPT_WAIT_TIMEOUT ? "wait-timeout" :
					c == OPT_STOP_TIMEOUT ? "stop-timeout" : "probe-timeout", optarg);
				return RUN_EXIT_ERROR;
			}
			*(c == OPT_WAIT_TIMEOUT ? &o.svc.wait_timeout :
			  c == OPT_STOP_TIMEOUT ? &o.svc.stop_timeout : &o.svc.probe_timeout) = (int)num;
			break;
		case OPT_PROBE:
		case OPT_EXEC:
			steps[o.svc.nsteps].kind = c == OPT_PROBE ? SVC_PROBE : SVC_EXEC;
			steps[o.svc.nsteps++].arg = optarg;
			o.svc.on = true;
			break;
		case OPT_HTTP_PROBE:
			if (optarg && (optarg[0] != '/' || strpbrk(optarg, " \t\r\n"))) {
				fprintf(stderr, PROG ": --http-probe=%s: must be a path starting with /, no blanks\n",
					optarg);
				return RUN_EXIT_ERROR;
			}
			steps[o.svc.nsteps].kind = SVC_HTTP;
			steps[o.svc.nsteps++].arg = optarg ? optarg : "/";
			o.svc.on = true;
			break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf(PROG " " SLIMFS_VERSION "\n"); return 0;
		default: usage(stderr); return RUN_EXIT_ERROR;
		}
	}
	o.env = env;
	o.svc.steps = steps;
	if (policy_make(&o.policy, privileged, cap_add, cap_drop, run_available_caps(), &err) < 0) {
		sfs_err_print(PROG, &err);
		return RUN_EXIT_ERROR;
	}
	if (optind + 1 < argc && strcmp(argv[optind + 1], "--") == 0) {
		argv[optind + 1] = argv[optind];
		optind++;
	}
	if (argc - optind < 1) {
		fprintf(stderr, PROG ": expected IMAGE [-- CMD [ARG...]] (see --help)\n");
		return RUN_EXIT_ERROR;
	}
	/* no CMD: the image's own (spec.c) */
	o.argv = argc - optind > 1 ? argv + optind + 1 : NULL;
	if (check && (upper || trace)) {
		fprintf(stderr, PROG ": --check records nothing: --trace and --upper do not apply\n");
		return RUN_EXIT_ERROR;
	}

	run_block_signals();
	if (run_isolate(&err) < 0)
		goto fail;
	if (check) {
		if (run_check(&o, argv[optind], check, &status, &err) < 0)
			status = failed(&err, status);
		return status;
	}
	if (!trace)
		trace = RUN_DEFAULT_TRACE;
	trace_abs = absolute(trace);
	if (!trace_abs) {
		sfs_fail(&err, errno, "%s", trace);
		goto fail;
	}
	if (check_trace(trace_abs, &err) < 0)
		goto fail;
	if (upper && !(upper_abs = realpath(upper, NULL))) {
		sfs_fail(&err, errno, "--upper %s", upper);
		goto fail;
	}
	if (run_resolve(argv[optind], o.platform, &image, &err) < 0)
		goto fail;
	{
		struct run_target t = {
			.rootfs = image.dir, .trace = trace_abs, .upper = upper_abs,
			.config = image.img ? &image.img->config : NULL,
			.img = image.img, .image = argv[optind],
			.stdin_fd = -1, .stdout_fd = -1,
		};

		if (run_session(&o, &t, &status, &err) < 0) {
			run_image_free(&image);
			return failed(&err, status);
		}
	}
	run_image_free(&image);
	return status;
fail:
	return failed(&err, RUN_EXIT_ERROR);
}
