"""size-floor workload for a Python image (run by bench/size-floor.sh inside
the unpacked image with chroot, under strace). Exercises what a typical
service does; every step prints one line, a failed step prints FAIL and makes
the exit code 1. Workload files live in /tmp/size-floor (W)."""
import os
import sys
import traceback

W = os.path.dirname(os.path.abspath(__file__))
failures = 0
STEPS = []
# Modules that do something on import (open a browser, print, need a display).
SIDE_EFFECTS = {"antigravity", "this", "__hello__", "__phello__", "idlelib", "turtledemo", "turtle", "tkinter"}


def step(fn):
    STEPS.append(fn)
    return fn


def run_steps():
    global failures
    for fn in STEPS:
        try:
            out = fn()
            print(f"ok   {fn.__name__}: {' '.join(str(out).split())[:150]}", flush=True)
        except Exception:
            failures += 1
            print(f"FAIL {fn.__name__}: {traceback.format_exc()}", flush=True)


@step
def stdlib():
    import importlib
    import pkgutil
    ok, subs, missing = 0, 0, []
    for m in sorted(sys.stdlib_module_names - SIDE_EFFECTS):
        try:
            mod = importlib.import_module(m)
            ok += 1
        except ImportError as e:
            missing.append(m)
            continue
        # Submodules of packages too (xml.dom.minidom, logging.handlers …), but not
        # CPython's own test suites nor __main__ modules (they run on import).
        if m == "test" or not hasattr(mod, "__path__"):
            continue
        for mi in pkgutil.walk_packages(mod.__path__, m + ".", onerror=lambda n: None):
            last = mi.name.rsplit(".", 1)[-1]
            if last in ("__main__", "test", "tests") or ".test." in mi.name or ".tests." in mi.name:
                continue
            try:
                importlib.import_module(mi.name)
                subs += 1
            except Exception:
                pass
    import encodings
    codecs_ok = 0
    for mi in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module("encodings." + mi.name)
            codecs_ok += 1
        except ImportError:
            pass
    return f"{ok} stdlib modules and {subs} submodules imported, {codecs_ok} codecs; not in the image: {', '.join(missing)}"


@step
def text():
    import codecs, locale, unicodedata, re
    s = "Grüße, 東京, Ελλάδα"
    enc = [len(s.encode(e, "replace")) for e in ("utf-8", "utf-16", "cp1252", "shift_jis", "gb18030", "koi8-r", "iso8859-7")]
    locale.setlocale(locale.LC_ALL, "")
    words = re.findall(r"\w+", s)
    return (f"{enc} {unicodedata.name('ß')} {unicodedata.normalize('NFKC', 'ﬁ')} {words} "
            f"locale={locale.getlocale()} fs={sys.getfilesystemencoding()} pref={locale.getpreferredencoding()}")


@step
def zones():
    import time, datetime, zoneinfo
    out = []
    for tz in ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "America/Argentina/Buenos_Aires"):
        out.append(datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo(tz)).strftime("%Z%z"))
    for tz in ("Asia/Kolkata", "Pacific/Chatham", "EST5EDT", "UTC"):
        os.environ["TZ"] = tz
        time.tzset()
        out.append(f"{tz}:{time.strftime('%Z', time.localtime(0))}")
    del os.environ["TZ"]
    time.tzset()
    out.append(f"{len(zoneinfo.available_timezones())} zones")
    return " ".join(out)


@step
def crypto():
    import hashlib, hmac, secrets, ssl
    h = [hashlib.sha256(b"x").hexdigest()[:8], hashlib.md5(b"x").hexdigest()[:8], hashlib.sha3_256(b"x").hexdigest()[:8],
         hashlib.blake2b(b"x").hexdigest()[:8], hashlib.scrypt(b"pw", salt=b"s", n=16, r=8, p=1)[:4].hex(),
         hashlib.pbkdf2_hmac("sha256", b"pw", b"s", 1000)[:4].hex(), hmac.new(b"k", b"x", "sha1").hexdigest()[:8],
         len(secrets.token_bytes(16))]
    ctx = ssl.create_default_context()
    return f"{h} {ssl.OPENSSL_VERSION}; {len(ctx.get_ca_certs())} CAs in the default context; {ssl.get_default_verify_paths().cafile}"


@step
def tls_loopback():
    import socket, ssl, threading
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(f"{W}/cert.pem", f"{W}/key.pem")
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve():
        c, _ = srv.accept()
        with sctx.wrap_socket(c, server_side=True) as s:
            s.sendall(b"hello over tls\n")
    t = threading.Thread(target=serve)
    t.start()
    cctx = ssl.create_default_context(cafile=f"{W}/cert.pem")
    with socket.create_connection(("127.0.0.1", port)) as raw, cctx.wrap_socket(raw, server_hostname="localhost") as s:
        data = s.recv(100)
        out = f"{s.version()} {s.cipher()[0]}: {data.decode().strip()}"
    t.join()
    srv.close()
    return out


@step
def compression():
    import zlib, bz2, lzma, gzip, zipfile, tarfile, io
    d = b"hello world " * 1000
    out = [len(zlib.compress(d)), len(bz2.compress(d)), len(lzma.compress(d)), len(gzip.compress(d))]
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", d)
    with tarfile.open(fileobj=io.BytesIO(), mode="w:xz") as t:
        pass
    return f"{out} zip {len(b.getvalue())}"


@step
def data():
    import sqlite3, json, decimal, csv, io, uuid, xml.etree.ElementTree as ET, email.message, mimetypes
    db = sqlite3.connect(":memory:")
    db.execute("create table t (a)")
    db.executemany("insert into t values (?)", [(i,) for i in range(10)])
    s = db.execute("select sum(a) from t").fetchone()[0]
    m = email.message.EmailMessage()
    m["Subject"] = "hi"
    return (f"sqlite {sqlite3.sqlite_version} sum={s} json={json.dumps({'a': 1})} "
            f"dec={decimal.Decimal(1) / 7:.5} uuid={uuid.uuid4().version} xml={ET.fromstring('<a><b/></a>')[0].tag} "
            f"mime={mimetypes.guess_type('x.webp')[0]},{mimetypes.guess_type('x.woff2')[0]}")


@step
def system():
    import pwd, grp, socket, platform, getpass, tempfile, shutil, ctypes, resource, sysconfig
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "f"), "w") as f:
        f.write("x")
    shutil.rmtree(d)
    libc = ctypes.CDLL("libc.so.6")
    return (f"user {getpass.getuser()} {pwd.getpwuid(0).pw_shell} group {grp.getgrgid(0).gr_name}; "
            f"localhost={sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80)})} "
            f"https={socket.getservbyname('https')} tcp={socket.getprotobyname('tcp')}; {platform.platform()}; "
            f"getpid via ctypes {libc.getpid() == os.getpid()}; nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; "
            f"{sysconfig.get_platform()}")


@step
def http_loopback():
    import http.server, threading, urllib.request, json

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_address[1]}/x") as r:
        out = r.read().decode()
    srv.shutdown()
    return out


@step
def concurrency():
    import asyncio, concurrent.futures, multiprocessing

    async def main():
        await asyncio.sleep(0)
        return sum(await asyncio.gather(*(asyncio.to_thread(pow, 2, i) for i in range(4))))
    a = asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        t = sum(ex.map(abs, [-1, -2]))
    with multiprocessing.get_context("spawn").Pool(2) as p:
        m = sum(p.map(abs, [-3, -4]))
    return f"asyncio {a} threads {t} multiprocessing(spawn) {m}"


@step
def subprocesses():
    import subprocess
    r = subprocess.run([sys.executable, "-c", "import time; print(time.strftime('%Z', time.localtime(0)))"],
                       env={**os.environ, "TZ": "America/Los_Angeles"}, capture_output=True, text=True, check=True)
    v = subprocess.run([sys.executable, "-m", "json.tool"], input='{"a": 1}', capture_output=True, text=True, check=True)
    return f"child TZ {r.stdout.strip()}; json.tool {' '.join(v.stdout.split())}"


# multiprocessing's spawn children import this file again: run only in the parent.
if __name__ == "__main__":
    run_steps()
    print("all steps passed" if not failures else f"{failures} step(s) failed")
    sys.exit(1 if failures else 0)
