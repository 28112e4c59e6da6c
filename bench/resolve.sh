#!/usr/bin/env bash
# Resolver benchmark: distill loading bookworm (main, -updates, -security;
# amd64) from a warm cache and resolving specs/nodejs.yaml, next to
# `apt-get install --simulate` for the same request against the same suites,
# with a private apt state (the machine's own apt state is not touched).
# Prints wall time (hyperfine) and peak RSS (GNU time) for both.
#
# Mirror: the same discovery distill uses (DISTILL_MIRROR, else the host's
# apt sources), so nothing here names a mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }

cargo build --release --quiet
bin=target/release/distill
cache=${DISTILL_CACHE_DIR:-$PWD/target/bench-cache}
export DISTILL_CACHE_DIR=$cache

# Warm the cache (index, uncompressed index, InRelease).
$bin resolve specs/nodejs.yaml -q >/dev/null

# Private apt state over the same base URLs distill chose.
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state"/{lists/partial,cache/archives/partial,etc/sources.list.d,etc/preferences.d,etc/trusted.gpg.d}
: > "$state/status"
for k in keys/debian-12-*.asc keys/debian-13-*.asc; do cp "$k" "$state/etc/trusted.gpg.d/"; done
urls=$($bin resolve specs/nodejs.yaml -v 2>&1 >/dev/null | sed -n 's#^distill: verifying \(.*\)/dists/\([^/]*\)/InRelease#\1 \2#p')
while read -r url suite; do echo "deb $url $suite main"; done <<<"$urls" > "$state/etc/sources.list"
apt_opts=(-o Dir::State="$state" -o Dir::State::Lists="$state/lists" -o Dir::State::status="$state/status"
  -o Dir::Cache="$state/cache" -o Dir::Etc::SourceList="$state/etc/sources.list"
  -o Dir::Etc::SourceParts="$state/etc/sources.list.d" -o Dir::Etc::Preferences="$state/etc/preferences"
  -o Dir::Etc::PreferencesParts="$state/etc/preferences.d" -o Dir::Etc::TrustedParts="$state/etc/trusted.gpg.d"
  -o Dir::Etc::Trusted="$state/etc/trusted.gpg" -o APT::Architecture=amd64 -o APT::Architectures=amd64
  -o Acquire::Languages=none -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq >/dev/null
pkgs=$(sed -n '/^packages:/,/^[a-z]/p' specs/nodejs.yaml | sed -n 's/^  - //p' | tr '\n' ' ')

echo "== wall time (warm cache), request: $pkgs"
hyperfine -N --warmup 2 --runs 5 --export-markdown target/bench-resolve.md \
  -n "distill resolve (offline, warm)" "$bin resolve specs/nodejs.yaml --arch amd64 -q --offline" \
  -n "apt-get install --simulate" "apt-get ${apt_opts[*]} install --simulate --no-install-recommends $pkgs"

echo "== peak memory"
/usr/bin/time -f "distill resolve: %M KB peak RSS, %e s" $bin resolve specs/nodejs.yaml --arch amd64 -q --offline >/dev/null
/usr/bin/time -f "apt-get --simulate: %M KB peak RSS, %e s" apt-get "${apt_opts[@]}" install --simulate --no-install-recommends $pkgs >/dev/null
echo "== what apt loaded"
apt-cache "${apt_opts[@]}" stats | grep -E "Total package names|Normal packages|Total distinct versions"
ls -la "$state/cache"
