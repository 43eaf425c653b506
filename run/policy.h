/* policy.h — the confinement of the recording container, as ONE table that both
 * runtimes use: the built-in runtime applies it itself (builtin.c, mounts.c,
 * seccomp.c), the runc runtime writes it into the OCI bundle (runc.c, seccomp.c).
 *
 * The default is what `podman run` gives an image without options (podman 4.3 with
 * containers-common's defaults): its eleven capabilities as the bounding set (and as
 * root's effective and permitted sets), the masked and read-only paths below, /sys
 * read-only, no device nodes but null zero full random urandom tty and a private
 * devpts, and the seccomp rules of policy_seccomp[].  --privileged gives every
 * capability the runner has and drops the rest of the confinement; --cap-add and
 * --cap-drop change the capability set by name.  docs/reliability.md ("Threat model")
 * says what each piece keeps out.
 *
 * Invariant: everything here is constant data or a pure function of its arguments.
 */
#ifndef SLIMFS_RUN_POLICY_H
#define SLIMFS_RUN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

/* CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40). */
#define POLICY_NCAPS 41
#define POLICY_CAP(n) (UINT64_C(1) << (n))

struct policy {
	bool privileged;        /* no seccomp, no masked/read-only paths, /sys writable,
				   device nodes usable in /dev */
	uint64_t caps;          /* bounding set; root's effective and permitted sets */
};

/* "CAP_CHOWN", ... by number. */
extern const char *const policy_cap_names[POLICY_NCAPS];

/* podman's default capability set. */
uint64_t policy_default_caps(void);

/* Fill P for --privileged (PRIVILEGED), --cap-add ADD and --cap-drop DROP (NULL-
 * terminated lists of names, with or without "CAP_", any case, or "ALL"), as podman
 * merges them; AVAILABLE is what "ALL" means (the runner's own bounding set), and
 * the result never exceeds it.  --privileged gives all of AVAILABLE whatever the lists
 * say (podman 4.3 does the same).  A bad name, or one both added and dropped, is an
 * error naming it. */
int policy_make(struct policy *p, bool privileged, char *const *add, char *const *drop,
		uint64_t available, struct sfs_err *err);

/* Paths masked in the container (a directory gets an empty read-only tmpfs, a file
 * /dev/null) and paths made read-only; NULL-terminated.  Missing ones are skipped. */
extern const char *const policy_masked_paths[];
extern const char *const policy_readonly_paths[];

/* ---- seccomp ---------------------------------------------------------------- */

/* Every system call no rule names fails with this errno. */
#define POLICY_SECCOMP_DEFAULT_ERRNO 38   /* ENOSYS */

enum policy_sc_op { PC_EQ, PC_NE };

struct policy_sc_arg {
	unsigned index;
	enum policy_sc_op op;
	uint64_t value;
};

/* One rule: NAMES (NULL-terminated) are allowed (errno_ret 0) or fail with
 * errno_ret when every argument condition holds.  The rule exists only if all of
 * caps_in and none of caps_out are in the bounding set, and (arches != 0) on one of
 * the listed architectures (POLICY_ARCH_*). */
struct policy_sc_rule {
	const char *const *names;
	int errno_ret;
	uint64_t caps_in, caps_out;
	unsigned arches;
	unsigned nargs;
	struct policy_sc_arg args[2];
};

enum {
	POLICY_ARCH_X86_64 = 1 << 0, POLICY_ARCH_X32 = 1 << 1, POLICY_ARCH_X86 = 1 << 2,
	POLICY_ARCH_AARCH64 = 1 << 3, POLICY_ARCH_ARM = 1 << 4, POLICY_ARCH_PPC64LE = 1 << 5,
	POLICY_ARCH_S390 = 1 << 6, POLICY_ARCH_S390X = 1 << 7,
};

extern const struct policy_sc_rule policy_seccomp[];
extern const size_t policy_nseccomp;

/* Whether rule R is part of the filter of a container with bounding set CAPS. */
bool policy_sc_applies(const struct policy_sc_rule *r, uint64_t caps);

/* The architectures the filter covers, in OCI spelling ("SCMP_ARCH_X86_64"), the
 * native one first; NULL-terminated. */
const char *const *policy_sc_arches(void);

#endif
