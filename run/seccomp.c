/* seccomp.c — the seccomp rules of policy.h in the two forms the runtimes need: a
 * filter loaded with libseccomp (the built-in runtime, just before exec) and the OCI
 * `linux.seccomp` object (the runc bundle).  Both walk the same rule list with the same
 * test (policy_sc_applies), so the two runtimes filter alike.
 *
 * Like runc, a name this libseccomp does not know on an architecture is skipped: the
 * call then fails with the default errno (ENOSYS), which is what the kernel would say.
 */
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[] = { [PC_EQ] = "SCMP_CMP_EQ", [PC_NE] = "SCMP_CMP_NE" };
static const enum scmp_compare op_scmp[] = { [PC_EQ] = SCMP_CMP_EQ, [PC_NE] = SCMP_CMP_NE };

/* "SCMP_ARCH_X86_64" -> libseccomp's token; 0 if unknown. */
static uint32_t arch_token(const char *oci)
{
	char name[32];
	size_t i;

	if (strcmp(oci, "SCMP_ARCH_NATIVE") == 0)
		return seccomp_arch_native();
	oci += strlen("SCMP_ARCH_");
	for (i = 0; oci[i] && i < sizeof name - 1; i++)
		name[i] = (char)(oci[i] >= 'A' && oci[i] <= 'Z' ? oci[i] - 'A' + 'a' : oci[i]);
	name[i] = '\0';
	return seccomp_arch_resolve_name(name);
}

static int add_rule(scmp_filter_ctx ctx, const struct policy_sc_rule *r, struct sfs_err *err)
{
	uint32_t action = r->errno_ret ? SCMP_ACT_ERRNO((uint32_t)r->errno_ret) : SCMP_ACT_ALLOW;
	struct scmp_arg_cmp args[2];

	for (unsigned i = 0; i < r->nargs; i++)
		args[i] = (struct scmp_arg_cmp){ .arg = r->args[i].index,
						 .op = op_scmp[r->args[i].op],
						 .datum_a = r->args[i].value };
	for (const char *const *n = r->names; *n; n++) {
		int nr = seccomp_syscall_resolve_name(*n), rc;

		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add_array(ctx, action, nr, r->nargs, args);
		/* -EEXIST: the same rule twice (the profile repeats one) */
		if (rc < 0 && rc != -EEXIST)
			return sfs_fail(err, -rc, "seccomp rule for %s", *n);
	}
	return 0;
}

int seccomp_apply(const struct policy *p, struct sfs_err *err)
{
	scmp_filter_ctx ctx;
	int rc;

	if (p->privileged)
		return 0;
	ctx = seccomp_init(SCMP_ACT_ERRNO(POLICY_SECCOMP_DEFAULT_ERRNO));
	if (!ctx)
		return sfs_fail(err, ENOMEM, "seccomp");
	/* no_new_privs stays the workload's choice, as in podman: we load the filter
	 * with CAP_SYS_ADMIN, before the capabilities are dropped */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (const char *const *a = policy_sc_arches(); rc == 0 && *a; a++) {
		uint32_t tok = arch_token(*a);

		if (tok && tok != seccomp_arch_native()) {
			rc = seccomp_arch_add(ctx, tok);
			rc = rc == -EEXIST ? 0 : rc;
		}
	}
	if (rc < 0) {
		seccomp_release(ctx);
		return sfs_fail(err, -rc, "seccomp");
	}
	for (size_t i = 0; i < policy_nseccomp; i++)
		if (policy_sc_applies(&policy_seccomp[i], p->caps) &&
		    add_rule(ctx, &policy_seccomp[i], err) < 0) {
			seccomp_release(ctx);
			return -1;
		}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return sfs_fail(err, -rc, "cannot load the seccomp filter");
	return 0;
}

static json_t *names_json(const char *const *names)
{
	json_t *a = json_array();

	for (; a && *names; names++)
		json_array_append_new(a, json_string(*names));
	return a;
}

json_t *seccomp_oci(const struct policy *p)
{
	json_t *rules = json_array();

	for (size_t i = 0; rules && i < policy_nseccomp; i++) {
		const struct policy_sc_rule *r = &policy_seccomp[i];
		json_t *rule, *args;

		if (!policy_sc_applies(r, p->caps))
			continue;
		args = json_array();
		for (unsigned k = 0; args && k < r->nargs; k++)
			json_array_append_new(args, json_pack("{s:I, s:I, s:s}",
				"index", (json_int_t)r->args[k].index,
				"value", (json_int_t)r->args[k].value,
				"op", op_names[r->args[k].op]));
		rule = json_pack("{s:o, s:s, s:o}", "names", names_json(r->names),
				 "action", r->errno_ret ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW",
				 "args", args);
		if (rule && r->errno_ret)
			json_object_set_new(rule, "errnoRet", json_integer(r->errno_ret));
		json_array_append_new(rules, rule);
	}
	return json_pack("{s:s, s:i, s:o, s:o}",
			 "defaultAction", "SCMP_ACT_ERRNO",
			 "defaultErrnoRet", POLICY_SECCOMP_DEFAULT_ERRNO,
			 "architectures", names_json(policy_sc_arches()),
			 "syscalls", rules);
}
