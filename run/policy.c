/* policy.c — the confinement table (policy.h): capabilities, masked and read-only
 * paths, seccomp rules, and how --privileged, --cap-add and --cap-drop change them.
 *
 * The seccomp rules are containers-common's default profile as podman 4.3 applies it,
 * rule for rule and in its order: a rule list evaluated against the container's
 * bounding set and the machine's architecture, so the filter of a default container is
 * podman's filter.  Unlisted system calls fail with ENOSYS (so programs fall back from
 * calls the profile does not know yet), listed ones either run or fail with EPERM.
 * Among the calls that run, the dangerous ones are guarded by the capabilities the
 * container lacks (mount, unshare of anything but a user namespace, keyctl on the
 * host's keyrings, ptrace of what is not its own): podman's model, kept.
 */
#include "policy.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/personality.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

const char *const policy_cap_names[POLICY_NCAPS] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

_Static_assert(CAP_CHECKPOINT_RESTORE == POLICY_NCAPS - 1, "capability table");

uint64_t policy_default_caps(void)
{
	return POLICY_CAP(CAP_CHOWN) | POLICY_CAP(CAP_DAC_OVERRIDE) | POLICY_CAP(CAP_FOWNER) |
	       POLICY_CAP(CAP_FSETID) | POLICY_CAP(CAP_KILL) | POLICY_CAP(CAP_NET_BIND_SERVICE) |
	       POLICY_CAP(CAP_SETFCAP) | POLICY_CAP(CAP_SETGID) | POLICY_CAP(CAP_SETPCAP) |
	       POLICY_CAP(CAP_SETUID) | POLICY_CAP(CAP_SYS_CHROOT);
}

const char *const policy_masked_paths[] = {
	"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/fs/selinux", "/sys/dev/block", NULL,
};

const char *const policy_readonly_paths[] = {
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	NULL,
};

/* -1: unknown; POLICY_NCAPS: "ALL". */
static int cap_number(const char *name)
{
	const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;

	if (strcasecmp(bare, "ALL") == 0)
		return POLICY_NCAPS;
	for (int i = 0; i < POLICY_NCAPS; i++)
		if (strcasecmp(bare, policy_cap_names[i] + 4) == 0)
			return i;
	return -1;
}

/* The capabilities named in LIST (ALL: *ALL set). */
static int cap_list(char *const *list, const char *opt, uint64_t *caps, bool *all,
		    struct sfs_err *err)
{
	*caps = 0;
	*all = false;
	for (size_t i = 0; list && list[i]; i++) {
		int n = cap_number(list[i]);

		if (n < 0)
			return sfs_fail(err, 0, "%s %s: no such capability", opt, list[i]);
		if (n == POLICY_NCAPS)
			*all = true;
		else
			*caps |= POLICY_CAP(n);
	}
	return 0;
}

int policy_make(struct policy *p, bool privileged, char *const *add, char *const *drop,
		uint64_t available, struct sfs_err *err)
{
	uint64_t base = policy_default_caps() & available;
	uint64_t adds, drops, both;
	bool add_all, drop_all;

	if (cap_list(add, "--cap-add", &adds, &add_all, err) < 0 ||
	    cap_list(drop, "--cap-drop", &drops, &drop_all, err) < 0)
		return -1;
	if (add_all && drop_all)
		return sfs_fail(err, 0, "--cap-add ALL and --cap-drop ALL: choose one");
	both = adds & drops;
	if (both) {
		for (int i = 0; i < POLICY_NCAPS; i++)
			if (both & POLICY_CAP(i))
				return sfs_fail(err, 0, "capability %s cannot be both added and dropped",
						policy_cap_names[i]);
	}
	p->privileged = privileged;
	if (privileged)                 /* podman's --privileged ignores both lists */
		p->caps = available;
	else if (drop_all)              /* nothing but what is added */
		p->caps = adds & available;
	else if (add_all)               /* everything but what is dropped */
		p->caps = available & ~drops;
	else
		p->caps = ((base | adds) & ~drops) & available;
	return 0;
}

/* ---- seccomp ---------------------------------------------------------------- */

/* Refused whatever the capabilities (EPERM): kernel and memory management. */
static const char *const sc_refused[] = {
	"bdflush", "io_pgetevents", "kexec_file_load", "kexec_load", "migrate_pages",
	"move_pages", "nfsservctl", "nice", "oldfstat", "oldlstat", "oldolduname",
	"oldstat", "olduname", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
	"sgetmask", "ssetmask", "swapcontext", "swapoff", "swapon", "sysfs", "uselib",
	"userfaultfd", "ustat", "vm86", "vm86old", "vmsplice", NULL
};

/* Allowed: what a program needs; privilege is left to the capability checks. */
static const char *const sc_allowed[] = {
	"_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "bind",
	"brk", "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
	"clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
	"clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "clone", "clone3",
	"close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2",
	"dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
	"eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
	"fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
	"fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsconfig", "fsetxattr",
	"fsmount", "fsopen", "fspick", "fstat", "fstat64", "fstatat64", "fstatfs",
	"fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64",
	"futimesat", "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu",
	"getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
	"getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
	"getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid",
	"getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32",
	"getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_setup",
	"io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc", "keyctl", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "mbind",
	"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
	"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mount",
	"mount_setattr", "move_mount", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
	"mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
	"mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
	"munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "open",
	"open_tree", "openat", "openat2", "pause", "pidfd_getfd", "pidfd_open",
	"pidfd_send_signal", "pipe", "pipe2", "pivot_root", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
	"preadv2", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev",
	"pselect6", "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read",
	"readahead", "readdir", "readlink", "readlinkat", "readv", "reboot", "recv",
	"recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
	"removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
	"rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
	"sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_mempolicy",
	"set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32",
	"setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
	"setitimer", "setns", "setpgid", "setpriority", "setregid", "setregid32",
	"setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
	"setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaction", "sigaltstack", "signal",
	"signalfd", "signalfd4", "sigpending", "sigprocmask", "sigreturn", "sigsuspend",
	"socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "syscall",
	"sysinfo", "syslog", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "timerfd", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
	"truncate", "truncate64", "ugetrlimit", "umask", "umount", "umount2", "uname",
	"unlink", "unlinkat", "unshare", "utime", "utimensat", "utimensat_time64", "utimes",
	"vfork", "wait4", "waitid", "waitpid", "write", "writev", NULL
};

/* Architecture-specific calls, and those allowed only with a capability (the
 * ones refused without it fail with EPERM, not ENOSYS). */
static const char *const sc_personality[] = {
	"personality", NULL
};

static const char *const sc_ppc64le[] = {
	"sync_file_range2", NULL
};

static const char *const sc_arm[] = {
	"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
	"sync_file_range2", NULL
};

static const char *const sc_arch_prctl[] = {
	"arch_prctl", NULL
};

static const char *const sc_modify_ldt[] = {
	"modify_ldt", NULL
};

static const char *const sc_s390[] = {
	"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr", NULL
};

static const char *const sc_open_by_handle[] = {
	"open_by_handle_at", NULL
};

static const char *const sc_sys_admin[] = {
	"bpf", "fanotify_init", "lookup_dcookie", "perf_event_open", "quotactl",
	"setdomainname", "sethostname", "setns", NULL
};

static const char *const sc_chroot[] = {
	"chroot", NULL
};

static const char *const sc_module[] = {
	"delete_module", "finit_module", "init_module", "query_module", NULL
};

static const char *const sc_acct[] = {
	"acct", NULL
};

static const char *const sc_ptrace[] = {
	"kcmp", "process_madvise", NULL
};

static const char *const sc_rawio[] = {
	"ioperm", "iopl", NULL
};

static const char *const sc_time[] = {
	"clock_settime", "clock_settime64", "settimeofday", "stime", NULL
};

static const char *const sc_vhangup[] = {
	"vhangup", NULL
};

static const char *const sc_socket[] = {
	"socket", NULL
};

/* The rules, in the profile's order. */
const struct policy_sc_rule policy_seccomp[] = {
	{ sc_refused, EPERM, 0, 0, 0, 0, { { 0 } } },
	{ sc_allowed, 0, 0, 0, 0, 0, { { 0 } } },
	{ sc_personality, 0, 0, 0, 0, 1, { { 0, PC_EQ, PER_LINUX } } },
	{ sc_personality, 0, 0, 0, 0, 1, { { 0, PC_EQ, PER_LINUX32 } } },
	{ sc_personality, 0, 0, 0, 0, 1, { { 0, PC_EQ, UNAME26 } } },
	{ sc_personality, 0, 0, 0, 0, 1, { { 0, PC_EQ, UNAME26 | PER_LINUX32 } } },
	{ sc_personality, 0, 0, 0, 0, 1, { { 0, PC_EQ, 0xffffffff } } },   /* query only */
	{ sc_ppc64le, 0, 0, 0, POLICY_ARCH_PPC64LE, 0, { { 0 } } },
	{ sc_arm, 0, 0, 0, POLICY_ARCH_ARM | POLICY_ARCH_AARCH64, 0, { { 0 } } },
	{ sc_arch_prctl, 0, 0, 0, POLICY_ARCH_X86_64 | POLICY_ARCH_X32, 0, { { 0 } } },
	{ sc_modify_ldt, 0, 0, 0, POLICY_ARCH_X86_64 | POLICY_ARCH_X32 | POLICY_ARCH_X86, 0,
	  { { 0 } } },
	{ sc_s390, 0, 0, 0, POLICY_ARCH_S390 | POLICY_ARCH_S390X, 0, { { 0 } } },
	{ sc_open_by_handle, 0, POLICY_CAP(CAP_DAC_READ_SEARCH), 0, 0, 0, { { 0 } } },
	{ sc_open_by_handle, EPERM, 0, POLICY_CAP(CAP_DAC_READ_SEARCH), 0, 0, { { 0 } } },
	{ sc_sys_admin, 0, POLICY_CAP(CAP_SYS_ADMIN), 0, 0, 0, { { 0 } } },
	{ sc_sys_admin, EPERM, 0, POLICY_CAP(CAP_SYS_ADMIN), 0, 0, { { 0 } } },
	{ sc_chroot, 0, POLICY_CAP(CAP_SYS_CHROOT), 0, 0, 0, { { 0 } } },
	{ sc_chroot, EPERM, 0, POLICY_CAP(CAP_SYS_CHROOT), 0, 0, { { 0 } } },
	{ sc_module, 0, POLICY_CAP(CAP_SYS_MODULE), 0, 0, 0, { { 0 } } },
	{ sc_module, EPERM, 0, POLICY_CAP(CAP_SYS_MODULE), 0, 0, { { 0 } } },
	{ sc_acct, 0, POLICY_CAP(CAP_SYS_PACCT), 0, 0, 0, { { 0 } } },
	{ sc_acct, EPERM, 0, POLICY_CAP(CAP_SYS_PACCT), 0, 0, { { 0 } } },
	{ sc_ptrace, 0, POLICY_CAP(CAP_SYS_PTRACE), 0, 0, 0, { { 0 } } },
	{ sc_ptrace, EPERM, 0, POLICY_CAP(CAP_SYS_PTRACE), 0, 0, { { 0 } } },
	{ sc_rawio, 0, POLICY_CAP(CAP_SYS_RAWIO), 0, 0, 0, { { 0 } } },
	{ sc_rawio, EPERM, 0, POLICY_CAP(CAP_SYS_RAWIO), 0, 0, { { 0 } } },
	{ sc_time, 0, POLICY_CAP(CAP_SYS_TIME), 0, 0, 0, { { 0 } } },
	{ sc_time, EPERM, 0, POLICY_CAP(CAP_SYS_TIME), 0, 0, { { 0 } } },
	{ sc_vhangup, 0, POLICY_CAP(CAP_SYS_TTY_CONFIG), 0, 0, 0, { { 0 } } },
	{ sc_vhangup, EPERM, 0, POLICY_CAP(CAP_SYS_TTY_CONFIG), 0, 0, { { 0 } } },
	{ sc_socket, EINVAL, 0, POLICY_CAP(CAP_AUDIT_WRITE), 0, 2,
	  { { 0, PC_EQ, AF_NETLINK }, { 2, PC_EQ, NETLINK_AUDIT } } },
	{ sc_socket, 0, 0, POLICY_CAP(CAP_AUDIT_WRITE), 0, 1, { { 2, PC_NE, NETLINK_AUDIT } } },
	{ sc_socket, 0, 0, POLICY_CAP(CAP_AUDIT_WRITE), 0, 1, { { 0, PC_NE, AF_NETLINK } } },
	{ sc_socket, 0, 0, POLICY_CAP(CAP_AUDIT_WRITE), 0, 1, { { 2, PC_NE, NETLINK_AUDIT } } },
	{ sc_socket, 0, POLICY_CAP(CAP_AUDIT_WRITE), 0, 0, 0, { { 0 } } },
};

const size_t policy_nseccomp = sizeof policy_seccomp / sizeof policy_seccomp[0];

static unsigned native_arch(void)
{
#if defined(__x86_64__) && defined(__ILP32__)
	return POLICY_ARCH_X32;
#elif defined(__x86_64__)
	return POLICY_ARCH_X86_64;
#elif defined(__i386__)
	return POLICY_ARCH_X86;
#elif defined(__aarch64__)
	return POLICY_ARCH_AARCH64;
#elif defined(__arm__)
	return POLICY_ARCH_ARM;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return POLICY_ARCH_PPC64LE;
#elif defined(__s390x__)
	return POLICY_ARCH_S390X;
#elif defined(__s390__)
	return POLICY_ARCH_S390;
#else
	return 0;
#endif
}

bool policy_sc_applies(const struct policy_sc_rule *r, uint64_t caps)
{
	if (r->caps_out & caps)
		return false;
	if ((r->caps_in & caps) != r->caps_in)
		return false;
	return r->arches == 0 || (r->arches & native_arch());
}

const char *const *policy_sc_arches(void)
{
	/* the profile's map: each architecture with the ones its kernels also run */
	static const char *const x86_64[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL };
	static const char *const aarch64[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL };
	static const char *const s390x[] = { "SCMP_ARCH_S390X", "SCMP_ARCH_S390", NULL };
	static const char *const native[] = { "SCMP_ARCH_NATIVE", NULL };

	switch (native_arch()) {
	case POLICY_ARCH_X86_64: return x86_64;
	case POLICY_ARCH_AARCH64: return aarch64;
	case POLICY_ARCH_S390X: return s390x;
	default: return native;
	}
}
