#!/usr/bin/env bash
# Installs (once) the exporter's pinned npm dependencies with `npm ci` and
# prints the path of export.mjs. Reinstalls when package-lock.json changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "contract-export setup: node and npm are missing; install Node.js 18+ (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
stamp="$here/node_modules/.package-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -d "$here/node_modules/zod-to-json-schema" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if ! npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2; then
    echo "contract-export setup: npm ci failed; check that the npm registry is reachable" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
echo "$here/export.mjs"
