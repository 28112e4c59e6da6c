#!/usr/bin/env bash
# Image size comparison: every spec under specs/*.yaml built by distill from
# its lock, next to `mmdebstrap --variant=extract` of the same package set.
# Prints a Markdown table (amd64) and writes it to target/size-table.md;
# per-spec logs, file lists and file-list diffs go to target/size-table/work/.
#
# distill: `target/release/distill build SPEC --locked -q --json --output
# target/size-table/NAME`; sizes are read back from the layout (index.json ->
# tag `latest` -> image index -> amd64 manifest -> layers + config):
# uncompressed = sum of `gzip -dc LAYER | wc -c` (cross-checked against the
# `uncompressed_size` of `--json`), compressed = sum of the layer blob sizes;
# packages = `--json` architectures[amd64].packages.
#
# mmdebstrap: the exact `name=version` list of `distill resolve SPEC --arch
# amd64 --json --offline` is passed with --include (when the cache does not
# hold a source's InRelease yet, e.g. trixie, one online `distill resolve`
# warms it first), with --architectures=amd64, the spec's suites and
# components, the spec's keys, and the base URLs distill itself reports
# (`distill: verifying <URL>/dists/<suite>/InRelease` on `resolve -v`), so no
# mirror is named here. Exactly that set is extracted:
#   * `--include` alone would make apt add the dependencies distill drops on
#     purpose (the spec's `exclude:` chain: debconf, perl-base, awk, dpkg …).
#     A setup hook writes a placeholder "install ok installed" stanza (no
#     dependencies) per excluded name into the chroot's dpkg status, so apt
#     considers them satisfied and downloads nothing for them; the extract
#     hook empties the status file again (the extract variant leaves it
#     empty otherwise).
#   * the extract hook lists the .debs mmdebstrap downloaded and the script
#     fails the row's check (reported under the table) if that list is not
#     exactly the resolved set.
# Path filters -- METHOD USED: mmdebstrap's own --dpkgopt=path-exclude /
# path-include. With --variant=extract dpkg does not unpack, but mmdebstrap
# (>= 1.1) reads those options back and pipes every .deb through
# mmtarfilter, so they do apply. As a safety net the extract hook also runs
# the same filters with `find -delete` and logs how many files it removed
# (the notes under the table show the count; 0 means the dpkg options alone
# did the work). Filters = distill's defaults: exclude /usr/share/{doc,man,
# info,locale,lintian}, keep /usr/share/doc/*/copyright.
# mmdebstrap's tar output (uncompressed = tar file size) is compressed with
# `gzip -6 -n` to compare with distill's single gzip (level 6) layer.
# MB = 10^6 bytes; ratio = distill uncompressed / mmdebstrap uncompressed.
#
# Downloaded .debs are kept in target/size-table/apt-cache and copied into
# the next mmdebstrap chroot (only the resolved set; the cache is only ever
# filled from .debs apt downloaded and verified), so reruns mostly skip the
# network. The distill build of a spec and
# the mmdebstrap run of the same spec run side by side (2 jobs).
#
# Needs root (mmdebstrap root mode), mmdebstrap, jq, python3 (+ yaml), gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS

for c in mmdebstrap mmtarfilter jq python3 gzip tar; do
  command -v "$c" >/dev/null || { echo "size-table: $c is missing" >&2; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "size-table: python3-yaml is missing" >&2; exit 1; }

tc=$SECONDS
cargo build --release --quiet
tc=$((SECONDS - tc))
bin=$PWD/target/release/distill
out=$PWD/target/size-table
work=$out/work
debcache=$out/apt-cache
mkdir -p "$work" "$debcache"

# Path filters (distill's defaults), as dpkg options for mmdebstrap.
filters=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
# First line of an error message; a line ending in ':' gets the next one.
first_error() {
  awk 'NF && !done { if (line == "" && !/[Ee]rror|^E:|failed/) next
         line = line (line == "" ? "" : " ") $0; sub(/^ +/, "", line)
         if (line !~ /:$/) done = 1 }
       END { gsub(/  +/, " ", line); print (line == "" ? "(no message)" : line) }' "$1" | cut -c1-200 | sed 's/|/\\|/g'
}

# Effective spec (extends chain): excluded names, sources (suite and
# components), absolute key paths. Mirrors src/spec/extends.rs: child
# sources replace the parent's, excludes are a union.
spec_info() {
  python3 - "$1" <<'EOF'
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
}

# Compare two root file lists (distill layers vs mmdebstrap tar).
diff_lists() {
  python3 - "$@" <<'EOF'
import collections, sys, tarfile
mm_tar, layers = sys.argv[1], sys.argv[2:]
def norm(n):
    n = n[2:] if n.startswith("./") else n
    n = n.strip("/")
    return "" if n == "." else n
def read(paths):
    ents = {}
    for p in paths:
        with tarfile.open(p, "r:*") as t:
            for m in t:
                if not norm(m.name):
                    continue
                kind = "d" if m.isdir() else "l" if m.issym() else "h" if m.islnk() else "c" if m.ischr() else "f"
                ents[norm(m.name)] = (kind, m.size if m.isfile() else 0, m.linkname)
    return ents
d, m = read(layers), read([mm_tar])
def group(names, ents):
    g = collections.defaultdict(lambda: [0, 0])
    for n in names:
        parts = n.split("/")
        key = "/" + "/".join(parts[:3]) if len(parts) > 3 else "/" + n
        g[key][0] += 1
        g[key][1] += ents[n][1]
    return sorted(g.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
only_m = sorted(set(m) - set(d))
only_d = sorted(set(d) - set(m))
both = set(d) & set(m)
print(f"entries: distill {len(d)}, mmdebstrap {len(m)}, common {len(both)}")
for title, names, ents in (("only in mmdebstrap", only_m, m), ("only in distill", only_d, d)):
    tot = sum(ents[n][1] for n in names)
    print(f"\n== {title}: {len(names)} entries, {tot} bytes of regular files")
    for key, (cnt, size) in group(names, ents)[:25]:
        print(f"  {size:>10} B {cnt:>5} entries  {key}")
    print("  -- entries (first 60):")
    for n in names[:60]:
        k, s, l = ents[n]
        print(f"  {k} {s:>10} /{n}" + (f" -> {l}" if l else ""))
diffs = []
for n in both:
    (kd, sd, ld), (km, sm, lm) = d[n], m[n]
    if kd != km or sd != sm or ld != lm:
        diffs.append((abs(sd - sm), n, d[n], m[n]))
diffs.sort(key=lambda x: (-x[0], x[1]))
print(f"\n== in both but different (type, size or link target): {len(diffs)}")
for delta, n, dd, mm in diffs[:40]:
    print(f"  /{n}: distill {dd[0]} {dd[1]}{' -> ' + dd[2] if dd[2] else ''} | mmdebstrap {mm[0]} {mm[1]}{' -> ' + mm[2] if mm[2] else ''}")
EOF
}

rows=() notes=() filt=() times=() diffs=()
for spec in specs/*.yaml; do
  name=$(basename "$spec" .yaml)
  w=$work/$name
  rm -rf "$w" && mkdir -p "$w"
  echo "size-table: $name" >&2

  # --- package set and base URLs, as distill sees them -----------------------
  if ! "$bin" resolve "$spec" --arch amd64 --json --offline -v >"$w/resolve.json" 2>"$w/resolve.log"; then
    "$bin" resolve "$spec" --arch amd64 -q >/dev/null 2>"$w/resolve-online.log" || true
    "$bin" resolve "$spec" --arch amd64 --json --offline -v >"$w/resolve.json" 2>"$w/resolve.log" || true
  fi
  jq -r '.[] | "\(.name)=\(.version)"' "$w/resolve.json" 2>/dev/null | sort >"$w/resolved.txt" || true
  npkg_resolved=$(wc -l <"$w/resolved.txt")
  python3 -c '
import sys, yaml
for p in (yaml.safe_load(open(sys.argv[1])) or {}).get("packages", {}).get("amd64", []):
    print(p["name"] + "=" + str(p["version"]))' "specs/$name.lock" 2>/dev/null | sort >"$w/locked.txt" || true
  if ! cmp -s "$w/resolved.txt" "$w/locked.txt"; then
    notes+=("$name: \`resolve --offline\` and specs/$name.lock differ (see work/$name/resolved.txt, locked.txt): $(diff "$w/locked.txt" "$w/resolved.txt" | grep -c '^[<>]') lines")
  fi

  spec_info "$spec" >"$w/spec.txt"
  mkdir -p "$w/keys"
  sed -n 's/^key //p' "$w/spec.txt" | sort -u | while read -r k; do cp "$k" "$w/keys/"; done
  : >"$w/fake-status"
  sed -n 's/^exclude //p' "$w/spec.txt" | while read -r x; do
    printf 'Package: %s\nStatus: install ok installed\nPriority: optional\nVersion: 999:0\nArchitecture: amd64\nMaintainer: size-table <nobody@invalid>\nDescription: placeholder for a package distill excludes\n\n' "$x"
  done >"$w/fake-status"
  sources=()
  first_suite=
  while read -r url suite; do
    comps=$(awk -v s="$suite" '$1 == "source" && $2 == s { $1 = ""; $2 = ""; print; exit }' "$w/spec.txt")
    sources+=("deb $url $suite ${comps:-main}")
    first_suite=${first_suite:-$suite}
  done < <(sed -n 's#^distill: verifying \(.*\)/dists/\([^/]*\)/InRelease$#\1 \2#p' "$w/resolve.log")

  # --- mmdebstrap (background) -------------------------------------------------
  # Cached .debs of exactly this set (file names as apt writes them).
  : >"$w/cached-debs"
  while IFS== read -r p v; do
    for f in "$debcache/${p}_${v//:/%3a}_"*.deb; do [ -f "$f" ] && echo "$f"; done
  done <"$w/resolved.txt" >"$w/cached-debs"
  qw=$(printf %q "$w") qc=$(printf %q "$debcache")
  mm_pid=
  if [ "$npkg_resolved" -gt 0 ] && [ "${#sources[@]}" -gt 0 ]; then
    include=$(paste -sd, "$w/resolved.txt")
    (
      set +e
      mmdebstrap --variant=extract --architectures=amd64 --include="$include" \
        --keyring="$w/keys" --aptopt='Acquire::Check-Valid-Until "false"' \
        "${filters[@]}" \
        --setup-hook="cat $qw/fake-status >> \"\$1/var/lib/dpkg/status\"" \
        --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && xargs -r cp -t \"\$1/var/cache/apt/archives/\" < $qw/cached-debs" \
        --extract-hook="ls \"\$1/var/cache/apt/archives/\" | grep '\\.deb\$' > $qw/debs.txt; cp -n \"\$1\"/var/cache/apt/archives/*.deb $qc/" \
        --extract-hook=': > "$1/var/lib/dpkg/status"' \
        --extract-hook="{ find \"\$1/usr/share/doc\" -mindepth 1 ! -type d ! -path \"\$1/usr/share/doc/*/copyright\" -print -delete; for d in man info locale lintian; do find \"\$1/usr/share/\$d\" -mindepth 1 ! -type d -print -delete; done; } 2>/dev/null | wc -l > $qw/find-deleted.txt" \
        "$first_suite" "$w/mmdebstrap.tar" "${sources[@]}" >"$w/mmdebstrap.log" 2>&1
      echo $? >"$w/mmdebstrap.rc"
    ) &
    mm_pid=$!
  else
    echo "no package set (resolve failed)" >"$w/mmdebstrap.log"
    echo 1 >"$w/mmdebstrap.rc"
  fi

  # --- distill build (foreground) ---------------------------------------------
  tb=$SECONDS
  set +e
  "$bin" build "$spec" --locked -q --json --output "$out/$name" >"$w/build.json" 2>"$w/build.log"
  brc=$?
  set -e
  tb=$((SECONDS - tb))
  [ -n "$mm_pid" ] && wait "$mm_pid" || true
  mrc=$(cat "$w/mmdebstrap.rc")

  # --- distill sizes from the layout -------------------------------------------
  if [ "$brc" -eq 0 ]; then
    L=$out/$name
    blob() { echo "$L/blobs/${1%%:*}/${1#*:}"; }
    idx=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "latest") | .digest' "$L/index.json")
    man=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' "$(blob "$idx")")
    cfg=$(jq -r '.config.digest' "$(blob "$man")")
    mapfile -t layers < <(jq -r '.layers[].digest' "$(blob "$man")")
    nlayers=${#layers[@]}
    ndiff=$(jq '.rootfs.diff_ids | length' "$(blob "$cfg")")
    [ "$ndiff" -eq "$nlayers" ] || notes+=("$name: config has $ndiff diff_ids for $nlayers layers")
    d_comp=$(jq '[.layers[].size] | add' "$(blob "$man")")
    d_unc=0
    layer_files=()
    for l in "${layers[@]}"; do
      layer_files+=("$(blob "$l")")
      d_unc=$((d_unc + $(gzip -dc "$(blob "$l")" | wc -c)))
    done
    j_unc=$(jq '.architectures[] | select(.architecture == "amd64") | .uncompressed_size' "$w/build.json")
    [ "$j_unc" = "$d_unc" ] || notes+=("$name: --json uncompressed_size $j_unc != gzip -dc total $d_unc")
    npkg=$(jq '.architectures[] | select(.architecture == "amd64") | .packages' "$w/build.json")
    d_cols="$(mb "$d_unc") | $(mb "$d_comp") | $nlayers"
  else
    npkg=$npkg_resolved
    d_unc=
    d_cols="build failed: $(first_error "$w/build.log") | – | –"
  fi

  # --- mmdebstrap sizes ------------------------------------------------------
  if [ "$mrc" -eq 0 ]; then
    m_unc=$(stat -c %s "$w/mmdebstrap.tar")
    gzip -6 -n -c "$w/mmdebstrap.tar" | wc -c >"$w/mmdebstrap.gz-size" &
    gz_pid=$!
    ratio=–
    [ -n "$d_unc" ] && ratio=$(awk -v a="$d_unc" -v b="$m_unc" 'BEGIN { printf "%.3f", a / b }')
    # Check the extracted set is exactly the resolved set.
    touch "$w/debs.txt"; sed 's/_[^_]*$//; s/_/=/; s/%3a/:/g' "$w/debs.txt" | sort >"$w/extracted.txt"
    if ! cmp -s "$w/extracted.txt" "$w/resolved.txt"; then
      notes+=("$name: mmdebstrap extracted $(wc -l <"$w/extracted.txt") packages, not the $npkg_resolved resolved ones: $(diff "$w/resolved.txt" "$w/extracted.txt" | grep '^[<>]' | head -5 | tr '\n' ' ')")
    fi
    filt+=("$name $(cat "$w/find-deleted.txt" 2>/dev/null || echo '?')")
    times+=("$name ${tb}s/$(sed -n 's/^I: success in \([0-9]*\).*/\1/p' "$w/mmdebstrap.log")s")
    if [ "$brc" -eq 0 ]; then
      diff_lists "$w/mmdebstrap.tar" "${layer_files[@]}" >"$w/diff.txt"
      diffs+=("$name: $(sed -n '1p' "$w/diff.txt"); $(sed -n 's/^== only in \(.*\): \(.*\) entries, \(.*\) bytes.*/\2 only in \1 (\3 B)/p' "$w/diff.txt" | paste -sd, | sed 's/,/, /g'); $(sed -n 's/^== in both but different.*: //p' "$w/diff.txt") differ")
    fi
    wait "$gz_pid"
    m_comp=$(cat "$w/mmdebstrap.gz-size")
    m_cols="$(mb "$m_unc") | $(mb "$m_comp")"
  else
    m_cols="mmdebstrap failed: $(first_error "$w/mmdebstrap.log") | –"
    ratio=–
  fi
  rows+=("| $name | $npkg | $d_cols | $m_cols | $ratio |")
done

{
  echo "| image | packages | distill uncompressed MB | distill compressed MB | layers | mmdebstrap(extract) uncompressed MB | mmdebstrap compressed MB | ratio uncompressed |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "amd64; MB = 10^6 bytes; distill compressed = gzip layer blobs; mmdebstrap compressed = \`gzip -6 -n\` of its tar;"
  echo "ratio = distill uncompressed / mmdebstrap uncompressed. Runtime: $((SECONDS - t0)) s (cargo build ${tc} s)."
  echo
  echo "Per spec, distill build / mmdebstrap wall time (side by side; distill builds every arch of the spec):"
  echo "${times[*]}."
  echo
  echo "Files the find-based safety-net filter still removed after mmdebstrap's own path filters (0 = --dpkgopt filters applied):"
  echo "${filt[*]}."
  echo
  echo "File lists (details in target/size-table/work/NAME/diff.txt):"
  printf -- '- %s\n' "${diffs[@]}"
  if [ "${#notes[@]}" -gt 0 ]; then
    echo
    echo "Notes:"
    printf -- '- %s\n' "${notes[@]}"
  fi
} | tee "$PWD/target/size-table.md"
