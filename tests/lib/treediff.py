#!/usr/bin/env python3
"""treediff.py — canonical listings of unpacked image trees and image configs, and their diff
under an allow-list. Used by the differential tests (tests/differential/run.sh).

  treediff.py tree ROOT [--build-time EPOCH]   one line per path below ROOT
  treediff.py config CONFIG.json               one line per compared config item
  treediff.py diff A.list B.list --names kiln,buildah --case NAME [--allow FILE]

A listing line is "<path>\\t<field>=<value>\\t...". Tree fields: type (f d l c b p s), mode
(octal, with setuid/setgid/sticky), uid, gid, size (files), sha256 (files), target (links),
rdev (devices), xattrs (name=hex-value, sorted; "-" when none), hardlink (the first path, in
sorted order, of the set of paths sharing one inode inside this tree; "-" when nlink is 1),
and mtime (files, links) or dirmtime (directories): the number of seconds, or "build" when it is
at or after --build-time (made during the build, so it cannot match between two builders).

Config lines have paths under "@config/": Env/<NAME> (value), Env(order) (the names in order),
Cmd, Entrypoint, Shell, OnBuild (JSON), WorkingDir, User, StopSignal, author, Healthcheck (JSON
with sorted keys), and one path per key of ExposedPorts/<k>, Volumes/<k>, Labels/<k>. A null,
empty list or empty object counts as absent (buildah writes [] and {} where Docker writes null).

diff compares two listings. A difference is (path, field): a field that differs, or the field
"only-<name>" for a path present in one listing only. An allow-list line is
"<case-glob> <path-glob> <field-glob> <reason...>" (fnmatch globs, "*" crosses "/"; "#"
comments); a difference matched by a line is allowed. A field glob may name the two values too,
"<field-glob>:<A-value-glob>:<B-value-glob>" (e.g. dirmtime:1500000000:build): then the line
allows only a difference between such values. Prints the remaining differences and
exits 1 when there are any; allowed ones are counted (all shown with --show-allowed).
"""
import argparse
import errno
import fnmatch
import hashlib
import json
import os
import stat
import sys

XATTRS_SUPPORTED = True


def _xattrs(path):
    global XATTRS_SUPPORTED
    if not XATTRS_SUPPORTED:
        return "skipped"
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            XATTRS_SUPPORTED = False
            return "skipped"
        raise
    out = []
    for n in sorted(names):
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            v = b"?"
        out.append("%s=%s" % (n, v.hex()))
    return ",".join(out) if out else "-"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _type(m):
    if stat.S_ISREG(m):
        return "f"
    if stat.S_ISDIR(m):
        return "d"
    if stat.S_ISLNK(m):
        return "l"
    if stat.S_ISCHR(m):
        return "c"
    if stat.S_ISBLK(m):
        return "b"
    if stat.S_ISFIFO(m):
        return "p"
    if stat.S_ISSOCK(m):
        return "s"
    return "?"


def tree_listing(root, build_time):
    entries = []  # (relpath, stat)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in dirnames + sorted(filenames):
            p = os.path.join(dirpath, n)
            entries.append(("/" + os.path.relpath(p, root), os.lstat(p)))
    entries.sort(key=lambda e: e[0])
    groups = {}
    for rel, st in entries:
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    lines = []
    for rel, st in entries:
        m = st.st_mode
        t = _type(m)
        f = [("type", t), ("mode", "%04o" % stat.S_IMODE(m)), ("uid", st.st_uid),
             ("gid", st.st_gid)]
        full = os.path.join(root, rel.lstrip("/"))
        if t == "f":
            f += [("size", st.st_size), ("sha256", _sha256(full))]
        elif t == "l":
            f.append(("target", os.readlink(full)))
        elif t in "cb":
            f.append(("rdev", "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))))
        f.append(("xattrs", _xattrs(full)))
        g = groups.get((st.st_dev, st.st_ino))
        f.append(("hardlink", g[0] if g and len(g) > 1 else "-"))
        mt = int(st.st_mtime)
        f.append(("dirmtime" if t == "d" else "mtime", "build" if mt >= build_time else mt))
        lines.append(rel + "".join("\t%s=%s" % (k, _esc(v)) for k, v in f))
    return lines


def _esc(v):
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _empty(v):
    return v is None or v == [] or v == {} or v == ""


def config_listing(cfg):
    c = cfg.get("config") or {}
    out = []

    def put(path, value):
        if not _empty(value):
            if not isinstance(value, str):
                value = json.dumps(value, sort_keys=True, separators=(",", ":"))
            out.append("@config/%s\tvalue=%s" % (path, _esc(value)))

    env = c.get("Env") or []
    names = []
    for e in env:
        k, _, v = e.partition("=")
        names.append(k)
        out.append("@config/Env/%s\tvalue=%s" % (k, _esc(v)))
    put("Env(order)", ",".join(names))
    for k in ("Cmd", "Entrypoint", "Shell", "OnBuild", "WorkingDir", "User", "StopSignal",
              "Healthcheck"):
        put(k, c.get(k))
    put("author", cfg.get("author"))
    for k in ("ExposedPorts", "Volumes", "Labels"):
        d = c.get(k) or {}
        for key in sorted(d):
            v = d[key]
            put("%s/%s" % (k, key), v if k == "Labels" else "present")
    return sorted(out)


def _parse(path):
    d = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            fields = {}
            for p in parts[1:]:
                k, _, v = p.partition("=")
                fields[k] = v
            d[parts[0]] = fields
    return d


def _load_allow(path):
    rules = []
    if not path:
        return rules
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            w = s.split(None, 3)
            if len(w) < 4:
                raise SystemExit("%s:%d: want '<case> <path> <field> <reason>'" % (path, n))
            rules.append((w[0], w[1], w[2], "%s:%d" % (os.path.basename(path), n)))
    return rules


def _allowed(rules, case, path, field, va=None, vb=None):
    for c, p, fl, where in rules:
        fl, _, vals = fl.partition(":")
        if vals:
            ga, sep, gb = vals.partition(":")
            if not sep or va is None or not fnmatch.fnmatchcase(va, ga) or \
                    not fnmatch.fnmatchcase(vb, gb):
                continue
        if fnmatch.fnmatchcase(case, c) and fnmatch.fnmatchcase(path, p) and \
                fnmatch.fnmatchcase(field, fl):
            return where
    return None


def _summary(fields):
    return " ".join("%s=%s" % (k, fields[k]) for k in ("type", "mode", "uid", "gid", "size",
                                                       "target", "value") if k in fields)


def diff(a_path, b_path, names, case, allow_path, show_allowed):
    a, b = _parse(a_path), _parse(b_path)
    na, nb = names
    rules = _load_allow(allow_path)
    bad, ok = [], []
    for path in sorted(set(a) | set(b)):
        diffs = []
        if path not in b:
            diffs.append(("only-" + na, "only in %s (%s)" % (na, _summary(a[path])), None, None))
        elif path not in a:
            diffs.append(("only-" + nb, "only in %s (%s)" % (nb, _summary(b[path])), None, None))
        else:
            fa, fb = a[path], b[path]
            for k in sorted(set(fa) | set(fb)):
                va, vb = fa.get(k, "<none>"), fb.get(k, "<none>")
                if va == "skipped" or vb == "skipped" or va == vb:
                    continue
                diffs.append((k, "%s: %s=%s %s=%s" % (k, na, va, nb, vb), va, vb))
        for field, text, va, vb in diffs:
            where = _allowed(rules, case, path, field, va, vb)
            (ok if where else bad).append("%s  %s%s" % (path, text,
                                                         "  [%s]" % where if where else ""))
    for line in bad:
        print(line)
    if show_allowed:
        for line in ok:
            print("allowed: " + line)
    print("# %d difference(s), %d allowed by the allow-list" % (len(bad), len(ok)))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tree")
    t.add_argument("root")
    t.add_argument("--build-time", type=int, default=1 << 62)
    c = sub.add_parser("config")
    c.add_argument("file")
    d = sub.add_parser("diff")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--names", default="a,b")
    d.add_argument("--case", default="")
    d.add_argument("--allow")
    d.add_argument("--show-allowed", action="store_true")
    o = ap.parse_args()
    if o.cmd == "tree":
        lines = tree_listing(o.root, o.build_time)
        if not XATTRS_SUPPORTED:
            print("treediff: xattrs not supported under %s: not compared" % o.root,
                  file=sys.stderr)
        sys.stdout.write("".join(line + "\n" for line in lines))
        return 0
    if o.cmd == "config":
        with open(o.file, encoding="utf-8") as f:
            cfg = json.load(f)
        sys.stdout.write("".join(line + "\n" for line in config_listing(cfg)))
        return 0
    return diff(o.a, o.b, o.names.split(",", 1), o.case, o.allow, o.show_allowed)


if __name__ == "__main__":
    sys.exit(main())
