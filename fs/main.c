/* main.c — `slimfs`: parse the command line and hand it to slimfs_run (mount.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "slimfs.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]... LOWERDIR MOUNTPOINT\n"
		"Mount LOWERDIR (never modified) with a writable upper layer on MOUNTPOINT and\n"
		"record every path the workload uses into a trace.  Unmount with\n"
		"`fusermount3 -u MOUNTPOINT` (or umount); the trace is complete when slimfs exits.\n"
		"\n"
		"  --trace FILE             trace file (default ./slimfs-trace.db; a new run is added)\n"
		"  --upper DIR              upper layer (default: private temporary directory,\n"
		"                           removed at unmount)\n"
		"  --no-verify              no fanotify verifier\n"
		"  --verify-queue unlimited|limited   fanotify queue size (default unlimited)\n"
		"  --command STR            workload command line stored in the run\n"
		"  --image REF --manifest-digest D --config-digest D\n"
		"                           the container image LOWERDIR was unpacked from,\n"
		"                           stored in the run (slimfs-run passes them)\n"
		"  --ready-fd FD            write one byte to FD once mounted, then close it\n"
		"  --no-passthrough         serve every read of an image file through the daemon\n"
		"                           (default: the kernel reads it directly when it\n"
		"                           supports FUSE passthrough; such opens are recorded\n"
		"                           as 'passthrough', which is read evidence)\n"
		"  --io-uring[=MODE]        how requests reach the daemon: auto (default) takes\n"
		"                           them through FUSE over io_uring, one queue per CPU\n"
		"                           (Linux 6.14+), when the host-wide switch\n"
		"                           /sys/module/fuse/parameters/enable_uring is on, and\n"
		"                           through /dev/fuse when it is not; on (or plain\n"
		"                           --io-uring) does the same but warns when the ring is\n"
		"                           unavailable; off always uses /dev/fuse\n"
		"  --spin-us N              after each answer, poll this long for the next request\n"
		"                           before sleeping (default 0: never; 50 is faster when a\n"
		"                           CPU is idle, slower when the workload needs every CPU)\n"
		"  --hide-cap CAP[,CAP...]  for tests: act as if the kernel lacked these INIT\n"
		"                           capabilities (passthrough, uring, splice, acl,\n"
		"                           symlinks, o_trunc, dirops, async_read, max_pages)\n"
		"  -f                       stay in the foreground\n"
		"  -d                       FUSE debug output (use with -f)\n"
		"  -o OPT[,OPT...]          extra FUSE mount options\n"
		"  -h, --help               this help\n"
		"  -V, --version            version\n", prog);
}

int main(int argc, char **argv)
{
	enum { OPT_TRACE = 256, OPT_UPPER, OPT_NO_VERIFY, OPT_QUEUE, OPT_COMMAND, OPT_READY,
	       OPT_SPIN, OPT_NO_PT, OPT_URING, OPT_IMAGE, OPT_MANIFEST, OPT_CONFIG,
	       OPT_HIDE_CAP };
	static const struct option longopts[] = {
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "upper", required_argument, NULL, OPT_UPPER },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "verify-queue", required_argument, NULL, OPT_QUEUE },
		{ "command", required_argument, NULL, OPT_COMMAND },
		{ "ready-fd", required_argument, NULL, OPT_READY },
		{ "spin-us", required_argument, NULL, OPT_SPIN },
		{ "no-passthrough", no_argument, NULL, OPT_NO_PT },
		{ "io-uring", optional_argument, NULL, OPT_URING },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "manifest-digest", required_argument, NULL, OPT_MANIFEST },
		{ "config-digest", required_argument, NULL, OPT_CONFIG },
		{ "hide-cap", required_argument, NULL, OPT_HIDE_CAP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct slimfs_opts o = {
		.prog = "slimfs",
		.trace = "./slimfs-trace.db",
		.verify = true,
		.verify_unlimited = true,
		.ready_fd = -1,
		.spin_us = 0,
		.passthrough = true,
	};
	struct sfs_err err = { 0 };
	char *fuse_opts = NULL, *command = NULL, *end;
	int c;

	while ((c = getopt_long(argc, argv, "fdo:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TRACE: o.trace = optarg; break;
		case OPT_UPPER: o.upper = optarg; break;
		case OPT_NO_VERIFY: o.verify = false; break;
		case OPT_NO_PT: o.passthrough = false; break;
		case OPT_URING:
			if (!optarg || strcmp(optarg, "on") == 0) {
				o.io_uring = SLIMFS_URING_ON;
			} else if (strcmp(optarg, "off") == 0) {
				o.io_uring = SLIMFS_URING_OFF;
			} else if (strcmp(optarg, "auto") == 0) {
				o.io_uring = SLIMFS_URING_AUTO;
			} else {
				fprintf(stderr, "slimfs: --io-uring=%s: expected on, off or auto\n", optarg);
				return 2;
			}
			break;
		case OPT_HIDE_CAP: {
			uint64_t m;

			if (slimfs_parse_caps(optarg, &m, &err) < 0) {
				sfs_err_print("slimfs: --hide-cap", &err);
				return 2;
			}
			o.hide_caps |= m;
			break;
		}
		case OPT_COMMAND: o.command = optarg; break;
		case OPT_IMAGE: o.image = optarg; break;
		case OPT_MANIFEST: o.manifest_digest = optarg; break;
		case OPT_CONFIG: o.config_digest = optarg; break;
		case OPT_QUEUE:
			if (strcmp(optarg, "unlimited") == 0) {
				o.verify_unlimited = true;
			} else if (strcmp(optarg, "limited") == 0) {
				o.verify_unlimited = false;
			} else {
				fprintf(stderr, "slimfs: --verify-queue: expected unlimited or limited, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_READY:
			o.ready_fd = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || o.ready_fd < 0) {
				fprintf(stderr, "slimfs: --ready-fd: not a file descriptor: '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_SPIN: {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end != '\0' || v > 1000000) {
				fprintf(stderr, "slimfs: --spin-us: expected 0 to 1000000, not '%s'\n", optarg);
				return 2;
			}
			o.spin_us = (unsigned)v;
			break;
		}
		case 'f': o.foreground = true; break;
		case 'd': o.debug = true; break;
		case 'o':
			if (fuse_opts) {
				char *n;

				if (asprintf(&n, "%s,%s", fuse_opts, optarg) < 0)
					return 1;
				free(fuse_opts);
				fuse_opts = n;
			} else if (!(fuse_opts = strdup(optarg))) {
				return 1;
			}
			break;
		case 'h': usage(stdout, argv[0]); return 0;
		case 'V': printf("slimfs %s\n", SLIMFS_VERSION); return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "slimfs: expected LOWERDIR and MOUNTPOINT (try '%s --help')\n", argv[0]);
		return 2;
	}
	o.lowerdir = argv[optind];
	o.mountpoint = argv[optind + 1];
	o.fuse_opts = fuse_opts;
	if (!o.command)
		o.command = command = sfs_join_argv(argv);
	if (slimfs_run(&o, &err) < 0) {
		sfs_err_print("slimfs", &err);
		free(fuse_opts);
		free(command);
		return 1;
	}
	free(fuse_opts);
	free(command);
	return 0;
}
