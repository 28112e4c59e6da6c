#!/usr/bin/env bash
# Build speed and memory: distill building specs/nodejs.yaml (amd64) from its
# lock, side by side with `mmdebstrap --variant=extract` of the same package
# set, plus the whole family. Prints a Markdown summary (targets with
# PASS/MISS, ratios, machine details) and writes it into BENCHMARKS.md as the
# section "Build speed and memory" (replaced on rerun; the other sections are
# kept). Scratch space, logs and raw results: target/bench/.
#
# What is measured (wall time: hyperfine; memory: GNU time %M, max RSS):
#   a. cold: empty distill cache, every .deb fetched from the mirror, vs
#      mmdebstrap (its apt state always starts empty: it downloads the
#      indices and the .debs). Target: distill <= 0.5 x mmdebstrap.
#   b. warm: distill's package cache as the first build leaves it (the
#      verified .debs and, when this distill keeps unpacked/, each package's
#      members decompressed once: unpacked/ records and the blobs they
#      name), its layer/build cache empty; vs mmdebstrap with the .debs
#      already in the chroot's /var/cache/apt/archives (a setup hook copies
#      them in, as size-table.sh does; apt still downloads the indices:
#      mmdebstrap keeps no state between runs). Target: distill < 1.5 s.
#   c. no-op: the same build again, everything cached, same output
#      directory. Target: < 0.3 s.
#   d. family: every specs/*.yaml, warm as in (b), built one after another
#      into one cache (what a CI job building the family does). Target:
#      < 20 s in total.
#   b'. for information (no target): warm from the .debs alone (unpacked/
#      dropped as well, layers/ and builds/ empty): what (b) costs when
#      every package is decompressed again.
#   e. peak RSS of every distill build of (a)-(d), the largest reported.
#      Target: < 300 MB each (MB = 10^6 bytes; %M is KiB).
#   Context: the nodejs image's size (amd64: uncompressed = gzip -dc of the
#   layers, compressed = layer blobs) next to mmdebstrap's tar.
#
# How, and why:
#   * distill: `distill build SPEC --locked --arch amd64 -q -o OUT
#     --cache-dir CACHE`, the binary of `cargo build --release` copied to
#     target/bench/bin (another cargo build during the run cannot swap it).
#     --locked: the lock is the package set mmdebstrap gets, and no index is
#     read. Flags are detected from `distill build --help`: without --arch
#     the spec's every architecture (amd64 + arm64) is built and the table
#     says so; cache subdirectories are not assumed (see next point).
#   * warm cache = a pristine copy holding only the lock files' .debs
#     (packages: and debug: sha256 of every specs/*.lock, for the built
#     architectures) and named/, made
#     from target/bench/seed-cache (filled from the user's distill cache when
#     it has the blob -- copied, hash-checked -- else by distill builds
#     into it). --prepare restores it with `cp -al` (hard links: instant, no
#     writeback competing with the timed run; distill writes blobs by
#     rename, never in place, and the pristine copy is hash-checked again
#     at the end). Whatever else a build adds (layers/, unpacked/, builds/,
#     layer blobs ...) is gone after the restore.
#   * hyperfine runs every command through bash (-S bash; its spawn time is
#     subtracted) with --prepare per command. hyperfine does all runs of one
#     command before the next, so each case is a loop of single-run
#     hyperfine invocations over both commands: distill and mmdebstrap
#     alternate and share the network's mood. RUNS (default 3) runs each;
#     warm and no-op cases get one warmup run (page cache), cold ones none.
#     The family runs once, and RUNS more times when that is cheap
#     (RUNS x first run <= FAMILY_BUDGET seconds, default 120).
#   * every timed command runs under `/usr/bin/time -f %M` (KiB; a few ms
#     at most) appending to target/bench/results/mem-CASE.txt; for
#     mmdebstrap %M is its largest single process, not the sum of the tree.
#   * mmdebstrap: root mode, --variant=extract, --architectures=amd64,
#     --include = the exact name=version list of specs/nodejs.lock
#     packages.amd64, the spec's suites/components/keys, output a .tar.
#     The spec excludes packages (debconf, perl-base ...) that apt would
#     pull back in: as in size-table.sh a setup hook writes an "install ok
#     installed" placeholder stanza per excluded name into the chroot's
#     dpkg status and an extract hook empties it again; the extract hook
#     also lists the .debs, checked against the lock afterwards. Path
#     filters: distill's defaults (--dpkgopt path-exclude/-include, applied
#     by mmtarfilter); a spec's own `paths:` are not translated, so distill
#     may write less (the report gives both sizes). distill does more work
#     otherwise: it gzips its layers and writes four tags (debug adds
#     busybox).
#   * mirror: the base URLs distill itself reports (`distill resolve -v`:
#     "verifying <URL>/dists/<suite>/InRelease", offline from the default
#     distill cache, online if that is cold), found the way distill finds
#     them (spec url:, DISTILL_MIRROR, the host's apt sources). No mirror is
#     named here, and none is written to BENCHMARKS.md.
#   * the index digest printed by every build is kept: cold, warm and no-op
#     must agree (reported under the table).
#   * a last warm build with -v, its stderr lines timestamped, shows where
#     the warm build's time goes (target/bench/logs/warm-verbose.log).
#
# Before measuring, the script waits (WAIT_QUIET seconds at most, default
# 300) for the CPU to be idle, and the report says how much CPU other
# processes took while it measured (/proc/stat busy time minus its own
# process tree's, from bash's `times`) and flags a busy machine (> 10 %).
#
# Needs root (mmdebstrap root mode). Installs hyperfine, mmdebstrap, jq,
# python3-yaml and GNU time with apt-get when missing. Environment: RUNS,
# FAMILY_BUDGET, WAIT_QUIET, DISTILL_BIN (use this binary instead of cargo build),
# SPECS_REF (take specs/ and keys/ from this git ref, e.g. HEAD, instead of
# the working tree: a spec being edited makes its lock stale).
# Idempotent: everything it writes is under target/bench/ and the section of
# BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$SECONDS
RUNS=${RUNS:-3}
FAMILY_BUDGET=${FAMILY_BUDGET:-120}

[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (mmdebstrap root mode)" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ "${#need[@]}" -gt 0 ]; then
  echo "build.sh: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

B=$root/target/bench
bindir=$B/bin logs=$B/logs res=$B/results mm=$B/mmdebstrap
seed=$B/seed-cache pristine=$B/pristine-cache
cache=$B/cache out=$B/out/nodejs
famcache=$B/family-cache famout=$B/out/family
rm -rf "$logs" "$res" "$mm" "$cache" "$famcache" "$B/out"
mkdir -p "$bindir" "$logs" "$res" "$mm" "$seed/blobs/sha256" "$B/out"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v c="$(nproc)" '{ if ($1 > c / 2) printf "build.sh: warning: load average %s on %d cores: other work will slow the benchmark\n", $1, c }' /proc/loadavg >&2

# --- distill binary ----------------------------------------------------------
tc=$SECONDS
binnote=
if [ -n "${DISTILL_BIN:-}" ]; then
  src=$DISTILL_BIN
  binnote="binary given by DISTILL_BIN"
elif cargo build --release --quiet 2>"$logs/cargo.log"; then
  src=$root/target/release/distill
elif [ -x target/release/distill ]; then
  src=$root/target/release/distill
  binnote="cargo build failed (see target/bench/logs/cargo.log); used the existing target/release/distill of $(date -u -r "$src" '+%F %T UTC')"
  echo "build.sh: $binnote" >&2
else
  cat "$logs/cargo.log" >&2; exit 1
fi
tc=$((SECONDS - tc))
cp "$src" "$bindir/distill.tmp" && mv "$bindir/distill.tmp" "$bindir/distill"
bin=$bindir/distill

help=$("$bin" build --help)
for f in --locked --quiet --output --cache-dir; do
  grep -q -- "$f" <<<"$help" || { echo "build.sh: distill build has no $f" >&2; exit 1; }
done
if grep -q -- '--arch' <<<"$help"; then
  arch=(--arch amd64) archs_built=amd64 has_arch=1
else
  arch=() has_arch=0
  archs_built="amd64 + arm64, every architecture of the spec (this distill has no \`build --arch\`: twice mmdebstrap's work, so the ratios flatter mmdebstrap)"
fi

# --- the specs: the working tree's, or a git ref's (SPECS_REF) -------------
# The distill commands run in $tree, so specs/NAME.yaml means its specs/.
if [ -n "${SPECS_REF:-}" ]; then
  tree=$B/tree
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$SPECS_REF" specs keys | tar -x -C "$tree"
  specs_note="specs/ and keys/ of git $(git rev-parse --short "$SPECS_REF") (SPECS_REF=$SPECS_REF)"
else
  tree=$root
  specs_note="specs/ of the working tree"
  git diff --quiet HEAD -- specs keys 2>/dev/null || specs_note="$specs_note (uncommitted changes)"
fi
cd "$tree"

# --- the lock files: .debs of the warm cache, mmdebstrap's package set -------
python3 - "$has_arch" "$res" specs/*.lock <<'EOF'
import sys, yaml
only_amd64, res, locks = sys.argv[1] == "1", sys.argv[2], sys.argv[3:]
blobs = {}
for f in locks:
    d = yaml.safe_load(open(f)) or {}
    for sec in ("packages", "debug"):
        for arch, pkgs in (d.get(sec) or {}).items():
            if only_amd64 and arch != "amd64":
                continue
            for p in pkgs:
                blobs[p["sha256"]] = f
with open(f"{res}/blobs.txt", "w") as o:
    for h, f in sorted(blobs.items()):
        print(h, f, file=o)
d = yaml.safe_load(open("specs/nodejs.lock"))
with open(f"{res}/nodejs-amd64.txt", "w") as o:
    for p in d["packages"]["amd64"]:
        print(p["name"], p["version"], p["arch"], p["sha256"], file=o)
EOF

# --- seed cache -> pristine warm cache ------------------------------------------
usercache=${DISTILL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/distill}
missing() { while read -r h _; do [ -f "$seed/blobs/sha256/$h" ] || echo "$h"; done <"$res/blobs.txt"; }
copied=()
for h in $(missing); do
  [ -f "$usercache/blobs/sha256/$h" ] || continue
  cp "$usercache/blobs/sha256/$h" "$seed/blobs/sha256/.$h.tmp"
  if [ "$(sha256sum <"$seed/blobs/sha256/.$h.tmp" | cut -d' ' -f1)" = "$h" ]; then
    mv "$seed/blobs/sha256/.$h.tmp" "$seed/blobs/sha256/$h"; copied+=("$h")
  else
    rm -f "$seed/blobs/sha256/.$h.tmp"
  fi
done
[ "${#copied[@]}" -eq 0 ] || echo "build.sh: seed cache: ${#copied[@]} .debs copied from the distill cache" >&2
if [ -n "$(missing)" ]; then
  for lock in $(missing | while read -r h; do grep "^$h " "$res/blobs.txt" | cut -d' ' -f2; done | sort -u); do
    spec=${lock%.lock}.yaml
    echo "build.sh: seed cache: fetching the packages of $spec" >&2
    "$bin" build "$spec" --locked "${arch[@]}" -q -o "$B/out/seed" --cache-dir "$seed" >/dev/null 2>>"$logs/seed.log"
  done
  rm -rf "$B/out/seed"
fi
[ -z "$(missing)" ] || { echo "build.sh: seed cache still misses $(missing | wc -l) .debs" >&2; exit 1; }
rm -rf "$pristine"
mkdir -p "$pristine/blobs/sha256"
while read -r h _; do ln "$seed/blobs/sha256/$h" "$pristine/blobs/sha256/$h"; done <"$res/blobs.txt"
[ -d "$seed/named" ] && cp -al "$seed/named" "$pristine/named"
ndebs=$(wc -l <"$res/blobs.txt")
# Preflight: one warm build (also warms the page cache); a stale lock (exit
# 3) or any other failure stops here with distill's message.
rm -rf "$cache" "$out" && cp -al "$pristine" "$cache"
if ! "$bin" build specs/nodejs.yaml --locked "${arch[@]}" -q -o "$out" --cache-dir "$cache" >/dev/null 2>"$logs/preflight.log"; then
  cat "$logs/preflight.log" >&2
  echo "build.sh: the preflight build of specs/nodejs.yaml failed (a spec being edited? SPECS_REF=HEAD benchmarks the committed specs)" >&2
  exit 1
fi
debmb=$(du -sbL "$pristine" | awk '{ printf "%.0f", $1 / 1e6 }')

# --- mmdebstrap inputs ------------------------------------------------------------
# Base URLs as distill reports them (default distill cache, offline first).
"$bin" resolve specs/nodejs.yaml --arch amd64 --offline -v >/dev/null 2>"$logs/resolve.log" ||
  "$bin" resolve specs/nodejs.yaml --arch amd64 -v >/dev/null 2>"$logs/resolve.log"
# Effective spec (extends chain), as size-table.sh reads it.
python3 - specs/nodejs.yaml >"$mm/spec.txt" <<'EOF'
import os, sys, yaml
def key_path(spec, k):
    for d in (os.path.dirname(spec), os.path.dirname(os.path.dirname(spec))):
        p = os.path.join(d, k)
        if os.path.isfile(p):
            return os.path.abspath(p)
    raise SystemExit(f"{spec}: key {k} not found")
def load(path):
    d = yaml.safe_load(open(path)) or {}
    srcs = [{"suite": s["suite"], "components": s.get("components") or ["main"],
             "keys": [key_path(path, k) for k in s.get("keys", [])]} for s in d.get("sources") or []]
    exclude = list(d.get("exclude") or [])
    if d.get("extends"):
        parent = load(os.path.join(os.path.dirname(path), d["extends"]))
        exclude = parent["exclude"] + [x for x in exclude if x not in parent["exclude"]]
        srcs = srcs or parent["sources"]
    return {"exclude": exclude, "sources": srcs}
s = load(sys.argv[1])
for x in s["exclude"]:
    print("exclude", x)
for src in s["sources"]:
    print("source", src["suite"], *src["components"])
    for k in src["keys"]:
        print("key", k)
EOF
mkdir -p "$mm/keys" "$mm/debs"
sed -n 's/^key //p' "$mm/spec.txt" | sort -u | while read -r k; do cp "$k" "$mm/keys/"; done
sed -n 's/^exclude //p' "$mm/spec.txt" | while read -r x; do
  printf 'Package: %s\nStatus: install ok installed\nPriority: optional\nVersion: 999:0\nArchitecture: amd64\nMaintainer: build.sh <nobody@invalid>\nDescription: placeholder for a package distill excludes\n\n' "$x"
done >"$mm/fake-status"
sources=() first_suite=
while read -r url suite; do
  comps=$(awk -v s="$suite" '$1 == "source" && $2 == s { $1 = ""; $2 = ""; print; exit }' "$mm/spec.txt")
  sources+=("deb $url $suite ${comps:-main}")
  first_suite=${first_suite:-$suite}
done < <(sed -n 's#^distill: verifying \(.*\)/dists/\([^/]*\)/InRelease$#\1 \2#p' "$logs/resolve.log")
[ "${#sources[@]}" -gt 0 ] || { echo "build.sh: no base URL in distill's resolve -v output (target/bench/logs/resolve.log)" >&2; exit 1; }
# The lock's .debs under the names apt gives them (for the warm run), and the set.
while read -r n v a h; do
  ln "$pristine/blobs/sha256/$h" "$mm/debs/${n}_${v//:/%3a}_${a}.deb"
  echo "$n=$v"
done <"$res/nodejs-amd64.txt" | sort >"$mm/set.txt"
npkg=$(wc -l <"$mm/set.txt")
filters=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)
# mm_cmd CASE [warm]: the timed mmdebstrap command line (one bash string).
mm_cmd() {
  local qm; qm=$(printf %q "$mm")
  local a=(mmdebstrap --variant=extract --architectures=amd64 --include="$(paste -sd, "$mm/set.txt")"
    --keyring="$mm/keys" --aptopt='Acquire::Check-Valid-Until "false"' "${filters[@]}"
    --setup-hook="cat $qm/fake-status >> \"\$1/var/lib/dpkg/status\"")
  [ "${2:-}" = warm ] && a+=(--setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && cp $qm/debs/*.deb \"\$1/var/cache/apt/archives/\"")
  a+=(--extract-hook="ls \"\$1/var/cache/apt/archives/\" | grep '\\.deb\$' > $qm/debs-$1.txt"
    --extract-hook=': > "$1/var/lib/dpkg/status"'
    "$first_suite" "$mm/$1.tar" "${sources[@]}")
  printf '/usr/bin/time -a -o %q -f %%M ' "$res/mem-mm-$1.txt"
  printf '%q ' "${a[@]}"
  printf '2>>%q' "$logs/mm-$1.log"
}
# d_cmd CASE CACHE OUT: the timed distill command line.
d_cmd() {
  printf '/usr/bin/time -a -o %q -f %%M %q build specs/nodejs.yaml --locked %s -q -o %q --cache-dir %q >>%q 2>>%q' \
    "$res/mem-$1.txt" "$bin" "${arch[*]}" "$3" "$2" "$res/digest-$1" "$logs/distill-$1.log"
}
restore() { printf 'rm -rf %q %q && cp -al %q %q' "$1" "$2" "${3:-$pristine}" "$1"; }

# bench CASE RUNS WARMUP HYPERFINE-ARGS...: RUNS single-run hyperfine
# invocations (the commands alternate), merged into results/CASE.json:
# [{command, n, mean, stddev, min, max, cpu}] (cpu = mean user + system).
bench() {
  local case=$1 runs=$2 warmup=$3 i rc=0 w
  shift 3
  for ((i = 1; i <= runs; i++)); do
    w=(); [ "$i" = 1 ] && [ "$warmup" -gt 0 ] && w=(--warmup "$warmup")
    hyperfine -S bash --runs 1 "${w[@]}" --export-json "$res/$case.$i.json" "$@" >>"$logs/hyperfine-$case.log" 2>&1 || { rc=1; break; }
  done
  jq -s '[.[].results[]] | group_by(.command)
    | map({command: .[0].command, times: (map(.times) | add), cpu: (map(.user + .system) | add / length)})
    | map(. + {n: (.times | length), mean: (.times | add / length), min: (.times | min), max: (.times | max)})
    | map(.mean as $m | . + {stddev: (if .n > 1 then (.times | map((. - $m) * (. - $m)) | add / (length - 1) | sqrt) else null end)})' \
    "$res/$case".*.json >"$res/$case.json" 2>/dev/null || echo '[]' >"$res/$case.json"
  [ "$rc" = 0 ] || echo "build.sh: $case: a command failed (target/bench/logs/)" >&2
  return 0
}

echo "build.sh: distill builds $archs_built; $RUNS runs per case" >&2
# Wait (at most WAIT_QUIET seconds, default 300) until the machine's CPU is
# under 10 % busy over 5 s: a shared machine's other work would be measured too.
hz=$(getconf CLK_TCK) ncpu=$(nproc) waited=0
while :; do
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat); sleep 5
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
  busy=$(( (b - a) * 100 / (5 * hz * ncpu) ))
  [ "$busy" -lt 10 ] && break
  [ "$waited" = 0 ] && echo "build.sh: waiting up to ${WAIT_QUIET:-300} s for a quiet machine (CPU $busy % busy)" >&2
  waited=$((waited + 5))
  [ "$waited" -lt "${WAIT_QUIET:-300}" ] || { echo "build.sh: warning: still $busy % busy, measuring anyway" >&2; break; }
done
# CPU time of the whole machine (/proc/stat: busy and steal jiffies) and of
# this script's process tree (bash's `times`, children included), so the
# report can say how much CPU other work took while the benchmarks ran.
# cpu_snap VAR (no command substitution: `times` must run in this shell).
cpu_snap() {
  times >"$res/times.txt"
  printf -v "$1" '%s' "$(awk -v hz="$(getconf CLK_TCK)" -v now="$(date +%s.%N)" 'FNR == NR { split($1, u, /[ms]/); split($2, s, /[ms]/); own += u[1] * 60 + u[2] + s[1] * 60 + s[2]; next }
    /^cpu / { printf "%.2f %.2f %.2f %s\n", ($2 + $3 + $4 + $7 + $8) / hz, $9 / hz, own, now }' "$res/times.txt" /proc/stat)"
}
cpu_snap snap0

# a. cold
echo "build.sh: a. cold" >&2
bench cold "$RUNS" 0 \
  --prepare "$(printf 'rm -rf %q %q' "$cache" "$out")" -n distill "$(d_cmd cold "$cache" "$out")" \
  --prepare "$(printf 'rm -f %q' "$mm/cold.tar")" -n mmdebstrap "$(mm_cmd cold)"

# b. warm
echo "build.sh: b. warm" >&2
bench warm "$RUNS" 1 \
  --prepare "$(restore "$cache" "$out")" -n distill "$(d_cmd warm "$cache" "$out")" \
  --prepare "$(printf 'rm -f %q' "$mm/warm.tar")" -n mmdebstrap "$(mm_cmd warm warm)"
# What a build leaves in its cache beyond the pristine .debs (layer cache?).
extra=$(cd "$cache" && find . -mindepth 1 -maxdepth 1 -type d ! -name blobs ! -name named -printf '%f/ ' | sort)
nblobs=$(find "$cache/blobs/sha256" -maxdepth 1 -type f | wc -l)
layer_note="after a warm build the cache holds $((nblobs - ndebs)) blob(s) beyond the .debs${extra:+ and ${extra% }}"

# b'. (information, no target) warm with the unpacked package data kept: the
# pristine .debs + unpacked/ records + the blobs they name; layers/, builds/
# and layer blobs still empty. Only when this distill keeps unpacked/.
unp=0
if [ -d "$cache/unpacked" ]; then
  unp=1
  pu=$B/pristine-unpacked
  rm -rf "$pu" && cp -al "$pristine" "$pu" && cp -al "$cache/unpacked" "$pu/unpacked"
  for h in $(cat "$cache"/unpacked/* | grep -o '[0-9a-f]\{64\}' | sort -u); do
    [ -f "$cache/blobs/sha256/$h" ] && ln -f "$cache/blobs/sha256/$h" "$pu/blobs/sha256/$h"
  done
  echo "build.sh: b'. warm, unpacked data kept" >&2
  bench warmu "$RUNS" 1 --prepare "$(restore "$cache" "$out" "$pu")" -n distill "$(d_cmd warmu "$cache" "$out")"
fi

# c. no-op: one untimed build fills every cache and the output directory.
echo "build.sh: c. no-op" >&2
eval "$(restore "$cache" "$out")"
"$bin" build specs/nodejs.yaml --locked "${arch[@]}" -q -o "$out" --cache-dir "$cache" >/dev/null 2>>"$logs/distill-noop.log" ||
  { echo "build.sh: no-op setup build failed: $(tail -n 1 "$logs/distill-noop.log")" >&2; exit 1; }
bench noop "$RUNS" 1 -n distill "$(d_cmd noop "$cache" "$out")"

# Sizes of the nodejs image (amd64) and of mmdebstrap's tar.
L=$out
blob() { echo "$L/blobs/${1%%:*}/${1#*:}"; }
idx=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "latest") | .digest' "$L/index.json")
man=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' "$(blob "$idx")")
d_comp=$(jq '[.layers[].size] | add' "$(blob "$man")")
d_unc=0
for l in $(jq -r '.layers[].digest' "$(blob "$man")"); do d_unc=$((d_unc + $(gzip -dc "$(blob "$l")" | wc -c))); done
m_unc=$(stat -c %s "$mm/warm.tar" 2>/dev/null || echo 0)

# d. family
echo "build.sh: d. family" >&2
nspecs=$(ls specs/*.yaml | wc -l)
fam_cmd="for s in specs/*.yaml; do n=\$(basename \"\$s\" .yaml); /usr/bin/time -a -o $(printf %q "$res/mem-family.txt") -f \"%M %e \$n\" $(printf %q "$bin") build \"\$s\" --locked ${arch[*]} -q -o $(printf %q "$famout")/\$n --cache-dir $(printf %q "$famcache") >/dev/null 2>>$(printf %q "$logs/distill-family.log") || exit 1; done"
bench family1 1 0 --prepare "$(restore "$famcache" "$famout")" -n family "$fam_cmd"
first=$(jq '.[0].mean // 1e9' "$res/family1.json")
if awk -v t="$first" -v r="$RUNS" -v b="$FAMILY_BUDGET" 'BEGIN { exit !(t * r <= b) }'; then
  bench family "$RUNS" 0 --prepare "$(restore "$famcache" "$famout")" -n family "$fam_cmd"
else
  cp "$res/family1.json" "$res/family.json"
fi

# Where the warm build's time goes (target b's cache): -v, stderr lines timestamped.
if [ "$unp" = 1 ]; then eval "$(restore "$cache" "$out" "$pu")"; else eval "$(restore "$cache" "$out")"; fi
{ date +%s.%N; "$bin" build specs/nodejs.yaml --locked "${arch[@]}" -v -o "$out" --cache-dir "$cache" 2>&1 >/dev/null |
  while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done; date +%s.%N; } >"$logs/warm-verbose.ts"
awk 'NR == 1 { t0 = $1; next } { t = $1; $1 = ""; sub(/^ /, ""); if ($0 != "") printf "%6.2f s  %s\n", t - t0, $0 } END { printf "%6.2f s  (exit)\n", t - t0 }' \
  "$logs/warm-verbose.ts" >"$logs/warm-verbose.log"

cpu_snap snap1
# other = machine busy - ours, as a share of (cores x wall); steal likewise.
read -r other_pct steal_pct < <(awk -v a="$snap0" -v b="$snap1" -v c="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ")
  w = (y[4] - x[4]) * c; if (w <= 0) w = 1; o = (y[1] - x[1]) - (y[3] - x[3]); if (o < 0) o = 0
  printf "%.1f %.1f\n", 100 * o / w, 100 * (y[2] - x[2]) / w }')
# The pristine cache must have survived (hard links).
bad=$(while read -r h _; do [ "$(sha256sum <"$pristine/blobs/sha256/$h" | cut -d' ' -f1)" = "$h" ] || echo "$h"; done <"$res/blobs.txt" | wc -l)

# --- report ---------------------------------------------------------------------
# st CASE COMMAND FIELD
st() { jq -r --arg c "$2" --arg f "$3" '(.[] | select(.command == $c) | .[$f]) // empty' "$res/$1.json"; }
fmt() {  # "12.3 s ± 0.4 (12.0–12.8, 3 runs)"
  local m; m=$(st "$1" "$2" mean)
  [ -n "$m" ] || { echo "failed (see target/bench/logs)"; return; }
  awk -v m="$m" -v s="$(st "$1" "$2" stddev)" -v lo="$(st "$1" "$2" min)" -v hi="$(st "$1" "$2" max)" -v n="$(st "$1" "$2" n)" \
    'function f(x) { return x < 1 ? sprintf("%.3f", x) : x < 10 ? sprintf("%.2f", x) : sprintf("%.1f", x) }
     BEGIN { printf "%s s", f(m); if (s != "" && s != "null") printf " ± %s", f(s)
             if (n > 1) printf " (%s–%s, %d runs)", f(lo), f(hi), n; else printf " (1 run)" }'
}
memmax() { [ -s "$1" ] && awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { if (m) printf "%.0f", m * 1024 / 1e6 }' "$1"; }
memall() { cat "$@" 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { if (m) printf "%.0f", m * 1024 / 1e6 }'; }
pf() { [ -n "$1" ] && awk -v x="$1" -v c="$2" 'BEGIN { print ((c == "<=" ? x <= 0 : x < 0) ? "PASS" : "MISS") }' || echo MISS; }
da=$(st cold distill mean) ma=$(st cold mmdebstrap mean)
db=$(st warm distill mean) mb_=$(st warm mmdebstrap mean)
# Target (b) is the package cache as distill keeps it (with unpacked/).
dbt=$db memb_t=$(memmax "$res/mem-warm.txt") fmt_b=warm
[ "$unp" = 0 ] || { dbt=$(st warmu distill mean); memb_t=$(memmax "$res/mem-warmu.txt"); fmt_b=warmu; }
dc=$(st noop distill mean) dd=$(st family family mean)
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo –; }
ra=$(ratio "$da" "$ma") rb=$(ratio "$dbt" "$mb_")
mema=$(memmax "$res/mem-cold.txt") memb=$(memmax "$res/mem-warm.txt") memc=$(memmax "$res/mem-noop.txt") memd=$(memmax "$res/mem-family.txt")
mem_mma=$(memmax "$res/mem-mm-cold.txt") mem_mmb=$(memmax "$res/mem-mm-warm.txt")
meme=$(memall "$res"/mem-{cold,warm,noop,family}.txt)
memwho=$(for c in cold warm noop family; do echo "$(memmax "$res/mem-$c.txt") $c"; done | sort -n | tail -1 | cut -d' ' -f2)
famwho=$(awk '$1 ~ /^[0-9]+$/' "$res/mem-family.txt" 2>/dev/null | sort -n | tail -1 | cut -d' ' -f3)
[ "$memwho" = family ] && memwho="family: $famwho"
# Per spec of the family: mean wall time and peak RSS over its runs.
famspecs=$(awk '$1 ~ /^[0-9]+$/ { n[$3]++; t[$3] += $2; if ($1 > m[$3]) m[$3] = $1; if (!($3 in o)) o[$3] = ++k }
  END { for (s in o) printf "%d %s %.1f s/%.0f MB\n", o[s], s, t[s] / n[s], m[s] * 1024 / 1e6 }' "$res/mem-family.txt" 2>/dev/null |
  sort -n | cut -d' ' -f2- | paste -sd, | sed 's/,/, /g')
res_a=$( [ -n "$da" ] && [ -n "$ma" ] && pf "$(awk -v a="$da" -v b="$ma" 'BEGIN { print a - 0.5 * b }')" "<=" || echo MISS)
res_b=$( [ -n "$dbt" ] && pf "$(awk -v a="$dbt" 'BEGIN { print a - 1.5 }')" "<" || echo MISS)
res_c=$( [ -n "$dc" ] && pf "$(awk -v a="$dc" 'BEGIN { print a - 0.3 }')" "<" || echo MISS)
res_d=$( [ -n "$dd" ] && pf "$(awk -v a="$dd" 'BEGIN { print a - 20 }')" "<" || echo MISS)
res_e=$( [ -n "$meme" ] && pf "$(awk -v a="$meme" 'BEGIN { print a - 300 }')" "<" || echo MISS)
mbs() { [ -n "$1" ] && echo "$1 MB" || echo –; }
digests=$(cat "$res"/digest-{cold,warm,warmu,noop} 2>/dev/null | sort -u)
ndig=$(printf '%s\n' "$digests" | grep -c . || true)
if [ "$ndig" = 1 ]; then dignote="every cold, warm and no-op build printed the same index digest, \`${digests}\`"
else dignote="**the builds printed $ndig different index digests** ($(echo $digests))"; fi
mmnotes=()
for c in cold warm; do
  [ -f "$mm/debs-$c.txt" ] || { mmnotes+=("mmdebstrap $c: no .deb list (failed?)"); continue; }
  sed 's/_[^_]*$//; s/_/=/; s/%3a/:/g' "$mm/debs-$c.txt" | sort | cmp -s - "$mm/set.txt" ||
    mmnotes+=("**mmdebstrap $c extracted $(wc -l <"$mm/debs-$c.txt") packages, not the lock's $npkg**")
done
[ "$bad" = 0 ] || mmnotes+=("**$bad blob(s) of the pristine cache changed during the run: warm figures are suspect**")

row_bu=
[ "$unp" = 0 ] || row_bu=$'\n'"| b′. warm from the .debs alone: unpacked data dropped too (information, no target) | $(fmt warm distill) | (as b) | $(ratio "$db" "$mb_") | $(mbs "$memb") | – | – |"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
virt=$(systemd-detect-virt 2>/dev/null || true)
ram=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
fs=$(df -T "$B" | awk 'NR == 2 { print $2 }')
commit=$(git -C "$root" rev-parse --short HEAD)
dirty=$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock build.rs 2>/dev/null | wc -l)
[ "$dirty" = 0 ] || commit="$commit + uncommitted changes in $dirty file(s) of src/ (work in progress)"
[ -z "$binnote" ] || commit="$commit; $binnote"
runtime=$((SECONDS - t0))

section=$(cat <<EOF
## Build speed and memory (\`bench/build.sh\`)

\`specs/nodejs.yaml\` ($npkg packages, amd64) built by \`distill build --locked\`
next to \`mmdebstrap --variant=extract\` of the lock's exact package set (same
package exclusions, distill's default path filters, output a tar), and the whole family
($nspecs specs). Wall time: hyperfine, mean ± standard deviation (min–max), the two
tools' runs alternating; memory: peak RSS (\`/usr/bin/time -f %M\`) of every
distill build. distill builds $archs_built; it also gzips its layers and writes
four tags (the debug tag adds busybox), mmdebstrap writes an uncompressed tar.
How and why: the header of \`bench/build.sh\`.

| target | distill | mmdebstrap | distill / mmdebstrap | distill peak RSS | goal | result |
|---|---:|---:|---:|---:|---|---|
| a. cold: empty caches, downloads included | $(fmt cold distill) | $(fmt cold mmdebstrap) | $ra | $(mbs "$mema") | ≤ 0.5 × mmdebstrap | $res_a |
| b. warm: packages cached as the first build leaves them ($( [ "$unp" = 0 ] && echo ".debs" || echo ".debs + unpacked members")), no layer/build cache | $(fmt $fmt_b distill) | $(fmt warm mmdebstrap) | $rb | $(mbs "$memb_t") | < 1.5 s | $res_b |$row_bu
| c. no-op rebuild, same output directory | $(fmt noop distill) | – | – | $(mbs "$memc") | < 0.3 s | $res_c |
| d. family: $nspecs specs one after another, warm | $(fmt family family) | – | – | $(mbs "$memd") | < 20 s total | $res_d |
| e. peak RSS, largest build of (a)–(d) | $(mbs "$meme") ($memwho) | $(mbs "$mem_mma") cold, $(mbs "$mem_mmb") warm (largest process) | – | | < 300 MB each | $res_e |

- mmdebstrap keeps no state between runs: cold and warm both download and
  parse the suites' indices (apt update); warm finds the .debs in the
  chroot's apt cache. distill \`--locked\` reads no index: it fetches the
  lock's .debs by hash.
- Image (nodejs, amd64): $(awk -v u="$d_unc" -v c="$d_comp" 'BEGIN { printf "%.1f MB uncompressed, %.1f MB compressed (gzip layers)", u / 1e6, c / 1e6 }'); mmdebstrap's tar $(awk -v u="$m_unc" 'BEGIN { printf "%.1f MB", u / 1e6 }').
- CPU time (user + system, mean; less sensitive than wall time to other
  work on the machine): distill $(for c in cold warm warmu noop family; do x=$(st $c "$( [ $c = family ] && echo family || echo distill)" cpu); [ -z "$x" ] || printf '%s %.2f s, ' "$(case $c in cold) echo a;; warm) echo "b′";; warmu) echo b;; noop) echo c;; family) echo d;; esac)" "$x"; done | sed 's/, $//'); mmdebstrap cold $(printf '%.2f' "$(st cold mmdebstrap cpu || echo 0)") s, warm $(printf '%.2f' "$(st warm mmdebstrap cpu || echo 0)") s.
- Family, per spec (wall time from GNU time, peak RSS): $famspecs.
- Warm cache = the .debs of every lock ($ndebs blobs, $debmb MB); $layer_note.
- $dignote.
$( [ "${#mmnotes[@]}" -eq 0 ] || printf -- '- %s\n' "${mmnotes[@]}")
Machine: $cpu, $(nproc) cores${virt:+ ($virt)}, $ram RAM, $os, kernel $(uname -r), $fs;
load average before the run $load_before; while the benchmarks ran, other processes took $other_pct % of the CPU and the hypervisor stole $steal_pct %$(awk -v o="$other_pct" 'BEGIN { if (o > 10) printf " (**busy machine: the figures are pessimistic**)" }'). distill $commit, $( "$bin" --version 2>/dev/null | head -1), $(rustc --version 2>/dev/null | cut -d' ' -f1-2);
$(hyperfine --version), $(mmdebstrap --version), $(apt-get --version | head -1 | cut -d' ' -f1-2), GNU time $(/usr/bin/time --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1).
Inputs: $specs_note. Script runtime $runtime s (cargo build $tc s), $(date -u +%F).

Where a warm distill build's time goes: \`-v\`, each stderr line with the time
since the start at which it appeared (steps may run in parallel):

\`\`\`
$(cat "$logs/warm-verbose.log")
\`\`\`
EOF
)

# Nothing in the section may name a mirror: URLs from logs are masked.
section=$(sed -E 's#[a-z]+://[^ )`]*#<url>#g' <<<"$section")
printf '%s\n' "$section" >"$res/section.md"
python3 - "$root/BENCHMARKS.md" "$res/section.md" <<'EOF'
import re, sys
path, sec = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
text = open(path).read()
m = re.search(r"^## Build speed and memory.*?(?=^## |\Z)", text, flags=re.M | re.S)
if m:
    text = text[:m.start()] + sec + ("\n" if m.end() < len(text) else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + sec
open(path, "w").write(text)
EOF
printf '%s\n' "$section"
