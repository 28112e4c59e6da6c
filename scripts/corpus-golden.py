#!/usr/bin/env python3
"""Listing and golden writer of scripts/corpus-goldens (see there).

  corpus-golden.py baseline ROOT OUT.json
  corpus-golden.py record ROOT GOLDEN.txt BASELINE.json LOCK NAME

ROOT is an mmdebstrap'd directory. Paths are recorded as they are on disk
(merged /usr: dpkg's /bin/x is /usr/bin/x when /bin links to usr/bin).
"""
import hashlib, json, os, re, stat, sys

MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def canon(root, path):
    """A package path as it is on disk: through the merged-/usr links."""
    parts = path.strip("/").split("/")
    if parts and parts[0] in MERGED:
        link = os.path.join(root, parts[0])
        if os.path.islink(link):
            target = os.readlink(link).lstrip("/")
            parts = target.split("/") + parts[1:]
    return "/" + "/".join(p for p in parts if p)


def walk(root):
    """{path: entry} of every path under root, not following links."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = "/" + os.path.relpath(d, root) if d != root else "/"
        for n in dirs + files:
            full = os.path.join(d, n)
            p = (rel.rstrip("/") + "/" + n)
            out[p] = full
    return out


def names(root, file):
    ids = {}
    with open(os.path.join(root, "etc", file)) as f:
        for line in f:
            fs = line.rstrip("\n").split(":")
            if len(fs) >= 3:
                ids.setdefault(int(fs[2]), fs[0])
    return ids


def entry(root, full, users, groups):
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        return ["symlink", os.readlink(full)]
    owner = f"{users.get(st.st_uid, st.st_uid)}:{groups.get(st.st_gid, st.st_gid)}"
    mode = "%04o" % stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return ["dir", mode, owner]
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return ["file", mode, owner, h.hexdigest()]
    return ["other", mode, owner]


def accounts(root):
    users, groups = {}, {}
    for line in open(os.path.join(root, "etc/passwd")):
        fs = line.rstrip("\n").split(":")
        if len(fs) >= 7:
            users[fs[0]] = [fs[5], fs[6]]
    for line in open(os.path.join(root, "etc/group")):
        fs = line.rstrip("\n").split(":")
        if fs and fs[0]:
            groups[fs[0]] = True
    return users, groups


def baseline(root, out):
    paths = sorted(walk(root))
    users, groups = accounts(root)
    json.dump({"paths": paths, "users": users, "groups": sorted(groups)}, open(out, "w"))


def glob_re(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def omissions():
    here = os.path.join(os.path.dirname(__file__), "..", "tests/corpus/omissions.txt")
    out = []
    for line in open(here):
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("content-differs"):
            pat = line.split()[0]
            out.append((pat, glob_re(pat)))
    return out


def owned(root):
    """{on-disk path: package} from dpkg's file lists."""
    own = {}
    info = os.path.join(root, "var/lib/dpkg/info")
    for f in sorted(os.listdir(info)):
        if f.endswith(".list"):
            pkg = f[:-5].split(":")[0]
            for line in open(os.path.join(info, f), errors="surrogateescape"):
                p = line.rstrip("\n")
                if p and p != "/.":
                    own.setdefault(canon(root, p), pkg)
    return own


def alternatives(root, own, closure):
    """[(name, link, chosen, package, [(slave, link, chosen)])] chosen in the closure."""
    out = []
    adir = os.path.join(root, "var/lib/dpkg/alternatives")
    for name in sorted(os.listdir(adir)):
        lines = open(os.path.join(adir, name)).read().split("\n")
        link, slaves, i = lines[1], [], 2
        while lines[i]:
            slaves.append((lines[i], lines[i + 1]))
            i += 2
        cur = os.path.join(root, "etc/alternatives", name)
        if not os.path.islink(cur):
            continue
        chosen = os.readlink(cur)
        pkg = own.get(canon(root, chosen))
        if pkg not in closure:
            continue
        sl = []
        for sname, slink in slaves:
            s = os.path.join(root, "etc/alternatives", sname)
            sl.append((sname, slink, os.readlink(s) if os.path.islink(s) else "-"))
        out.append((name, link, chosen, pkg, sl))
    return out


def packages_digest(lock_text):
    """SHA256 of the lock's amd64 packages as `name=version` lines, in lock
    order: what the golden was recorded from (the spec's other fields, such
    as the entrypoint, do not change what dpkg makes)."""
    import yaml
    pkgs = yaml.load(lock_text, Loader=yaml.BaseLoader)["packages"]["amd64"]
    return hashlib.sha256("".join(f"{p['name']}={p['version']}\n" for p in pkgs).encode()).hexdigest()


def record(root, golden, base_json, lock, name):
    import yaml
    base = json.load(open(base_json))
    lock_text = open(lock, "rb").read()
    closure = {p["name"] for p in yaml.load(lock_text, Loader=yaml.BaseLoader)["packages"]["amd64"]}
    own = owned(root)
    alts = alternatives(root, own, closure)
    alt_paths = set()
    adir = os.path.join(root, "var/lib/dpkg/alternatives")
    for n in os.listdir(adir):
        lines = open(os.path.join(adir, n)).read().split("\n")
        alt_paths.add(canon(root, lines[1]))
        alt_paths.add("/etc/alternatives/" + n)
        i = 2
        while lines[i]:
            alt_paths.add(canon(root, lines[i + 1]))
            alt_paths.add("/etc/alternatives/" + lines[i])
            i += 2
    users, groups = names(root, "passwd"), names(root, "group")
    omit = omissions()
    counts = {}
    listed = []
    basepaths = set(base["paths"])
    for p, full in sorted(walk(root).items()):
        if p in basepaths or p in own or p in alt_paths:
            continue
        hit = next((pat for pat, rx in omit if rx.match(p)), None)
        if hit:
            counts[hit] = counts.get(hit, 0) + 1
            continue
        listed.append((p, entry(root, full, users, groups)))
    acc_u, acc_g = accounts(root)
    out = [f"# Golden of corpus set {name}: what dpkg and its maintainer scripts made",
           "# (scripts/corpus-goldens; regenerate, do not edit). Tab-separated.",
           f"packages\t{packages_digest(lock_text)}"]
    for n, link, chosen, pkg, sl in alts:
        out.append(f"alternative\t{n}\t{link}\t{chosen}\t{pkg}")
        for s in sl:
            out.append("slave\t" + n + "\t" + "\t".join(s))
    for p, e in listed:
        out.append("path\t" + p + "\t" + "\t".join(e))
    for u in sorted(acc_u):
        if u not in base["users"]:
            out.append("user\t" + u + "\t" + "\t".join(acc_u[u]))
    for g in sorted(acc_g):
        if g not in base["groups"]:
            out.append("group\t" + g)
    for pat in sorted(counts):
        out.append(f"omitted\t{pat}\t{counts[pat]}")
    tmp = golden + ".tmp"
    open(tmp, "w").write("\n".join(out) + "\n")
    os.replace(tmp, golden)


if __name__ == "__main__":
    if sys.argv[1] == "baseline":
        baseline(sys.argv[2], sys.argv[3])
    else:
        record(*sys.argv[2:7])
