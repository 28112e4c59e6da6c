#!/usr/bin/env bash
# Size floor: how far an image's uncompressed size is above the size of what
# it must contain -- the files a realistic workload of its runtime reads, plus
# what the image checks need.
#
#   bench/size-floor.sh [SPEC]        (default specs/nodejs.yaml; amd64)
#
# 1. `distill build SPEC --locked --arch amd64 --json` into
#    target/size-floor/NAME/oci, then `skopeo copy --override-arch amd64`
#    and `umoci unpack` to target/size-floor/NAME/bundle (rootfs/ inside).
# 2. Runs the workload of the image's entrypoint (bench/size-floor/<runtime>/:
#    `nodejs` for /usr/bin/node, `python3` for /usr/bin/python3) inside the
#    rootfs with chroot, under the host's
#    `strace -f -e trace=%file,execve,clone,clone3,fork,vfork` (the process
#    calls only let relative paths of child processes be resolved against the
#    right working directory), with the image config's environment and
#    /proc, /dev/{null,zero,random,urandom} and a /dev/shm tmpfs mounted as a
#    container runtime would (unmounted afterwards); a self-signed
#    certificate for the workload's loopback TLS test is made with openssl.
#    `RUNTIME --version` runs first, under its own strace. The workload must
#    pass (every step prints ok).
# 3. bench/size-floor/analyze.py computes the floor: every regular file of
#    the rootfs the traced processes opened, executed or stat'ed successfully
#    after chroot() (paths resolved inside the rootfs, symlinks followed as
#    the syscall does), plus /etc/passwd, /etc/group, /etc/nsswitch.conf,
#    /etc/os-release's target, /var/lib/dpkg/status.d/*,
#    /usr/share/doc/*/copyright, the CA bundle, the ELF closure
#    (interpreter + DT_NEEDED) of every ELF file the workload loaded, and all
#    of /usr/share/zoneinfo except right/ and posix/ (any TZ must work; the
#    workload reads a few zones). Bytes = st_size, each inode once; image
#    bytes likewise over every regular file (the layer tars add headers and
#    padding: `--json` uncompressed_size is shown beside it). Files the
#    workload itself created, and its own files, are left out.
# 4. Reports image / floor, the difference by package (status.d/*.md5sums)
#    and by directory (top 25, with a note on who else needs it), and
#    measures the candidate `paths: exclude:` globs of
#    bench/size-floor/recommend.tsv (those for specs in SPEC's `extends`
#    chain): MB each saves, floor files or ELF dependencies each would
#    remove, and the image / floor ratio after each tier.
# 5. Deletes what each tier's globs would leave out (cumulatively: A, then
#    A and B) from the unpacked rootfs and runs the workload again, untraced:
#    it must still pass (reported, not fatal).
#
# Writes target/size-floor/NAME/{report.md,floor.txt,excess.txt,groups.tsv,
# summary.json,drop-*.lst,strace*.log,workload*.out} and replaces the spec's
# subsection of "## Size floor" in BENCHMARKS.md. Needs root (chroot, mount), python3,
# skopeo, umoci, strace and openssl (the workloads' TLS certificate);
# missing ones are installed with apt-get. Takes about 25 s for nodejs with
# distill's caches warm.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$(date +%s.%N)
spec=${1:-specs/nodejs.yaml}
arch=amd64
name=$(basename "$spec" .yaml)
here=$PWD
out=$here/target/size-floor/$name
bin=$here/target/release/distill

[ "$(id -u)" = 0 ] || { echo "size-floor: needs root (chroot, mount)" >&2; exit 1; }
[ -f "$spec" ] || { echo "size-floor: no spec $spec" >&2; exit 1; }

missing=()
for c in skopeo umoci strace python3 openssl; do
  command -v "$c" >/dev/null || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "size-floor: installing ${missing[*]}" >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

t=$(date +%s.%N)
cargo_note="existing target/release/distill"
if [ ! -x "$bin" ]; then
  cargo build --release --quiet
  cargo_note="cargo build --release ($(elapsed "$t") s)"
fi
bin_info="$("$bin" --version 2>/dev/null || echo distill), binary of $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')"

# --- 1. build and unpack ----------------------------------------------------
mkdir -p "$out"
t=$(date +%s.%N)
"$bin" build "$spec" --locked --arch "$arch" -o "$out/oci" --json -q >"$out/build.json"
t_build=$(elapsed "$t")

t=$(date +%s.%N)
rm -rf "$out/img" "$out/bundle"
skopeo copy -q --override-arch "$arch" "oci:$out/oci:latest" "oci:$out/img:latest"
umoci unpack --image "$out/img:latest" "$out/bundle" >/dev/null
rm -rf "$out/img"
t_unpack=$(elapsed "$t")
rootfs=$out/bundle/rootfs

# Entrypoint and environment from the image config.
mapfile -t env_list < <(python3 -c 'import json,sys; [print(e) for e in json.load(open(sys.argv[1]))["process"]["env"]]' "$out/bundle/config.json")
entry=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["args"][0])' "$out/bundle/config.json")
case "$(basename "$entry")" in
  node*) runtime=nodejs; main=main.js ;;
  python3*) runtime=python3; main=main.py ;;
  *) echo "size-floor: no workload for entrypoint $entry (bench/size-floor/<runtime>/)" >&2; exit 1 ;;
esac

# The spec's extends chain, most general first (for recommend.tsv).
chain=$name
s=$spec
while p=$(sed -n 's/^extends:[[:space:]]*//p' "$s" | tr -d '"'"'" | head -1) && [ -n "$p" ]; do
  s=$(dirname "$s")/$p
  chain="$(basename "$s" .yaml),$chain"
done

# --- 2. workload under strace ---------------------------------------------
work=/tmp/size-floor
mounted=()
made=()
# Put the workload into the rootfs and mount what a container runtime would.
setup() {
  mkdir -p "$rootfs$work"
  cp -r "bench/size-floor/$runtime/." "$rootfs$work/"
  # Both workloads talk TLS to themselves with this certificate.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$rootfs$work/key.pem" -out "$rootfs$work/cert.pem" 2>/dev/null
  mount -t proc proc "$rootfs/proc" && mounted+=("$rootfs/proc")
  local d
  for d in null zero random urandom; do
    if [ ! -e "$rootfs/dev/$d" ]; then touch "$rootfs/dev/$d" && made+=("$rootfs/dev/$d"); fi
    mount --bind "/dev/$d" "$rootfs/dev/$d" && mounted+=("$rootfs/dev/$d")
  done
  # POSIX semaphores (Python's multiprocessing) live in /dev/shm.
  if [ ! -e "$rootfs/dev/shm" ]; then mkdir "$rootfs/dev/shm" && made+=("$rootfs/dev/shm"); fi
  mount -t tmpfs -o size=64m shm "$rootfs/dev/shm" && mounted+=("$rootfs/dev/shm")
}
cleanup() {
  local i f
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
  for f in "${made[@]}"; do if [ -d "$f" ]; then rmdir "$f"; else rm -f "$f"; fi; done
  made=()
  rm -rf "${rootfs:?}$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
# run_workload OUTPUT [strace args...]: the main workload; exit status of it.
run_workload() {
  local log=$1
  shift
  "$@" env -i "${env_list[@]}" chroot "$rootfs" "$entry" "$work/$main" >>"$log" 2>&1
}

(cd "$rootfs" && find . -xdev -printf '%p\n' | sort) >"$out/before.lst"
setup
trace=(strace -f -qq -e trace=%file,execve,clone,clone3,fork,vfork)
t=$(date +%s.%N)
"${trace[@]}" -o "$out/strace.version.log" env -i "${env_list[@]}" chroot "$rootfs" "$entry" --version >"$out/workload.out" 2>&1
version=$(head -1 "$out/workload.out")
rc=0
run_workload "$out/workload.out" "${trace[@]}" -o "$out/strace.workload.log" || rc=$?
t_work=$(elapsed "$t")
cleanup
(cd "$rootfs" && find . -xdev -printf '%p\n' | sort) >"$out/after.lst"
comm -13 "$out/before.lst" "$out/after.lst" | sed 's|^\.||' >"$out/created.lst"
grep -E '^(ok|FAIL|all steps|[0-9]+ step)' "$out/workload.out" | cut -c1-160
if [ $rc -ne 0 ]; then
  echo "size-floor: the workload failed (exit $rc); see $out/workload.out" >&2
  exit 1
fi

# --- 3./4. analysis -----------------------------------------------------------
t=$(date +%s.%N)
python3 bench/size-floor/analyze.py "$rootfs" "$out/strace.version.log,$out/strace.workload.log" \
  "$out/build.json" "$out" --skip "$work" --skip /proc --skip /dev --skip-list "$out/created.lst" \
  --chain "$chain" --recommend bench/size-floor/recommend.tsv >"$out/report.md"
t_analyze=$(elapsed "$t")

# --- 5. the workload again without what each tier of excludes removes ------
# analyze.py wrote drop-<tier>.lst (cumulative: tier A, then A and B): the
# files and symlinks those globs would leave out. They are deleted from the
# unpacked rootfs (a scratch copy) and the workload must still pass.
t=$(date +%s.%N)
verify=()
for lst in $(ls "$out"/drop-*.lst 2>/dev/null | awk '{ print length($0), $0 }' | sort -n | cut -d' ' -f2-); do
  tier=$(basename "$lst" .lst)
  tier=${tier#drop-}
  n=0
  while IFS= read -r p; do
    rm -f "$rootfs$p" && n=$((n + 1))
  done <"$lst"
  setup
  : >"$out/workload-without-$tier.out"
  if run_workload "$out/workload-without-$tier.out"; then res=passed; else res=FAILED; fi
  cleanup
  fails=$(grep -c '^FAIL' "$out/workload-without-$tier.out" || true)
  [ "$fails" = 0 ] && fails= || fails=" ($fails step(s) failed: $(grep '^FAIL' "$out/workload-without-$tier.out" | cut -d: -f1 | sed 's/^FAIL *//' | paste -sd, -))"
  verify+=("tier ${tier/-/–} globs applied ($n paths deleted from the unpacked rootfs): workload $res$fails")
  echo "size-floor: without tier $tier: $res"
done
t_verify=$(elapsed "$t")
if [ ${#verify[@]} -gt 0 ]; then
  {
    echo
    echo "The workload run again (untraced) on the unpacked image with those files removed, as the globs would build it:"
    echo
    for v in "${verify[@]}"; do echo "- $v."; done
  } >>"$out/report.md"
fi
t_total=$(elapsed "$t_start")
steps=$(grep -c '^ok' "$out/workload.out" || true)

cat "$out/report.md"
echo
echo "size-floor: $name: build ${t_build} s, unpack ${t_unpack} s, workload ${t_work} s, analysis ${t_analyze} s, re-runs ${t_verify} s; total ${t_total} s"

# --- BENCHMARKS.md ----------------------------------------------------------
python3 - "$name" "$out/report.md" "$version" "$steps" "$t_build" "$t_unpack" "$t_work" "$t_analyze" \
  "$t_verify" "$t_total" "$bin_info; $cargo_note" "$(nproc)" "$chain" "$runtime" <<'EOF'
import re, sys, datetime
name, report, version, steps, tb, tu, tw, ta, tv, tt, binfo, ncpu, chain, runtime = sys.argv[1:]
intro = """## Size floor (`bench/size-floor.sh`)

Issue: report each image's uncompressed size against the size of what it
must contain, and say which files make the difference (goal: within 2 %).
The **floor** is every regular file a realistic workload of the image's
runtime opens, maps, executes or stats inside the image (chroot, traced
with the host's strace; symlinks resolved inside the image), plus what the
image checks need (passwd, group, nsswitch.conf, os-release, status.d,
copyright files, the CA bundle), plus the ELF closure of what ran, plus all
of /usr/share/zoneinfo but `right/` and `posix/` (every TZ must keep
working). Sizes are file sizes, each inode once; MB = 10^6 bytes. The
workloads are in `bench/size-floor/<runtime>/`; the analysis, the notes on
each directory and the candidate excludes in `bench/size-floor/`
(`analyze.py`, `recommend.tsv`). Every file of the floor and of the
difference, with its package: `target/size-floor/NAME/{floor,excess}.txt`.

The candidate excludes are measured, not applied (specs/ is unchanged).
To apply one: `paths` is inherited as a whole and `paths.exclude` replaces
the default list, so the spec that sets it must repeat
`/usr/share/{doc,man,info,locale,lintian}` and every glob of the specs it
extends (nodejs.yaml: the defaults + static's + cc's + its own); a spec
between them that sets no `paths` passes its parent's on.
"""
workloads = {
    "nodejs": "`node --version`, then `main.js`: `require` of all builtin modules; Intl (DateTimeFormat fr-FR/Europe/Paris, "
              "toLocaleString in 10 locales, Collator, Segmenter ja/th/grapheme, PluralRules, RelativeTimeFormat, ListFormat, "
              "DisplayNames, supportedValuesOf); TZ set to 11 zones in-process and one in a child; crypto (hashes, HMAC, "
              "randomBytes/UUID, scrypt, pbkdf2, AES-GCM, EC/RSA/Ed25519 keys and signatures); tls.rootCertificates, "
              "tls.createSecureContext() and new tls.SecureContext() on the system store (SSL_CERT_FILE); a TLS 1.3 "
              "loopback connection to a node TLS server with a self-signed certificate trusted through "
              "NODE_EXTRA_CA_CERTS; zlib gzip/deflate/brotli; fs in os.tmpdir(); assert's acorn-parsed message; "
              "os.userInfo/cpus/networkInterfaces; dns.lookup('localhost'), lookupService, Resolver; an HTTP server "
              "queried with fetch() and http.get, Response.formData() on a multipart body; a worker thread; child "
              "processes of process.execPath: an ES module importing CommonJS, `--openssl-legacy-provider` MD4, "
              "`-p` with TZ, and the REPL with top-level await.",
    "python3": "`python3 --version`, then `main.py`: import of every module of sys.stdlib_module_names the image has "
               "(but antigravity, this, turtle …) and of every codec in encodings; text encodings, unicodedata, locale; "
               "zoneinfo.ZoneInfo for 5 zones, TZ + time.tzset() for 4, available_timezones(); hashlib/hmac/secrets/scrypt/"
               "pbkdf2, ssl.create_default_context() on the system store; a TLS loopback connection with a self-signed "
               "certificate; zlib/bz2/lzma/gzip/zip/tar.xz; sqlite3, json, decimal, uuid, xml, email, mimetypes; pwd/grp, "
               "getaddrinfo('localhost'), getservbyname, platform, ctypes.CDLL('libc.so.6'), resource, sysconfig; an "
               "http.server queried with urllib; asyncio, threads, a multiprocessing spawn pool; child interpreters "
               "(TZ, `-m json.tool`). CPython writes __pycache__/*.pyc beside the standard library as it imports (the "
               "image ships none: py3compile runs from a maintainer script); those, like every file the workload "
               "created, are left out of both sums.",
}
estimate = {"nodejs": 104}.get(name)
note = ""
if estimate:
    import json
    fl = json.load(open(report.replace("report.md", "summary.json")))["floor_bytes"] / 1e6
    note = (f"\n\nThe issue put this floor at about {estimate} MB; measured file by file it is {fl:.1f} MB "
            f"({estimate - fl:.1f} MB less): the difference is what the packages of the runtime carry beyond what "
            f"it reads (the tables below).")
sub = f"""### {name} (amd64)

Workload ({steps} steps, all passed; {version}): {workloads.get(runtime, '')}{note}

{open(report).read().rstrip()}

Spec chain: {chain.replace(',', ' → ')}. Script runtime {tt} s (build {tb} s, skopeo + umoci {tu} s,
traced workload {tw} s, analysis {ta} s, untraced re-runs {tv} s) on {ncpu} cores,
{datetime.date.today().isoformat()}; {binfo}.
"""
path = "BENCHMARKS.md"
text = open(path, encoding="utf-8").read()
m = re.search(r"^## Size floor.*?(?=^## |\Z)", text, flags=re.S | re.M)
subs = {}
order = []
if m:
    body = m.group(0)
    for sm in re.finditer(r"^### (\S+) .*?(?=^### |\Z)", body, flags=re.S | re.M):
        subs[sm.group(1)] = sm.group(0).rstrip() + "\n"
        order.append(sm.group(1))
if name not in order:
    order.append(name)
subs[name] = sub
section = intro + "\n" + "\n".join(subs[n] for n in order)
if m:
    rest = text[m.end():]
    text = text[:m.start()] + section + ("\n" + rest if rest else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w", encoding="utf-8").write(text)
print(f"size-floor: wrote the {name} subsection of BENCHMARKS.md's Size floor section", file=sys.stderr)
EOF
