#!/usr/bin/env python3
"""Size floor of an unpacked image: bench/size-floor.sh's analysis step.

usage: analyze.py ROOTFS STRACE_LOG[,STRACE_LOG...] BUILD_JSON OUT_DIR
                  [--skip IMAGE_PATH]... [--skip-list FILE] [--chain SPEC,SPEC...] [--recommend TSV]

Reads the rootfs (the image as umoci unpacked it), the strace log of the
workload (strace -f of `chroot ROOTFS ...`: paths after the successful
chroot() are absolute inside the image), and `distill build --json`.
Writes OUT_DIR/floor.txt (every floor file, why it is there), excess.txt
(every image file outside the floor, with package and note), groups.tsv and
summary.json; prints the Markdown report (BENCHMARKS.md "Size floor" body
from "Result" on) to stdout.

Floor = regular files of the rootfs that the workload opened, executed or
stat'ed successfully (symlinks resolved inside the rootfs, the last
component only when the syscall follows it), plus what the image checks
need (/etc/passwd, /etc/group, /etc/nsswitch.conf, /etc/os-release's
target, /var/lib/dpkg/status.d/*, /usr/share/doc/*/copyright, the CA
bundle), plus the ELF closure (interpreter + DT_NEEDED, recursively) of
every ELF file the workload mapped or executed, plus /usr/share/zoneinfo
except its right/ and posix/ trees (every TZ value must keep working; the
workload only reads some zones). Sizes: st_size, each inode once.
"""
import fnmatch
import json
import os
import re
import stat
import struct
import sys
from collections import defaultdict

MB = 1e6


def mb(n, d=2):
    return f"{n / MB:.{d}f}"


# --------------------------------------------------------------------------
# Paths inside the rootfs


class Root:
    def __init__(self, root):
        self.root = os.path.abspath(root)

    def host(self, p):
        return self.root + p

    def resolve(self, path, follow_last=True, cwd="/"):
        """Resolve an image path the way the kernel would inside a chroot.
        Returns the image path of the final entry (no symlink left when
        follow_last), or None when a component is missing."""
        if not path.startswith("/"):
            path = cwd.rstrip("/") + "/" + path
        todo = [c for c in path.split("/") if c]
        todo.reverse()
        cur = []
        hops = 0
        while todo:
            c = todo.pop()
            if c == ".":
                continue
            if c == "..":
                if cur:
                    cur.pop()
                continue
            cand = "/" + "/".join(cur + [c])
            try:
                st = os.lstat(self.host(cand))
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                hops += 1
                if hops > 40:
                    return None
                target = os.readlink(self.host(cand))
                if target.startswith("/"):
                    cur = []
                parts = [t for t in target.split("/") if t]
                todo.extend(reversed(parts))
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                return None
            cur.append(c)
        return "/" + "/".join(cur)

    def lstat(self, p):
        try:
            return os.lstat(self.host(p))
        except OSError:
            return None


# --------------------------------------------------------------------------
# strace log

# syscall -> (index of the path argument, follows the last symlink?)
# For *at calls the path is argument 1 (argument 0 is the dirfd).
PATH_CALLS = {
    "open": (0, True), "creat": (0, True), "openat": (1, True), "openat2": (1, True),
    "execve": (0, True), "execveat": (1, True),
    "stat": (0, True), "stat64": (0, True), "lstat": (0, False), "lstat64": (0, False),
    "newfstatat": (1, None), "fstatat64": (1, None), "statx": (1, None),
    "access": (0, True), "faccessat": (1, True), "faccessat2": (1, None),
    "readlink": (0, False), "readlinkat": (1, False),
    "statfs": (0, True), "truncate": (0, True), "getxattr": (0, True), "lgetxattr": (0, False),
    "chdir": (0, True), "utimensat": (1, None), "uselib": (0, True), "name_to_handle_at": (1, None),
    "inotify_add_watch": (1, True), "fanotify_mark": (4, True),
}
LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\((.*)\)\s+=\s+(-?\d+|\?)(.*)$")
STR = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')


def unescape(s):
    return s.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def split_args(args):
    """Top-level comma split of an strace argument list."""
    out, depth, cur, q, esc = [], 0, "", False, False
    for ch in args:
        if q:
            cur += ch
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                q = False
            continue
        if ch == '"':
            q = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_strace(log):
    """Yield (pid, call, args list, ret, after_chroot) for complete calls."""
    pending = {}
    chrooted = False
    with open(log, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            if rest.startswith("+++") or rest.startswith("---"):
                continue
            if rest.endswith("<unfinished ...>"):
                pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
                continue
            r = re.match(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$", rest)
            if r:
                rest = pending.pop(pid, r.group(1) + "(") + r.group(2)
            c = CALL.match(rest)
            if not c:
                continue
            name, args, ret = c.group(1), c.group(2), c.group(3)
            if name == "chroot":
                if ret == "0":
                    chrooted = True
                continue
            yield pid, name, split_args(args), ret, chrooted


def observed_files(root, log):
    """Regular files (image paths) the workload touched successfully after
    chroot, with the syscalls that touched them; plus statistics."""
    files = defaultdict(set)      # image path -> {call}
    execs = set()
    cwd = {}
    parent_cwd = "/"
    stats = defaultdict(int)
    for pid, name, args, ret, chrooted in parse_strace(log):
        if not chrooted:
            continue
        if name in ("clone", "clone3", "fork", "vfork"):
            if ret not in ("?",) and not ret.startswith("-"):
                cwd[int(ret)] = cwd.get(pid, parent_cwd)
            continue
        spec = PATH_CALLS.get(name)
        if spec is None:
            continue
        stats["calls"] += 1
        if ret == "?" or ret.startswith("-"):
            stats["failed"] += 1
            continue
        idx, follow = spec
        if idx >= len(args):
            continue
        sm = STR.match(args[idx])
        if not sm:
            continue
        path = unescape(sm.group(1))
        if sm.group(2):
            stats["truncated"] += 1
        flags = " ".join(args[idx + 1:])
        if follow is None:
            follow = "AT_SYMLINK_NOFOLLOW" not in flags
        if path == "":
            stats["fd-only"] += 1    # AT_EMPTY_PATH on an fd: already counted at open
            continue
        if not path.startswith("/") and idx == 1 and args[0] != "AT_FDCWD":
            stats["dirfd-relative (not resolved)"] += 1
            continue
        here = cwd.get(pid, "/")
        real = root.resolve(path, follow_last=follow, cwd=here)
        if name == "chdir":
            if real:
                cwd[pid] = real
            continue
        if real is None:
            continue
        st = root.lstat(real)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        files[real].add(name)
        if name in ("execve", "execveat"):
            execs.add(real)
    return files, execs, dict(stats)


# --------------------------------------------------------------------------
# ELF


def elf_info(host_path):
    """(interp, needed, runpath list, machine, class) or None."""
    try:
        with open(host_path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF":
        return None
    cls, endian = data[4], data[5]
    e = "<" if endian == 1 else ">"
    if cls == 2:
        hdr = struct.unpack_from(e + "HHIQQQIHHHHHH", data, 16)
        _, machine, _, _, phoff, shoff, _, _, phentsz, phnum, _, _, _ = hdr
    else:
        hdr = struct.unpack_from(e + "HHIIIIIHHHHHH", data, 16)
        _, machine, _, _, phoff, shoff, _, _, phentsz, phnum, _, _, _ = hdr
    loads, interp, dyn = [], None, None
    for i in range(phnum):
        o = phoff + i * phentsz
        if cls == 2:
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from(e + "IIQQQQQQ", data, o)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = struct.unpack_from(e + "IIIIIIII", data, o)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 3:
            interp = data[p_offset:p_offset + p_filesz].split(b"\0")[0].decode()
        elif p_type == 2:
            dyn = (p_offset, p_filesz)
    needed, runpath, strtab = [], [], None
    entries = []
    if dyn:
        off, size = dyn
        step = 16 if cls == 2 else 8
        fmt = e + ("qQ" if cls == 2 else "iI")
        for o in range(off, off + size, step):
            tag, val = struct.unpack_from(fmt, data, o)
            if tag == 0:
                break
            entries.append((tag, val))
        for tag, val in entries:
            if tag == 5:
                strtab = val

    def vaddr_to_off(v):
        for va, po, sz in loads:
            if va <= v < va + sz:
                return v - va + po
        return None

    if strtab is not None:
        so = vaddr_to_off(strtab)

        def s(v):
            end = data.index(b"\0", so + v)
            return data[so + v:end].decode()
        for tag, val in entries:
            if tag == 1:
                needed.append(s(val))
            elif tag in (15, 29):
                runpath.extend(s(val).split(":"))
    return interp, needed, runpath, machine, cls


MULTIARCH = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu", 3: "i386-linux-gnu", 40: "arm-linux-gnueabihf"}


def elf_closure(root, starts):
    """Image paths (resolved) of the interpreters and DT_NEEDED libraries of
    `starts`, recursively, searched the way ld.so does (RPATH/RUNPATH with
    $ORIGIN, multiarch dirs, /lib, /usr/lib)."""
    out, todo, seen, missing = set(), list(starts), set(), set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        info = elf_info(root.host(p))
        if not info:
            continue
        interp, needed, runpath, machine, _ = info
        ma = MULTIARCH.get(machine, "")
        dirs = [r.replace("$ORIGIN", os.path.dirname(p)).replace("${ORIGIN}", os.path.dirname(p)) for r in runpath]
        dirs += [f"/lib/{ma}", f"/usr/lib/{ma}", "/lib", "/usr/lib", f"/lib64", "/usr/lib64"]
        deps = [interp] if interp else []
        for n in needed:
            if "/" in n:
                deps.append(n)
                continue
            for d in dirs:
                r = root.resolve(f"{d}/{n}")
                if r and root.lstat(r) and stat.S_ISREG(root.lstat(r).st_mode):
                    deps.append(r)
                    break
            else:
                missing.add(f"{p}: {n}")
        for d in deps:
            r = root.resolve(d)
            if r:
                out.add(r)
                todo.append(r)
    return out, missing


def is_elf(root, p):
    try:
        with open(root.host(p), "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


# Files not listed in any md5sums: what distill writes itself (README "What
# the image contains"), and conffiles (dpkg leaves them out of md5sums; the
# status.d stanzas carry no Conffiles field), by Debian 12's packages.
GENERATED = {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/timezone",
             "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/java/cacerts", "/usr/lib/os-release"}
CONFFILES = {"/etc/services": "netbase", "/etc/protocols": "netbase", "/etc/rpc": "netbase",
             "/etc/ethertypes": "netbase", "/etc/mime.types": "media-types", "/etc/issue": "base-files",
             "/etc/issue.net": "base-files", "/etc/debian_version": "base-files", "/etc/host.conf": "base-files",
             "/etc/dpkg/origins/debian": "base-files", "/etc/update-motd.d/10-uname": "base-files",
             "/etc/profile": "base-files", "/etc/ld.so.conf.d/x86_64-linux-gnu.conf": "libc6",
             "/etc/ld.so.conf.d/aarch64-linux-gnu.conf": "libc6", "/etc/bindresvport.blacklist": "libc6",
             "/etc/gai.conf": "libc6"}


# --------------------------------------------------------------------------
# Path filters, as distill applies them (src/tree/filter.rs, globset with
# literal_separator): `*` and `?` stay within a component, `**` crosses
# them, `{a,b}` alternates. A path is dropped when it or a parent matches an
# exclude glob, unless it matches a keep glob.


def glob_re(g):
    out, i = "", 0
    while i < len(g):
        c = g[i]
        if g.startswith("/**/", i):
            out += "(?:/|/.*/)"
            i += 4
        elif g.startswith("/**", i) and i + 3 == len(g):
            out += "/.*"
            i += 3
        elif g.startswith("**", i):
            out += ".*"
            i += 2
        elif c == "*":
            out += "[^/]*"
            i += 1
        elif c == "?":
            out += "[^/]"
            i += 1
        elif c == "{":
            j = g.index("}", i)
            out += "(?:" + "|".join(glob_re(a) for a in g[i + 1:j].split(",")) + ")"
            i = j + 1
        elif c == "[":
            j = g.index("]", i + 1)
            out += "[" + g[i + 1:j].replace("\\", "\\\\") + "]"
            i = j + 1
        else:
            out += re.escape(c)
            i += 1
    return out


def matcher(globs):
    if not globs:
        return lambda p: False
    rx = re.compile("^(?:" + "|".join(glob_re(g) for g in globs) + ")$")
    return lambda p: rx.match(p) is not None


def dropped(path, exclude, keep):
    if keep(path):
        return False
    cur = path
    while cur:
        if exclude(cur):
            return True
        cur = cur.rsplit("/", 1)[0]
    return False


def elf_needs(root, files):
    """{elf path: [[candidate paths for one DT_NEEDED / the interpreter] …]}
    for every ELF file of the image: every existing candidate in ld.so's
    search order (a later one is used when an earlier one is removed)."""
    out = {}
    for p in files:
        info = elf_info(root.host(p))
        if not info:
            continue
        interp, needed, runpath, machine, _ = info
        ma = MULTIARCH.get(machine, "")
        dirs = [r.replace("$ORIGIN", os.path.dirname(p)).replace("${ORIGIN}", os.path.dirname(p)) for r in runpath]
        dirs += [f"/lib/{ma}", f"/usr/lib/{ma}", "/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        reqs = []
        if interp:
            r = root.resolve(interp)
            reqs.append((interp, [r] if r else []))
        for n in needed:
            cands = []
            for d in ([""] if "/" in n else dirs):
                r = root.resolve(f"{d}/{n}" if d else n)
                if r and r not in cands and root.lstat(r) and stat.S_ISREG(root.lstat(r).st_mode):
                    cands.append(r)
            reqs.append((n, cands))
        out[p] = reqs
    return out


# --------------------------------------------------------------------------
# Notes: what a file outside the floor is, and whether another workload
# needs it. First matching glob wins ("**" crosses "/", "*" does too here:
# fnmatch; patterns are written to match whole subtrees).

NOTES = [
    ("/usr/lib/*/gconv/*", "keep in cc/base/python3/java17; nodejs: exclude",
     "glibc iconv(3) charset modules: loaded only by iconv_open()/the locale machinery for charsets other than the "
     "built-in UTF-8/UTF-16/UTF-32/UCS-2/UCS-4/ASCII/ISO-8859-1. A C/C++ program (cc, base) may call iconv. "
     "Node does its charset work in V8/ICU (TextDecoder, Buffer) and never calls iconv; only a native addon could"),
    ("/usr/share/zoneinfo/right/*", "not needed",
     "leap-second ('right/') copies of every zone: read only for TZ=right/<Zone> (clocks that count leap "
     "seconds, which POSIX time() does not); Debian's default and every workload here use the plain zones"),
    ("/usr/share/zoneinfo/posix/*", "not needed", "posix/ copies of every zone (symlinks here)"),
    ("/usr/share/nodejs/@types/*", "not needed at run time",
     "TypeScript declarations of Node's API (nodejs ships them for tsc); Node never reads .d.ts files"),
    ("/usr/share/nodejs/undici-types/*", "not needed at run time",
     "TypeScript declarations for undici (node-undici); never read at run time"),
    ("*.d.ts", "not needed at run time", "TypeScript declaration file"),
    ("*.d.mts", "not needed at run time", "TypeScript declaration file"),
    ("*.d.cts", "not needed at run time", "TypeScript declaration file"),
    ("/usr/share/nodejs/*.mjs", "not needed by node core",
     "ES-module build: Node's core loads the CommonJS build; ESM bare imports never search the global folder "
     "/usr/share/nodejs and require() cannot load .mjs (Node 18)"),
    ("/usr/share/nodejs/*.map", "not needed", "source map (only --enable-source-maps uses it, for that file's stack frames)"),
    ("/usr/share/nodejs/acorn/bin/*", "not needed", "acorn's CLI script (no /usr/bin link)"),
    ("/usr/share/nodejs/acorn-walk/*", "partly", "acorn-walk: Node's REPL loads dist/walk.js"),
    ("/usr/share/nodejs/acorn-*", "only for require() by apps",
     "acorn plugins node-acorn bundles (acorn-loose, acorn-node, acorn-jsx …): Node's core uses only acorn and "
     "acorn-walk; require('acorn-jsx') etc. from an app resolve through Node's global folder /usr/share/nodejs"),
    ("/usr/share/nodejs/undici/*", "only for require('undici') by apps",
     "undici's own sources: fetch() uses the single bundled undici-fetch.js (busboy and llhttp inlined); the rest "
     "is the undici package that require('undici') resolves through Node's global folder /usr/share/nodejs"),
    ("/usr/share/nodejs/busboy/*", "only for require() by apps",
     "busboy multipart parser: the fetch bundle has its own copy; require('busboy') from an app resolves here"),
    ("/usr/share/nodejs/streamsearch/*", "only for require() by apps", "busboy's dependency (node-busboy)"),
    ("/usr/share/nodejs/xtend/*", "only for require() by apps", "dependency of the acorn plugins"),
    ("/usr/share/nodejs/cjs-module-lexer/*", "partly", "Node's ESM loader uses lexer.js and dist/lexer.js"),
    ("/usr/share/nodejs/*", "unknown", "JavaScript module from /usr/share/nodejs not loaded by the workload"),
    ("*/libc_malloc_debug.so*", "keep (debugging)", "glibc malloc debugging, LD_PRELOADed for MALLOC_CHECK_/mtrace (since 2.34)"),
    ("*/libmemusage.so", "keep (debugging)", "glibc memusage preload library (its memusage script needs a shell)"),
    ("*/libpcprofile.so", "keep (debugging)", "glibc pcprofile preload library"),
    ("*/libthread_db.so*", "keep (debugging)", "thread debugging library gdb loads from the target's sysroot"),
    ("*/libnsl.so*", "keep", "glibc NIS/YP library (legacy programs link -lnsl)"),
    ("*/libresolv.so*", "keep", "glibc DNS resolver library (programs linking -lresolv: res_query …)"),
    ("*/libnss_*.so*", "keep", "glibc NSS modules: compat/hesiod for nsswitch.conf entries; files/dns are stubs (built into libc)"),
    ("*/lib{anl,dl,pthread,rt,util}.so*", "keep",
     "glibc compatibility stubs (merged into libc.so.6 in 2.34); binaries built against older glibc still link them"),
    ("*/libBrokenLocale.so*", "keep", "glibc compatibility library for programs that need the old broken ctype"),
    ("*/libmvec.so*", "keep",
     "glibc vector math (libmvec): linked by code built with -ffast-math/-fopenmp-simd (cc images, native addons); nothing in the image links it"),
    ("/usr/sbin/update-ca-certificates", "not needed", "shell script (there is no shell); distill generates the bundle"),
    ("/usr/share/bash-completion/*", "not needed", "bash completion (no bash)"),
    ("/usr/share/systemtap/*", "not needed", "systemtap tapset"),
    ("/usr/share/base-files/*", "not needed", "base-files' templates for its maintainer scripts"),
    ("/usr/share/bug/*", "not needed", "reportbug hooks"),
    ("/usr/lib/*/libicutu.so*", "not needed", "ICU tools library (genrb …); libnode does not link it"),
    ("/usr/lib/*/libicuio.so*", "not needed", "ICU ustdio library; libnode does not link it"),
    ("/usr/lib/*/libicutest.so*", "not needed", "ICU test framework library; libnode does not link it"),
    ("/usr/lib/*/ossl-modules/legacy.so", "keep",
     "OpenSSL legacy provider (MD4, RC4, DES, Blowfish …): `node --openssl-legacy-provider`, Python hashlib.new('md4')"),
    ("/usr/lib/*/engines-3/*", "keep (small)",
     "OpenSSL 3 engines (afalg, padlock, loader_attic): loaded only through openssl.cnf or crypto.setEngine()"),
    ("/usr/lib/*/libgomp.so*", "keep", "OpenMP runtime: the cc image adds it on purpose"),
    ("/usr/lib/*/libstdc++.so*", "keep", "C++ runtime"),
    ("/usr/share/gcc/python/*", "not needed",
     "GDB pretty-printers for libstdc++ (Python scripts for gdb); there is no gdb in these images"),
    ("/usr/share/gdb/*", "not needed", "GDB auto-load scripts (libstdc++); no gdb in these images"),
    ("/usr/share/ca-certificates/*", "not needed at run time, but distill's build needs it",
     "the individual CA certificates: the generated /etc/ssl/certs/ca-certificates.crt holds the same bytes. "
     "distill builds that bundle (and java17's truststore) from this directory after the path filters, so an "
     "exclude would empty the bundle: it needs a src/ change (read them before filtering), not a spec glob"),
    ("/usr/share/common-licenses/*", "keep",
     "licence texts the copyright files refer to (base-files); kept with the copyrights"),
    ("/usr/lib/*/lib*.so*", "keep", "shared library no workload here loaded (glibc's NSS/resolver/threads split-outs …)"),
    ("/lib/*/lib*.so*", "keep", "shared library no workload here loaded (glibc's NSS/resolver/threads split-outs …)"),
    ("/usr/share/zoneinfo/*", "keep", "time zone data"),
    ("/usr/lib/python3*/lib-dynload/_test*", "not needed", "C extension modules of CPython's own test suite"),
    ("/usr/lib/python3*/lib-dynload/xxlimited*", "not needed", "example C extension modules (limited API demos)"),
    ("/usr/lib/python3*/test/*", "rarely", "test.support: CPython's regression-test helpers (some third-party test suites use it)"),
    ("/usr/lib/python3*/pydoc_data/*", "keep", "help('topic') texts for pydoc / the interactive help()"),
    ("/usr/lib/python3*/*", "keep",
     "standard-library code the workload did not read (it imports every module and submodule the image has): "
     "modules frozen into the 3.11 interpreter (codecs, os, site, importlib._bootstrap …: the .py only serves "
     "traceback source lines), code for other platforms (Windows, macOS) and tools"),
    ("/usr/lib/*/krb5/*", "keep", "Kerberos plugins (libkrb5, via libtirpc/libnsl)"),
    ("/usr/lib/valgrind/*", "not needed", "valgrind suppressions for python (no valgrind in the image)"),
    ("/usr/share/python3/*", "not needed", "Debian's python helper data (debpython, for py3compile in maintainer scripts)"),
    ("/usr/bin/py3c*", "not needed", "Debian's byte-compile helpers for maintainer scripts (python scripts: they would run)"),
    ("/usr/bin/pygettext*", "rarely", "gettext string extractor (python script)"),
    ("/usr/share/pixmaps/*", "not needed", "desktop icon"),
    ("/usr/share/readline/*", "keep", "readline's default inputrc (interactive python)"),
    ("/etc/*", "keep", "configuration (small)"),
    ("/usr/share/misc/*", "keep", "data read by other tools"),
    ("/usr/lib/os-release", "keep", "os-release"),
    ("/usr/bin/*", "unknown", "program not run by the workload"),
    ("/usr/sbin/*", "unknown", "program not run by the workload"),
    ("/usr/share/*", "unknown", "data not read by the workload"),
]


def note_for(path):
    for pat, verdict, text in NOTES:
        if fnmatch.fnmatchcase(path, pat):
            return verdict, text
    return "unknown", ""


# --------------------------------------------------------------------------


def main():
    args = sys.argv[1:]
    skip, opts = [], {"--chain": "", "--recommend": ""}
    while "--skip" in args:
        i = args.index("--skip")
        skip.append(args[i + 1])
        del args[i:i + 2]
    opts["--skip-list"] = ""
    for k in opts:
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    if opts["--skip-list"]:
        skip += [l.rstrip("\n") for l in open(opts["--skip-list"]) if l.strip()]
    skip_set = set(skip)

    def skipped(p):
        while p:
            if p in skip_set:
                return True
            p = p.rsplit("/", 1)[0]
        return False
    chain = [c for c in opts["--chain"].split(",") if c]
    rootfs, log, build_json, out_dir = args
    root = Root(rootfs)
    os.makedirs(out_dir, exist_ok=True)

    # Inventory: every regular file, each inode once (first path in sorted order).
    files, inode_of = {}, {}
    seen_inodes = {}
    links = []
    for dirpath, dirnames, filenames in os.walk(root.root):
        dirnames.sort()
        rel = dirpath[len(root.root):] or "/"
        if skipped(rel):
            dirnames[:] = []
            continue
        for fn in sorted(filenames):
            p = (rel.rstrip("/") + "/" + fn)
            if skipped(p):
                continue
            st = os.lstat(root.host(p))
            if stat.S_ISLNK(st.st_mode):
                links.append(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            inode_of[p] = key
            if key in seen_inodes:
                continue
            seen_inodes[key] = p
            files[p] = st.st_size
    image_bytes = sum(files.values())

    def canon(p):
        """The inventory path for a regular file (first path of its inode)."""
        k = inode_of.get(p)
        return seen_inodes.get(k) if k else None

    # Package owners from status.d/*.md5sums.
    owner = {}
    sd = "/var/lib/dpkg/status.d"
    have_md5 = False
    if os.path.isdir(root.host(sd)):
        for fn in sorted(os.listdir(root.host(sd))):
            if not fn.endswith(".md5sums"):
                continue
            have_md5 = True
            pkg = fn[: -len(".md5sums")]
            with open(root.host(f"{sd}/{fn}"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if "  " not in line:
                        continue
                    rp = root.resolve("/" + line.rstrip("\n").split("  ", 1)[1])
                    c = canon(rp) if rp else None
                    if c:
                        owner.setdefault(c, pkg)
            owner.setdefault(canon(f"{sd}/{pkg}") or "", pkg)
            owner.setdefault(canon(f"{sd}/{fn}") or "", pkg)

    def owner_of(p):
        if p in owner:
            return owner[p]
        if p in GENERATED:
            return "(generated by distill)"
        if p in CONFFILES:
            return CONFFILES[p] + " (conffile)"
        if not have_md5:
            for prefix, pkg in (("/usr/share/zoneinfo", "tzdata"), ("/usr/share/nodejs", "nodejs"),
                                ("/usr/lib/x86_64-linux-gnu/gconv", "libc6")):
                if p.startswith(prefix):
                    return pkg
        if p.startswith(sd + "/"):
            return "(generated: status.d)"
        return "(generated by distill)"

    # Floor, by reason (first reason wins in the order below).
    reasons = {}

    def add(p, why):
        c = canon(p) if p else None
        if c and c not in reasons:
            reasons[c] = why

    obs, execs, stats = defaultdict(set), set(), defaultdict(int)
    for one in log.split(","):
        o1, e1, s1 = observed_files(root, one)
        for k, v in o1.items():
            obs[k] |= v
        execs |= e1
        for k, v in s1.items():
            stats[k] += v
    stats = dict(stats)
    for p in sorted(obs):
        add(p, "workload")
    workload_set = {canon(p) for p in obs if canon(p)}
    for p in ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/os-release",
              "/etc/ssl/certs/ca-certificates.crt"]:
        add(root.resolve(p), "check")
    if os.path.isdir(root.host(sd)):
        for fn in sorted(os.listdir(root.host(sd))):
            add(f"{sd}/{fn}", "check")
    docs = root.host("/usr/share/doc")
    if os.path.isdir(docs):
        for d in sorted(os.listdir(docs)):
            add(root.resolve(f"/usr/share/doc/{d}/copyright"), "check")
    elf_start = sorted(p for p in workload_set if is_elf(root, p))
    closure, missing = elf_closure(root, elf_start)
    for p in sorted(closure):
        add(p, "elf-closure")
    for p in sorted(files):
        if p.startswith("/usr/share/zoneinfo/") and not p.startswith(("/usr/share/zoneinfo/right/",
                                                                         "/usr/share/zoneinfo/posix/")):
            add(p, "zoneinfo")

    by_reason = defaultdict(lambda: [0, 0])
    for p, why in reasons.items():
        by_reason[why][0] += 1
        by_reason[why][1] += files[p]
    floor_bytes = sum(files[p] for p in reasons)
    excess = {p: s for p, s in files.items() if p not in reasons}
    excess_bytes = sum(excess.values())

    # Group the excess by package.
    pkg_tot = defaultdict(lambda: [0, 0])
    for p, s in excess.items():
        pkg_tot[owner_of(p)][0] += 1
        pkg_tot[owner_of(p)][1] += s

    # Group the excess by directory: the highest directory whose whole subtree
    # is outside the floor (shown with a trailing "/**"), else the file's
    # own directory (only the excess files of it).
    floor_dirs = set()
    for p in reasons:
        d = os.path.dirname(p)
        while True:
            floor_dirs.add(d)
            if d == "/":
                break
            d = os.path.dirname(d)
    groups = defaultdict(lambda: [0, 0, [], False])
    for p, s in excess.items():
        d = os.path.dirname(p)
        top = None
        while d != "/" and d not in floor_dirs:
            top = d
            d = os.path.dirname(d)
        key = (top + "/**") if top else (os.path.dirname(p) + "/*")
        g = groups[key]
        g[0] += 1
        g[1] += s
        g[2].append((s, p))
        g[3] = bool(top)
    group_rows = []
    for key, (n, s, members, whole) in groups.items():
        members.sort(reverse=True)
        pkgs = defaultdict(int)
        for sz, p in members:
            pkgs[owner_of(p)] += sz
        pk = ", ".join(k for k, _ in sorted(pkgs.items(), key=lambda kv: -kv[1]))
        verdicts = defaultdict(int)
        for sz, p in members:
            verdicts[note_for(p)] += sz
        (verdict, text), _ = max(verdicts.items(), key=lambda kv: kv[1])
        # A whole subtree: the note of the directory itself, unless only a
        # catch-all pattern matches it.
        if whole and note_for(key[:-2] + "/")[0] != "unknown":
            verdict, text = note_for(key[:-2] + "/")
        group_rows.append({"dir": key, "files": n, "bytes": s, "packages": pk, "whole": whole,
                           "largest": [p for _, p in members[:3]], "verdict": verdict, "note": text})
    group_rows.sort(key=lambda r: -r["bytes"])

    # Files written out.
    with open(os.path.join(out_dir, "floor.txt"), "w") as f:
        for p in sorted(reasons):
            f.write(f"{files[p]}\t{reasons[p]}\t{owner_of(p)}\t{p}\n")
    with open(os.path.join(out_dir, "excess.txt"), "w") as f:
        for p, s in sorted(excess.items(), key=lambda kv: (-kv[1], kv[0])):
            v, _ = note_for(p)
            f.write(f"{s}\t{owner_of(p)}\t{v}\t{p}\n")
    with open(os.path.join(out_dir, "groups.tsv"), "w") as f:
        for r in group_rows:
            f.write(f"{r['bytes']}\t{r['files']}\t{r['dir']}\t{r['packages']}\t{r['verdict']}\n")

    # Candidate excludes: what each saves on its own, then cumulatively by tier;
    # a glob that would drop a floor file or a library some ELF file needs is
    # reported as such.
    recs = []
    if opts["--recommend"]:
        for line in open(opts["--recommend"], encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            spec, tier, glob, why = line.rstrip("\n").split("\t")
            if spec in chain:
                recs.append({"spec": spec, "tier": tier, "glob": glob, "why": why})
    keep = matcher(["/usr/share/doc/*/copyright"])
    needs = elf_needs(root, files) if recs else {}

    def effect(globs):
        ex = matcher(globs)
        gone = {p for p in files if dropped(p, ex, keep)}
        broken = []
        for elf, reqs in needs.items():
            if elf in gone:
                continue
            for n, cands in reqs:
                if cands and all(c in gone for c in cands):
                    broken.append(f"{elf} needs {n}")
        return gone, sorted(p for p in gone if p in reasons), broken

    for r in recs:
        gone, hit, broken = effect([r["glob"]])
        r.update(files=len(gone), bytes=sum(files[p] for p in gone), floor_hits=hit, elf_broken=broken)
    tiers = []
    names = sorted({r["tier"] for r in recs})
    for old in os.listdir(out_dir):
        if old.startswith("drop-") and old.endswith(".lst"):
            os.remove(os.path.join(out_dir, old))
    for t in names:
        globs = [r["glob"] for r in recs if r["tier"] <= t]
        gone, hit, broken = effect(globs)
        # Every path the globs leave out: the files (all their hard links) and
        # the symlinks, for the script's re-run of the workload without them.
        ex = matcher(globs)
        label = names[0] if t == names[0] else f"{names[0]}-{t}"
        with open(os.path.join(out_dir, f"drop-{label}.lst"), "w") as f:
            for p in sorted(inode_of):
                if dropped(p, ex, keep):
                    f.write(p + "\n")
            for p in sorted(links):
                if dropped(p, ex, keep):
                    f.write(p + "\n")
        after = image_bytes - sum(files[p] for p in gone)
        tiers.append({"tiers": t, "globs": len(globs), "bytes": sum(files[p] for p in gone), "image_after": after,
                      "ratio_after": after / floor_bytes, "floor_hits": hit, "elf_broken": broken})

    build = json.load(open(build_json))
    arch = build["architectures"][0]
    summary = {
        "image_bytes": image_bytes, "image_files": len(files), "floor_bytes": floor_bytes,
        "floor_files": len(reasons), "excess_bytes": excess_bytes, "excess_files": len(excess),
        "ratio": image_bytes / floor_bytes, "layer_tar_bytes": arch.get("uncompressed_size"),
        "compressed_bytes": arch.get("compressed_size"), "packages": arch.get("packages"),
        "by_reason": {k: {"files": v[0], "bytes": v[1]} for k, v in by_reason.items()},
        "strace": stats, "executed": sorted(execs), "elf_missing": sorted(missing),
        "workload_files": len(workload_set), "workload_bytes": sum(files[p] for p in workload_set),
        "by_package": {k: {"files": v[0], "bytes": v[1]} for k, v in pkg_tot.items()},
        "groups": group_rows, "recommendations": recs, "tiers": tiers,
    }
    json.dump(summary, open(os.path.join(out_dir, "summary.json"), "w"), indent=1, sort_keys=True)

    # Markdown.
    o = []
    w = o.append
    ratio = image_bytes / floor_bytes
    w("| | files | MB |")
    w("|---|---:|---:|")
    w(f"| image: regular files of the rootfs (each inode once) | {len(files)} | {mb(image_bytes)} |")
    if arch.get("uncompressed_size"):
        w(f"| image: layer tars (`--json` `uncompressed_size`, with tar headers and padding) | – | "
          f"{mb(arch['uncompressed_size'])} |")
    w(f"| **floor** | {len(reasons)} | **{mb(floor_bytes)}** |")
    labels = {"workload": "… read, mapped, executed or stat'ed by the workload",
              "check": "… needed by the image checks (passwd, group, nsswitch.conf, os-release, status.d, copyrights, CA bundle), not read by the workload",
              "elf-closure": "… ELF closure (interpreter + DT_NEEDED) not already read",
              "zoneinfo": "… the rest of /usr/share/zoneinfo (every zone, without right/ and posix/)"}
    for k in ("workload", "check", "elf-closure", "zoneinfo"):
        if k in by_reason:
            w(f"| {labels[k]} | {by_reason[k][0]} | {mb(by_reason[k][1])} |")
    w(f"| **difference** (image − floor) | {len(excess)} | **{mb(excess_bytes)}** |")
    w("")
    big = sorted(reasons, key=lambda p: -files[p])[:8]
    w("Largest floor files: " + ", ".join(f"{os.path.basename(p)} {mb(files[p])}" for p in big) +
      f" MB; together {mb(sum(files[p] for p in big))} MB.")
    w("")
    limit = floor_bytes * 1.02
    verdict = (f"within the goal by {mb(limit - image_bytes)} MB" if image_bytes <= limit
               else f"{mb(image_bytes - limit)} MB to remove")
    w(f"**image / floor = {ratio:.4f}: {100 * (ratio - 1):.2f} % above the floor** "
      f"(goal ≤ 2 %: image ≤ {mb(limit)} MB; {verdict}).")
    w("")
    w("Difference by package (files outside the floor, `status.d/<pkg>.md5sums`):")
    w("")
    w("| package | files | MB |")
    w("|---|---:|---:|")
    for k, (n, s) in sorted(pkg_tot.items(), key=lambda kv: -kv[1][1]):
        if s < 1000 and n < 5:
            continue
        w(f"| {k} | {n} | {mb(s, 3)} |")
    small = [(k, v) for k, v in pkg_tot.items() if v[1] < 1000 and v[0] < 5]
    if small:
        w(f"| {len(small)} more below 1 kB ({', '.join(sorted(k for k, _ in small))}) | {sum(v[0] for _, v in small)} | "
          f"{mb(sum(v[1] for _, v in small), 3)} |")
    w("")
    w("Difference by directory, top 25 (`/**`: the whole subtree is outside the floor; `/*`: the "
      "directory also holds floor files, only the others are counted):")
    w("")
    w("| # | directory | files | MB | package | largest | needed elsewhere? |")
    w("|---:|---|---:|---:|---|---|---|")
    for i, r in enumerate(group_rows[:25], 1):
        largest = "" if r["whole"] and r["files"] > 3 else ", ".join(os.path.basename(p) for p in r["largest"])
        w(f"| {i} | `{r['dir']}` | {r['files']} | {mb(r['bytes'], 3)} | {r['packages']} | {largest} | "
          f"{r['verdict']}: {r['note']} |")
    rest = group_rows[25:]
    if rest:
        w(f"| | {len(rest)} more directories | {sum(r['files'] for r in rest)} | "
          f"{mb(sum(r['bytes'] for r in rest), 3)} | | | |")
    if recs:
        w("")
        w("Candidate `paths: exclude:` globs, each measured on its own against this rootfs (a path goes when it or a "
          "parent matches; `/usr/share/doc/*/copyright` stays), then cumulatively; tier A changes no runtime "
          "behaviour of the family, tier B removes something a rare use needs:")
        w("")
        w("| tier | spec | glob | files | MB saved | floor files hit | ELF needs broken | what goes |")
        w("|---|---|---|---:|---:|---:|---:|---|")
        for r in recs:
            w(f"| {r['tier']} | {r['spec']}.yaml | `{r['glob']}` | {r['files']} | {mb(r['bytes'], 3)} | "
              f"{len(r['floor_hits'])} | {len(r['elf_broken'])} | {r['why']} |")
        w("")
        for t in tiers:
            w(f"- tier{'s A–' if t['tiers'] != 'A' else ' '}{t['tiers']} together ({t['globs']} globs): "
              f"−{mb(t['bytes'])} MB → image {mb(t['image_after'])} MB, "
              f"{100 * (t['ratio_after'] - 1):.1f} % above the floor "
              f"({'within' if t['ratio_after'] <= 1.02 else 'NOT within'} 2 %); floor files hit: "
              f"{len(t['floor_hits'])}, ELF needs broken: {len(t['elf_broken'])}.")
        for r in recs:
            for x in r["floor_hits"][:5]:
                w(f"  - `{r['glob']}` would drop floor file `{x}`")
            for x in r["elf_broken"][:5]:
                w(f"  - `{r['glob']}`: {x}")
    print("\n".join(o))


if __name__ == "__main__":
    main()
