#!/usr/bin/env python3
"""mkoci.py — assemble container images from layer tarballs written by hand, so the
tests control every byte: OCI image layouts, nested indexes, several platforms, and the
archive forms slimfs reads.  Deterministic (no timestamps, gzip mtime 0).

  mkoci.py tar OUT.tar < SPEC
      a layer tarball with exactly the entries SPEC lists, in its order, one a line:
      "dir PATH [MODE]", "file PATH [TEXT...]", "empty PATH", "hardlink PATH TARGET",
      "symlink PATH TARGET" (owner 0:0, mtime 2023-11-14).
  mkoci.py layout DIR --ref REF [--platform OS/ARCH[/VARIANT]] [--index-platform]
                      [--compress none|gzip|zstd|docker[,...]] [--config JSON] LAYER.tar...
      add one image (config + manifest + layer blobs) to the layout DIR (made if
      missing), named REF in index.json; --compress gives one type for all layers or
      one per layer; --config is the config's "config" object (Entrypoint, Env, ...).
  mkoci.py nest DIR --ref REF [--attestation]
      replace the descriptors named REF in index.json by one nested index holding them
      (each with its platform), plus an attestation manifest (unknown/unknown) if asked.
  mkoci.py rewrite DIR --ref REF [--config PYTHON] [--manifest PYTHON] [--raw-config TEXT]
      change the image named REF and put the digests above it right again: PYTHON is
      run with `c` (the config) or `m` (the manifest) bound; --raw-config replaces the
      config's bytes outright.
  mkoci.py archive DIR OUT --format oci-archive|docker-archive|docker25 [--ref REF]
                      [--gzip-layers] [--gzip]
      oci-archive: the layout as a tarball; docker-archive: `docker save`'s classic form
      (manifest.json, <hex>.json, <id>/layer.tar, uncompressed unless --gzip-layers);
      docker25: the layout plus a manifest.json naming blobs/sha256/...; --gzip
      compresses the whole archive.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "docker": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def put_blob(layout, data):
    d = sha(data)
    path = os.path.join(layout, "blobs", "sha256", d[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": d, "size": len(data)}


def get_blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "rb") as f:
        return f.read()


def compress(data, how):
    if how == "none":
        return data
    if how in ("gzip", "docker"):
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    sys.exit("mkoci.py: unknown compression " + how)


def decompress(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def load_index(layout):
    path = os.path.join(layout, "index.json")
    if not os.path.exists(path):
        os.makedirs(layout, exist_ok=True)
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        return {"schemaVersion": 2, "manifests": []}
    with open(path) as f:
        return json.load(f)


def save_index(layout, index):
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(dumps(index))


def platform_of(s):
    parts = s.split("/")
    p = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        p["variant"] = parts[2]
    return p


def cmd_tar(a):
    t = tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT)
    for line in sys.stdin:
        words = line.rstrip("\n").split(" ", 2)
        if not words[0]:
            continue
        kind, name = words[0], words[1]
        arg = words[2] if len(words) > 2 else None
        info = tarfile.TarInfo(name)
        info.mtime = 1700000000
        data = None
        if kind == "dir":
            info.type = tarfile.DIRTYPE
            info.mode = int(arg, 8) if arg else 0o755
        elif kind in ("file", "empty"):
            data = (arg + "\n").encode() if kind == "file" and arg is not None else b""
            info.size = len(data)
            info.mode = 0o644
        elif kind in ("hardlink", "symlink"):
            info.type = tarfile.LNKTYPE if kind == "hardlink" else tarfile.SYMTYPE
            info.linkname = arg
            info.mode = 0o644 if kind == "hardlink" else 0o777
        else:
            sys.exit("mkoci.py tar: unknown entry kind " + kind)
        t.addfile(info, io.BytesIO(data) if data is not None else None)
    t.close()


def cmd_layout(a):
    index = load_index(a.dir)
    plat = platform_of(a.platform)
    comps = a.compress.split(",")
    if len(comps) == 1:
        comps = comps * len(a.layers)
    layers, diff_ids = [], []
    for path, how in zip(a.layers, comps):
        with open(path, "rb") as f:
            raw = f.read()
        diff_ids.append(sha(raw))
        desc = put_blob(a.dir, compress(raw, how))
        layers.append({"mediaType": LAYER_TYPES[how], **desc})
    config = dict(plat)
    config["config"] = json.loads(a.config)
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config["history"] = [{"created_by": "mkoci.py layer %d" % i} for i in range(len(layers))]
    cdesc = put_blob(a.dir, dumps(config))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **cdesc}, "layers": layers}
    mdesc = {"mediaType": OCI_MANIFEST, **put_blob(a.dir, dumps(manifest)),
             "annotations": {"org.opencontainers.image.ref.name": a.ref}}
    if a.index_platform:
        mdesc["platform"] = plat
    index["manifests"].append(mdesc)
    save_index(a.dir, index)
    print(mdesc["digest"])


def cmd_nest(a):
    index = load_index(a.dir)
    named = [d for d in index["manifests"]
             if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == a.ref]
    inner = []
    for d in named:
        m = json.loads(get_blob(a.dir, d["digest"]))
        c = json.loads(get_blob(a.dir, m["config"]["digest"]))
        p = {"os": c["os"], "architecture": c["architecture"]}
        if "variant" in c:
            p["variant"] = c["variant"]
        inner.append({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                      "platform": p})
    if a.attestation:
        cdesc = put_blob(a.dir, b"{}")
        att = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cdesc},
               "layers": []}
        inner.append({"mediaType": OCI_MANIFEST, **put_blob(a.dir, dumps(att)),
                      "platform": {"os": "unknown", "architecture": "unknown"},
                      "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                      "vnd.docker.reference.digest": inner[0]["digest"]}})
    nested = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": inner}
    idesc = {"mediaType": OCI_INDEX, **put_blob(a.dir, dumps(nested)),
             "annotations": {"org.opencontainers.image.ref.name": a.ref}}
    index["manifests"] = [d for d in index["manifests"] if d not in named] + [idesc]
    save_index(a.dir, index)
    print(idesc["digest"])


def cmd_rewrite(a):
    index = load_index(a.dir)
    for d in index["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") != a.ref:
            continue
        m = json.loads(get_blob(a.dir, d["digest"]))
        if a.config or a.raw_config is not None:
            if a.raw_config is not None:
                raw = a.raw_config.encode()
            else:
                c = json.loads(get_blob(a.dir, m["config"]["digest"]))
                exec(a.config, {"c": c})
                raw = dumps(c)
            m["config"].update(put_blob(a.dir, raw))
        if a.manifest:
            exec(a.manifest, {"m": m})
        d.update(put_blob(a.dir, dumps(m)))
    save_index(a.dir, index)


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def docker25_index(data):
    """Docker 25's index.json names an image twice: in full, and by its tag."""
    index = json.loads(data)
    for d in index["manifests"]:
        name = d.get("annotations", {}).get("org.opencontainers.image.ref.name", "image")
        d["annotations"] = {"io.containerd.image.name": "docker.io/library/%s:latest" % name,
                            "org.opencontainers.image.ref.name": "latest"}
    return dumps(index)


def the_manifest(layout, ref):
    index = load_index(layout)
    for d in index["manifests"]:
        if ref is None or d.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return d
    sys.exit("mkoci.py: no manifest named %s" % ref)


def cmd_archive(a):
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    if a.format in ("oci-archive", "docker25"):
        for root, dirs, files in os.walk(a.dir):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    data = f.read()
                if a.format == "docker25" and path == os.path.join(a.dir, "index.json"):
                    data = docker25_index(data)
                add_bytes(tar, os.path.relpath(path, a.dir), data)
    if a.format in ("docker-archive", "docker25"):
        d = the_manifest(a.dir, a.ref)
        m = json.loads(get_blob(a.dir, d["digest"]))
        config = get_blob(a.dir, m["config"]["digest"])
        tag = a.ref if ":" in (a.ref or "") else "%s:latest" % (a.ref or "image")
        if a.format == "docker25":
            item = {"Config": "blobs/sha256/" + m["config"]["digest"][7:], "RepoTags": [tag],
                    "Layers": ["blobs/sha256/" + l["digest"][7:] for l in m["layers"]]}
        else:
            item = {"Config": m["config"]["digest"][7:] + ".json", "RepoTags": [tag], "Layers": []}
            add_bytes(tar, item["Config"], config)
            for i, l in enumerate(m["layers"]):
                data = decompress(get_blob(a.dir, l["digest"]))
                name = hashlib.sha256(b"layer-id %d " % i + data).hexdigest() + "/layer.tar"
                add_bytes(tar, name, gzip.compress(data, mtime=0) if a.gzip_layers else data)
                item["Layers"].append(name)
        add_bytes(tar, "manifest.json", dumps([item]))
    tar.close()
    data = buf.getvalue()
    with open(a.out, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if a.gzip else data)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tar")
    t.add_argument("out")
    l = sub.add_parser("layout")
    l.add_argument("dir")
    l.add_argument("--ref", required=True)
    l.add_argument("--platform", default="linux/amd64")
    l.add_argument("--index-platform", action="store_true")
    l.add_argument("--compress", default="gzip")
    l.add_argument("--config", default="{}")
    l.add_argument("layers", nargs="*")
    n = sub.add_parser("nest")
    n.add_argument("dir")
    n.add_argument("--ref", required=True)
    n.add_argument("--attestation", action="store_true")
    w = sub.add_parser("rewrite")
    w.add_argument("dir")
    w.add_argument("--ref", required=True)
    w.add_argument("--config")
    w.add_argument("--manifest")
    w.add_argument("--raw-config")
    r = sub.add_parser("archive")
    r.add_argument("dir")
    r.add_argument("out")
    r.add_argument("--format", required=True,
                   choices=["oci-archive", "docker-archive", "docker25"])
    r.add_argument("--ref")
    r.add_argument("--gzip-layers", action="store_true")
    r.add_argument("--gzip", action="store_true")
    a, extra = p.parse_known_args()
    if a.cmd != "layout" and extra:
        p.error("unrecognized arguments: " + " ".join(extra))
    if a.cmd == "layout":
        a.layers += extra           # layers may come after the options
    {"tar": cmd_tar, "layout": cmd_layout, "nest": cmd_nest, "rewrite": cmd_rewrite,
     "archive": cmd_archive}[a.cmd](a)


main()
