#!/usr/bin/env bash
# The feature matrix: `cargo test --workspace` unifies features, so a
# `#[cfg(feature = ...)]` (or `cfg(not(feature = ...))`) branch that only some
# combination reaches is never compiled there. This lints each crate's library
# and binaries (not its tests: their dev-dependencies turn features back on)
# with no features, with each feature alone, and with all of them, with
# clippy -D warnings so an import or item unused under one combination fails
# too. The features are read from `cargo metadata`; no tool to install.
#
#   .ci/features.sh                  # the crates below
#   .ci/features.sh clamator-cli     # just these packages
#
# Each combination is its own set of units in the target directory (the
# feature set is part of their hash), so nothing the other steps built is
# invalidated. Set CARGO_TARGET_DIR to keep them apart anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
  crates=(
    clamator-over-redis
    clamator
    clamator-contract-file
    clamator-arith-server
    clamator-cli
  )
fi

metadata=$(cargo metadata --no-deps --format-version 1 --locked)

# The features of package $1, one a line (without `default`).
features_of() {
  python3 -c '
import json, sys
name = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == name:
        for f in sorted(p["features"]):
            if f != "default":
                print(f)
        break
else:
    sys.exit(f"features.sh: no package {name} in this workspace")
' "$1" <<<"$metadata"
}

start=$SECONDS
count=0
failed=()
for crate in "${crates[@]}"; do
  mapfile -t features < <(features_of "$crate")
  combos=("--no-default-features")
  for f in "${features[@]}"; do
    combos+=("--no-default-features --features $f")
  done
  if [ ${#features[@]} -gt 1 ]; then
    combos+=("--all-features")
  fi
  for combo in "${combos[@]}"; do
    t=$SECONDS
    # $combo is split on purpose: flags and a feature name, no spaces inside.
    # shellcheck disable=SC2086
    if cargo clippy -q --locked -p "$crate" $combo -- -D warnings; then
      echo "ok   $crate $combo ($((SECONDS - t)) s)"
    else
      echo "FAIL $crate $combo ($((SECONDS - t)) s)"
      failed+=("$crate $combo")
    fi
    count=$((count + 1))
  done
done

echo "feature matrix: ${count} combinations in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
  exit 1
fi
