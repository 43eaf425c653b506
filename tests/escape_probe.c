/* escape_probe.c — test tool: the escape attempts of tests/rel_escape.bats, run inside a
 * container (slimfs-run's two runtimes, and podman as the anchor).
 *
 *   escape_probe [--block MAJ:MIN] [--host-pid PID] [--key DESC] ATTEMPT...
 *   escape_probe capeff    this process's CapEff, in hex
 *   escape_probe status    its Cap*, NoNewPrivs and Seccomp lines of /proc/self/status
 *   escape_probe fds       the numbers of its open fds, one per line
 *
 * Each attempt prints one line, "NAME ok" when the container let it through or
 * "NAME refused (why)" when it did not, and undoes what it did.  Built statically and
 * without sanitizers, so the same file runs in any image.  The attempts:
 *   proc_sys      write /proc/sys/vm/swappiness back with its own value (a host sysctl)
 *   mount         mount a tmpfs
 *   mknod_block   mknod the block device MAJ:MIN in /dev and read its first sector
 *   kcore         read the ELF header of /proc/kcore (the host's memory; some kernels
 *                 have none)
 *   proc_masked   read /proc/timer_list or /proc/keys (the host's timers, keys)
 *   keyctl        find the host session keyring's key "user" DESC
 *   unshare_user  unshare(CLONE_NEWUSER)
 *   unshare_mount unshare(CLONE_NEWNS)
 *   ptrace        PTRACE_ATTACH to PID, a process outside the container
 *   setuid_cap    as uid 1000, exec the setuid-root copy of this program: CAP_SYS_ADMIN?
 *   filecap_cap   as uid 1000, exec the copy with file capability cap_sys_admin+ep
 *   sys_write     write /sys/kernel/rcu_expedited back with its own value
 *   add_key       add_key(2) to the process keyring (a call the seccomp profile does
 *                 not list)
 *   userfaultfd   userfaultfd(2) (a call the seccomp profile refuses)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_SYS_ADMIN_BIT 21
#define SUID_COPY "/usr/bin/escape_probe-suid"
#define FCAP_COPY "/usr/bin/escape_probe-fcap"

static const char *block_dev, *key_desc;
static pid_t host_pid;

static int refused(const char *name, const char *what, int err)
{
	printf("%s refused (%s: %s)\n", name, what, strerror(err));
	return 0;
}

static int ok(const char *name)
{
	printf("%s ok\n", name);
	return 0;
}

static int proc_sys(const char *name)
{
	char buf[32];
	ssize_t n;
	int fd = open("/proc/sys/vm/swappiness", O_RDONLY);

	if (fd < 0)
		return refused(name, "open for reading", errno);
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return refused(name, "read", n < 0 ? errno : EIO);
	fd = open("/proc/sys/vm/swappiness", O_WRONLY);
	if (fd < 0)
		return refused(name, "open for writing", errno);
	if (write(fd, buf, (size_t)n) != n) {
		int e = errno;

		close(fd);
		return refused(name, "write", e);
	}
	close(fd);
	return ok(name);
}

static int do_mount(const char *name)
{
	const char *dir = "/tmp/escape-probe-mnt";

	mkdir(dir, 0700);
	if (mount("tmpfs", dir, "tmpfs", 0, NULL) < 0) {
		int e = errno;

		rmdir(dir);
		return refused(name, "mount", e);
	}
	umount(dir);
	rmdir(dir);
	return ok(name);
}

static int mknod_block(const char *name)
{
	unsigned maj, min;
	char sector[512];
	const char *node = "/dev/escape-probe-blk";
	int fd, e;
	ssize_t n;

	if (!block_dev || sscanf(block_dev, "%u:%u", &maj, &min) != 2)
		return refused(name, "usage", EINVAL);
	unlink(node);
	if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) < 0)
		return refused(name, "mknod", errno);
	fd = open(node, O_RDONLY);
	e = errno;
	unlink(node);
	if (fd < 0)
		return refused(name, "open", e);
	n = read(fd, sector, sizeof sector);
	e = errno;
	close(fd);
	if (n < 0)
		return refused(name, "read", e);
	return ok(name);
}

static int kcore(const char *name)
{
	char magic[4];
	ssize_t n;
	int fd = open("/proc/kcore", O_RDONLY), e;

	if (fd < 0)
		return refused(name, "open", errno);
	n = read(fd, magic, sizeof magic);
	e = errno;
	close(fd);
	if (n < 0)
		return refused(name, "read", e);
	if (n != 4 || memcmp(magic, "\177ELF", 4) != 0)
		return refused(name, "read", ENODATA);   /* masked: /dev/null */
	return ok(name);
}

static int proc_masked(const char *name)
{
	static const char *const files[] = { "/proc/timer_list", "/proc/keys" };
	char buf[256];
	int e = ENODATA;   /* masked: /dev/null, empty */

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		int fd = open(files[i], O_RDONLY);
		ssize_t n;

		if (fd < 0) {
			e = errno;
			continue;
		}
		n = read(fd, buf, sizeof buf);
		e = n < 0 ? errno : ENODATA;
		close(fd);
		if (n > 0)
			return ok(name);
	}
	return refused(name, "read", e);
}

static int keyctl_search(const char *name)
{
	long id;

	if (!key_desc)
		return refused(name, "usage", EINVAL);
	id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", key_desc, 0);
	if (id < 0)
		return refused(name, "search", errno);
	return ok(name);
}

/* In a child, so a namespace made does not change what the next attempt sees. */
static int in_child(const char *name, int (*fn)(void), const char *what)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return refused(name, "fork", errno);
	if (pid == 0)
		_exit(fn() < 0 ? errno : 0);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return refused(name, "child", ECHILD);
	if (WEXITSTATUS(st))
		return refused(name, what, WEXITSTATUS(st));
	return ok(name);
}

static int newuser(void)
{
	return unshare(CLONE_NEWUSER);
}

static int newns(void)
{
	return unshare(CLONE_NEWNS);
}

static int ptrace_host(const char *name)
{
	int st;

	if (host_pid <= 0)
		return refused(name, "usage", EINVAL);
	if (ptrace(PTRACE_ATTACH, host_pid, 0, 0) < 0)
		return refused(name, "attach", errno);
	waitpid(host_pid, &st, __WALL);
	ptrace(PTRACE_DETACH, host_pid, 0, 0);
	return ok(name);
}

/* Become uid 1000 (losing every capability), exec COPY capeff, read what it prints. */
static int raise_cap(const char *name, const char *copy)
{
	int p[2], st;
	char buf[64] = "";
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return refused(name, "pipe", errno);
	pid = fork();
	if (pid < 0)
		return refused(name, "fork", errno);
	if (pid == 0) {
		dup2(p[1], 1);
		if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 ||
		    setresuid(1000, 1000, 1000) < 0) {
			printf("setuid %d\n", errno);
			_exit(1);
		}
		execl(copy, copy, "capeff", (char *)NULL);
		printf("exec %d\n", errno);
		_exit(1);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof buf - 1);
	close(p[0]);
	waitpid(pid, &st, 0);
	if (n <= 0)
		return refused(name, "no answer", EIO);
	buf[n] = '\0';
	if (strncmp(buf, "exec ", 5) == 0 || strncmp(buf, "setuid ", 7) == 0)
		return refused(name, buf[0] == 'e' ? "exec" : "setuid", atoi(strchr(buf, ' ') + 1));
	if (!(strtoull(buf, NULL, 16) & (1ULL << CAP_SYS_ADMIN_BIT)))
		return refused(name, "no CAP_SYS_ADMIN after exec", EPERM);
	return ok(name);
}

static int sys_write(const char *name)
{
	/* a writable attribute of the host kernel; its value written back unchanged */
	const char *f = "/sys/kernel/rcu_expedited";
	char buf[256];
	ssize_t n;
	int fd = open(f, O_RDONLY), e;

	if (fd < 0)
		return refused(name, "open for reading", errno);
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return refused(name, "read", errno);
	fd = open(f, O_WRONLY);
	if (fd < 0)
		return refused(name, "open for writing", errno);
	if (n == 0 || write(fd, buf, (size_t)n) < 0) {
		e = n == 0 ? ENODATA : errno;
		close(fd);
		return refused(name, "write", e);
	}
	close(fd);
	return ok(name);
}

static int add_key(const char *name)
{
	long id = syscall(SYS_add_key, "user", "escape-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);

	if (id < 0)
		return refused(name, "add_key", errno);
	return ok(name);
}

static int do_userfaultfd(const char *name)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		return refused(name, "userfaultfd", errno);
	close(fd);
	return ok(name);
}

/* Lines of /proc/self/status starting with one of PREFIXES (CapEff only: its value). */
static int status(bool capeff_only)
{
	static const char *const prefixes[] = { "Cap", "NoNewPrivs:", "Seccomp:" };
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof line, f)) {
		if (capeff_only) {
			if (strncmp(line, "CapEff:", 7) == 0)
				printf("%s", line + 8);
			continue;
		}
		for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
			if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
				printf("%s", line);
	}
	fclose(f);
	return 0;
}

/* Open fds, but the one listing them. */
static int fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			printf("%s\n", e->d_name);
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "capeff") == 0)
		return status(true);
	if (argc == 2 && strcmp(argv[1], "status") == 0)
		return status(false);
	if (argc == 2 && strcmp(argv[1], "fds") == 0)
		return fds();
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "--block") == 0)
			block_dev = argv[i + 1];
		else if (strcmp(argv[i], "--host-pid") == 0)
			host_pid = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--key") == 0)
			key_desc = argv[i + 1];
		else
			break;
	}
	for (; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "proc_sys") == 0)
			proc_sys(a);
		else if (strcmp(a, "mount") == 0)
			do_mount(a);
		else if (strcmp(a, "mknod_block") == 0)
			mknod_block(a);
		else if (strcmp(a, "kcore") == 0)
			kcore(a);
		else if (strcmp(a, "proc_masked") == 0)
			proc_masked(a);
		else if (strcmp(a, "keyctl") == 0)
			keyctl_search(a);
		else if (strcmp(a, "unshare_user") == 0)
			in_child(a, newuser, "unshare");
		else if (strcmp(a, "unshare_mount") == 0)
			in_child(a, newns, "unshare");
		else if (strcmp(a, "ptrace") == 0)
			ptrace_host(a);
		else if (strcmp(a, "setuid_cap") == 0)
			raise_cap(a, SUID_COPY);
		else if (strcmp(a, "filecap_cap") == 0)
			raise_cap(a, FCAP_COPY);
		else if (strcmp(a, "sys_write") == 0)
			sys_write(a);
		else if (strcmp(a, "add_key") == 0)
			add_key(a);
		else if (strcmp(a, "userfaultfd") == 0)
			do_userfaultfd(a);
		else {
			fprintf(stderr, "escape_probe: unknown attempt %s\n", a);
			return 2;
		}
	}
	return 0;
}
