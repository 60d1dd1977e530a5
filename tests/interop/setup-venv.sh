#!/usr/bin/env bash
# Creates (once) the Python virtual environment with the pinned clamator 0.1.9
# peer that the interop suite and the benchmarks run, and prints its python.
# Cached in tests/interop/.venv (ignored by git); rebuilt when
# py/requirements.txt changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
req="$here/py/requirements.txt"
if ! command -v python3 >/dev/null 2>&1; then
  echo "setup-venv: python3 is missing; install it (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
# One setup at a time (test binaries and threads may ask at once).
exec 9>"$here/.venv.lock"
flock 9
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >&2; then
    echo "setup-venv: python3 -m venv failed; install venv support (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2; then
    echo "setup-venv: pip install -r $req failed; check that PyPI is reachable" >&2
    rm -rf "$venv"
    exit 1
  fi
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
