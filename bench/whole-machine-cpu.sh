#!/usr/bin/env bash
# Whole-machine CPU per call at 64 in flight: busy jiffies of /proc/stat
# (everything but idle and iowait: the client, the server, Redis, the
# kernel's loopback networking) over one clamator-bench run of a pair,
# divided by its calls (warm-up included), the raw floor and rust-rust
# alternating. Run on an idle machine from the workspace root:
#
#   bash bench/whole-machine-cpu.sh [ROUNDS] [CALLS]
#
# Prints one line per run and the mean per pair. Needs a release build of
# clamator-bench (built here if missing; CLAMATOR_BENCH_BIN picks another
# binary) and redis-server on PATH.
set -euo pipefail
rounds=${1:-2}
calls=${2:-60000}
warmup=2000
bin=${CLAMATOR_BENCH_BIN:-target/release/clamator-bench}
[ -x "$bin" ] || cargo build --release --locked -p clamator-bench
hz=$(getconf CLK_TCK)

busy() {
  # user nice system idle iowait irq softirq steal ...
  awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}

declare -A total
for ((r = 1; r <= rounds; r++)); do
  for pair in raw rust-rust; do
    before=$(busy)
    "$bin" --pairs "$pair" --concurrency 64 --calls "$calls" --warmup "$warmup" \
      --warmup-ms 0 --in-flight 0 >/dev/null
    after=$(busy)
    us=$(awk -v b="$before" -v a="$after" -v n=$((calls + warmup)) -v hz="$hz" \
      'BEGIN{printf "%.1f", (a-b)*1e6/hz/n}')
    echo "round $r $pair: $us µs of whole-machine CPU per call"
    total[$pair]=$(awk -v t="${total[$pair]:-0}" -v u="$us" 'BEGIN{print t+u}')
  done
done
for pair in raw rust-rust; do
  awk -v t="${total[$pair]}" -v n="$rounds" -v p="$pair" \
    'BEGIN{printf "mean %s: %.1f µs per call\n", p, t/n}'
done
