#!/usr/bin/env bash
# Builds (once) the TypeScript clamator peer that tests/ts_peer.rs runs, and
# prints the build directory.
#
# The peer's source is a test dependency kept outside this repository (like
# the Python peer from PyPI): ../shared/peers/clamator-ts relative to the
# workspace root, or $CLAMATOR_TS_PEER_SRC. It is copied (the source may be
# read-only) into tests/interop/.ts-peer (ignored by git), where
# `npm ci --no-audit --no-fund && npm run build` run. The build is reused
# while the source's files are unchanged (a hash of all of them). Our own
# drivers (tests/interop/ts/*.ts) are then copied into .ts-peer/interop/ on
# every run, so that their imports (`@clamator/over-redis`, `zod`, `ioredis`)
# resolve to the build's node_modules.
#
# Run them from the build directory: node --import tsx interop/<driver>.ts
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
interop="$(dirname "$here")"
root="$(cd "$interop/../.." && pwd)"
build="$interop/.ts-peer"
# A checkout elsewhere (a CI clone in /tmp) finds the workplace's copy in
# /work/shared when there is none next to it.
src="${CLAMATOR_TS_PEER_SRC:-$root/../shared/peers/clamator-ts}"
if [ -z "${CLAMATOR_TS_PEER_SRC:-}" ] && [ ! -f "$src/package.json" ] && [ -f /work/shared/peers/clamator-ts/package.json ]; then
  src=/work/shared/peers/clamator-ts
fi

fail() {
  echo "setup-ts-peer: $*" >&2
  exit 1
}

if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then
  fail "the TypeScript peer's source is missing: no package.json and package-lock.json in $src
  (expected the clamator-ts peer at ../shared/peers/clamator-ts next to this checkout;
  set CLAMATOR_TS_PEER_SRC to its directory). The TypeScript peer is required, nothing is skipped."
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  fail "node and npm are missing; install Node.js 18+ (Debian: apt-get install nodejs npm)"
fi
src="$(cd "$src" && pwd)"

mkdir -p "$interop"
# One setup at a time (test threads and binaries may ask at once).
exec 9>"$interop/.ts-peer.lock"
flock 9

# Everything the build reads: the peer's files (not a build left inside it).
want="$(cd "$src" && find . -path ./node_modules -prune -o -path '*/dist' -prune -o -type f -print \
  | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)"
stamp="$build/.source.sha256"
if [ ! -d "$build/node_modules/@clamator/over-redis" ] || [ ! -f "$build/packages/codegen/dist/cli.js" ] \
  || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$build"
  mkdir -p "$build"
  (cd "$src" && tar -c --exclude=./node_modules --exclude='*/dist' .) | (cd "$build" && tar -x)
  chmod -R u+w "$build"
  echo "setup-ts-peer: building the TypeScript peer from $src in $build" >&2
  if ! (cd "$build" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    rm -rf "$build"
    fail "npm ci failed in $build; check that the npm registry is reachable"
  fi
  if ! (cd "$build" && npm run --silent build >&2); then
    rm -rf "$build"
    fail "npm run build (tsc) failed in $build"
  fi
  echo "$want" > "$stamp"
fi

# Our drivers, refreshed on every run; each replaced by a rename, so a driver
# running from an earlier copy never reads a half-written file.
mkdir -p "$build/interop"
for f in "$here"/*.ts; do
  [ -e "$f" ] || continue
  dest="$build/interop/$(basename "$f")"
  if ! cmp -s "$f" "$dest"; then
    cp "$f" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
  fi
done
echo "$build"
