/* export_glob_unit.c — TAP test of the --include/--exclude matcher (export/glob.c). */
#include <stdio.h>
#include <string.h>

#include "export/glob.h"
#include "tap.h"

static const struct {
	const char *pattern, *path;
	int match;
} cases[] = {
	{ "/usr/bin/ls", "/usr/bin/ls", 1 },
	{ "/usr/bin/ls", "/usr/bin/lsof", 0 },
	{ "/usr/bin/*", "/usr/bin/ls", 1 },
	{ "/usr/bin/*", "/usr/bin/x/y", 0 },         /* * stays in one component */
	{ "/usr/*/ls", "/usr/bin/ls", 1 },
	{ "/usr/**", "/usr", 1 },                    /* ** matches zero components */
	{ "/usr/**", "/usr/share/doc/a/b", 1 },
	{ "/usr/**", "/usrx", 0 },
	{ "/usr/**/*.so", "/usr/lib/x86_64-linux-gnu/libc.so", 1 },
	{ "/usr/**/*.so", "/usr/libc.so", 1 },
	{ "/usr/**/*.so", "/usr/lib/libc.so.6", 0 },
	{ "/**/doc/**", "/usr/share/doc/x/copyright", 1 },
	{ "/**/doc/**", "/usr/share/docs/x", 0 },
	{ "*.pyc", "/usr/lib/python3/x.pyc", 1 },     /* relative: at any depth */
	{ "*.pyc", "/x.pyc", 1 },
	{ "*.pyc", "/x.py", 0 },
	{ "__pycache__", "/usr/lib/python3/__pycache__", 1 },
	{ "share/locale", "/usr/share/locale", 1 },
	{ "share/locale", "/usr/share/locale/de", 0 },
	{ "/etc/[a-c]*", "/etc/bash.bashrc", 1 },
	{ "/etc/[a-c]*", "/etc/debian_version", 0 },
	{ "/etc/?asswd", "/etc/passwd", 1 },
	{ "/**", "/", 1 },
	{ "/", "/", 1 },
	{ "/a//b", "/a/b", 1 },
	{ "/a/**/**/b", "/a/b", 1 },
	{ "/a/**/b/**/c", "/a/x/b/y/z/c", 1 },
	{ "/a/**/b/**/c", "/a/x/b/y/z/d", 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = glob_match(cases[i].pattern, cases[i].path, strlen(cases[i].path));

		TAP_OK(got == cases[i].match, "%s %s %s", cases[i].pattern,
		       cases[i].match ? "matches" : "does not match", cases[i].path);
	}
	return tap_done();
}
