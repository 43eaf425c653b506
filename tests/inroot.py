#!/usr/bin/env python3
"""inroot.py — path resolution inside a root directory, and the oracles the export suites
compare slimfs-export with (written independently of export/, in Python).

Resolves a path the way the kernel would with ROOT as "/" (absolute symlinks restart at
ROOT, ".." stops there), without ever leaving ROOT, and reports every path the walk
visits: the directories entered, the symlinks read, and the final object.

  inroot.py walk ROOT PATH...        one line per PATH: "RESOLVED<TAB>VISITED..." (or "-")
  inroot.py resolves ROOT PATH...    every PATH resolves inside ROOT (symlinks followed);
      prints the ones that do not, exit 1 if any
  inroot.py pkgs IMAGE LIST          the packages of IMAGE that have a file in the kept
      LIST: a line of the package's info list whose object (the line's directory
      resolved, its last component not followed) is kept and, followed, not a directory
  inroot.py scanners LEAN IMAGE      what Trivy and Syft read from LEAN's dpkg database
      (their dpkg analyzers, re-done): the packages they report, one per line, and every
      file they attribute to a package that LEAN lacks (exit 1 if any); status stanzas
      must be IMAGE's, byte for byte but for Conffiles lines
  inroot.py ldd-all ROOT EXPORT TRACE LDD   for every "== PATH" section of LDD (ldd's
      output in the image), compare the objects ldd loads with what
      `EXPORT --include-exe PATH --list TRACE` keeps
"""
import os
import stat
import subprocess
import sys


def walk(root, path, follow=True):
    """(resolved path, [visited paths]) or (None, visited) when it does not resolve."""
    rest = [c for c in path.split("/") if c]
    cur = "/"
    visited = []
    links = 0
    while rest:
        comp = rest.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            cur = os.path.dirname(cur) if cur != "/" else "/"
            continue
        cand = (cur.rstrip("/") + "/" + comp)
        try:
            st = os.lstat(root + cand)
        except OSError:
            return None, visited
        if stat.S_ISLNK(st.st_mode) and (rest or follow):
            links += 1
            if links > 40:
                return None, visited
            visited.append(cand)
            target = os.readlink(root + cand)
            rest = [c for c in target.split("/") if c] + rest
            if target.startswith("/"):
                cur = "/"
            continue
        visited.append(cand)
        if rest and not stat.S_ISDIR(st.st_mode):
            return None, visited
        cur = cand
    return cur, visited


def ldd_paths(text):
    """The objects ldd listed: "name => /path (addr)" and "/path (addr)" lines."""
    out, missing = [], []
    for line in text.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
        elif "=>" in line:
            p = line.split("=>", 1)[1].strip().split(" (")[0]
            if p.startswith("/"):
                out.append(p)
        elif line.startswith("/"):
            out.append(line.split(" (")[0])
    return out, missing


def compare(root, exe, ldd_text, kept):
    """Errors between what ldd loads for EXE and the kept list."""
    objs, missing = ldd_paths(ldd_text)
    errors = []
    want = set()
    for p in objs:
        res, visited = walk(root, p)
        if res is None:
            errors.append(f"ldd's {p} does not resolve in the image")
            continue
        want.add(res)
        for v in visited:
            if v not in kept:
                errors.append(f"{v} (on the way to ldd's {p}) is not kept")
    exe_res, _ = walk(root, exe)
    exe_st = os.stat(root + exe_res)
    got = set()
    for k in kept:
        try:
            st = os.lstat(root + k)
        except OSError:
            errors.append(f"kept {k} is not in the image")
            continue
        if not stat.S_ISREG(st.st_mode) or k == "/etc/ld.so.cache":
            continue
        if (st.st_dev, st.st_ino) == (exe_st.st_dev, exe_st.st_ino):
            continue    # the program, under each of its names (hardlinks)
        got.add(k)
    for p in sorted(want - got):
        errors.append(f"ldd loads {p}, the export does not keep it")
    for p in sorted(got - want):
        errors.append(f"the export keeps {p}, ldd does not load it")
    return errors, len(want), len(missing)


def ldd_all(root, export, trace, ldd_file):
    """Every "== PATH" section of LDD_FILE (ldd run in the image) against
    `slimfs-export --include-exe PATH --list`; prints one summary line."""
    sections, cur = {}, None
    for line in open(ldd_file):
        if line.startswith("== "):
            cur = line[3:].strip()
            sections[cur] = ""
        elif cur:
            sections[cur] += line
    counts = {"dynamic": 0, "script": 0, "static": 0, "dangling": 0}
    failed = 0
    for exe, text in sorted(sections.items()):
        res, _ = walk(root, exe)
        if res is None:
            counts["dangling"] += 1
            continue
        with open(root + res, "rb") as f:
            head = f.read(4)
        if head[:2] == b"#!":
            counts["script"] += 1
            continue
        if "not a dynamic executable" in text or "statically linked" in text:
            counts["static"] += 1
            continue
        counts["dynamic"] += 1
        out = subprocess.run([export, "-q", "--from", root, "--package-db", "none",
                              "--include-exe", exe, "--list", trace],
                             capture_output=True, text=True, check=True).stdout
        errors, nobj, nmiss = compare(root, exe, text, set(out.split()))
        if nobj == 0:
            errors.append("ldd listed no object")
        for e in errors:
            print(f"{exe}: {e}")
        failed += bool(errors)
    print(f"dynamic {counts['dynamic']} (mismatched {failed}), skipped: scripts "
          f"{counts['script']}, static {counts['static']}, dangling {counts['dangling']}")
    return 1 if failed else 0


def stanzas(text):
    """deb822 stanzas: [(raw, {field: value})]."""
    out = []
    for raw in text.split("\n\n"):
        if not raw.strip():
            continue
        fields, key = {}, None
        for line in raw.split("\n"):
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, val = line.split(":", 1)
                fields[key] = val.strip()
        out.append((raw.strip("\n"), fields))
    return out


def installed(fields):
    return fields.get("Status", "").split()[-1:] not in (["not-installed"], ["config-files"])


def info_file(root, name, arch, ext):
    for stem in (f"{name}:{arch}", name):
        p = f"{root}/var/lib/dpkg/info/{stem}.{ext}"
        if os.path.isfile(p):
            return p
    return None


def pkgs(image, listfile):
    kept = set(open(listfile).read().split())
    out = []
    status = open(image + "/var/lib/dpkg/status").read()
    for _, f in stanzas(status):
        if not installed(f):
            continue
        lst = info_file(image, f["Package"], f.get("Architecture", ""), "list")
        if not lst:
            continue
        for line in open(lst).read().split("\n"):
            if not line.startswith("/") or line == "/.":
                continue
            parent, name = os.path.split(line)
            res, _ = walk(image, parent)
            if res is None:
                continue
            obj = res.rstrip("/") + "/" + name
            if obj not in kept:
                continue
            real, _ = walk(image, obj)
            if real is not None and os.path.isdir(image + real):
                continue
            out.append(f"{f['Package']}:{f.get('Architecture', '')}")
            break
    print("\n".join(sorted(out)))
    return 0


def scanners(lean, image):
    """Trivy (pkg/fanal/analyzer/pkg/dpkg): packages of status (and status.d/*) unless
    deinstall/purge; files from info/*.list.  Syft (syft/pkg/cataloger/debian): packages
    of status unless deinstall; files from info/NAME[:ARCH].md5sums, .conffiles and the
    status Conffiles field."""
    errors = []
    dbdir = lean + "/var/lib/dpkg"
    ents = stanzas(open(dbdir + "/status").read())
    if os.path.isdir(dbdir + "/status.d"):
        for n in sorted(os.listdir(dbdir + "/status.d")):
            ents += stanzas(open(dbdir + "/status.d/" + n).read())
    image_raw = {}
    for raw, f in stanzas(open(image + "/var/lib/dpkg/status").read()):
        image_raw[(f["Package"], f.get("Architecture"))] = raw
    trivy, syft = set(), set()
    files = []
    for raw, f in ents:
        name, arch = f["Package"], f.get("Architecture", "")
        words = f.get("Status", "").split()
        if "deinstall" not in words and "purge" not in words:
            trivy.add(f"{name}:{arch}")
        if "deinstall" not in f.get("Status", ""):
            syft.add(f"{name}:{arch}")
        # the Conffiles field (its header and " /path hash" lines) may be trimmed
        skip = lambda l: l.startswith(" /") or l == "Conffiles:"
        got = "\n".join(l for l in raw.split("\n") if not skip(l))
        want = "\n".join(l for l in image_raw.get((name, arch), "").split("\n") if not skip(l))
        if got != want:
            errors.append(f"status stanza of {name}:{arch} is not the image's")
        for l in f.get("Conffiles", "").split("\n"):
            if l.strip():
                files.append((name, "status Conffiles", l.split()[0]))
        for ext in ("list", "md5sums", "conffiles"):
            p = info_file(lean, name, arch, ext)
            if p is None:
                continue
            for l in open(p).read().split("\n"):
                if not l or l == "/.":
                    continue
                if ext == "md5sums":
                    l = "/" + l.split(None, 1)[1]
                elif ext == "conffiles":
                    l = l.split()[-1]
                files.append((name, ext, l))
    for name, src, path in files:
        parent, base = os.path.split(path)
        res, _ = walk(lean, parent)
        if res is None or not os.path.lexists(lean + res.rstrip("/") + "/" + base):
            errors.append(f"{name}: {path} ({src}) is not in the lean image")
    if trivy != syft:
        errors.append(f"Trivy's and Syft's package sets differ: {sorted(trivy ^ syft)}")
    print("\n".join(sorted(trivy)))
    for e in errors:
        print("ERROR " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    if sys.argv[1] == "walk":
        root = sys.argv[2]
        for p in sys.argv[3:]:
            res, visited = walk(root, p)
            print((res or "-") + "\t" + " ".join(visited))
    elif sys.argv[1] == "resolves":
        root, bad = sys.argv[2], 0
        for p in sys.argv[3:]:
            res, _ = walk(root, p)
            if res is None:
                print(f"{p} does not resolve inside {root}")
                bad = 1
        sys.exit(bad)
    elif sys.argv[1] == "pkgs":
        sys.exit(pkgs(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "scanners":
        sys.exit(scanners(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "ldd-all":
        sys.exit(ldd_all(*sys.argv[2:6]))
    else:
        sys.exit(__doc__)
