#!/usr/bin/env bash
# Open-loop latency of the same catalogue served with different indexes or by different
# builds, measured in alternation so that the machine's load swings hit every variant
# alike (results: bench/RESULTS.md).
#   bench/serving/run_ann_ab.sh [BUILD_DIR] [ITEMS]
# env: ANNS ("auto exact": serving_bench serve --ann values), BENCHES (serving_bench
# binaries to compare, e.g. a copy built at an older commit; default BUILD_DIR's), RATE
# (1000 req/s), SECONDS_PER_RUN (20), ROUNDS (3). One `serving_bench serve` per variant
# (binary × index) over the same snapshot store (written first if missing), each started
# once and waiting for its index (a background HNSW graph included); then ROUNDS rounds
# of `serving_bench load` against each in turn. Besides latency, each round prints the
# server's CPU time per answered request (utime + stime from /proc, so the load
# generator's CPU is not counted): on a loaded machine the steadier figure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
ITEMS="${2:-100000}"
BENCH="$BUILD/bench/serving/serving_bench"
RATE="${RATE:-1000}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
ROUNDS="${ROUNDS:-3}"
read -r -a ANN_SET <<<"${ANNS:-auto exact}"
read -r -a BENCH_SET <<<"${BENCHES:-$BENCH}"
ANN_LIST=()
BIN_LIST=()
for b in "${BENCH_SET[@]}"; do
  for a in "${ANN_SET[@]}"; do
    ANN_LIST+=("$a")
    BIN_LIST+=("$b")
  done
done

store="${TMPDIR:-/tmp}/streamrec-serving-bench-$ITEMS"
[ -d "$store/v0000000002" ] || "$BENCH" snapshot --items "$ITEMS" --store "$store"
work="$(mktemp -d)"
pids=()
cleanup() {
  for fd in "${!ANN_LIST[@]}"; do eval "exec $((10 + fd))>&-" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ports=()
for i in "${!ANN_LIST[@]}"; do
  ann="${ANN_LIST[$i]}"
  mkfifo "$work/in$i"
  "${BIN_LIST[$i]}" serve --items "$ITEMS" --store "$store" --ann "$ann" --threads 8 <"$work/in$i" \
    >"$work/out$i" 2>&1 &
  pids+=($!)
  eval "exec $((10 + i))>\"$work/in$i\""
  for _ in $(seq 1 1200); do grep -q '^PORT' "$work/out$i" 2>/dev/null && break; sleep 0.5; done
  grep -q '^PORT' "$work/out$i" || { cat "$work/out$i"; exit 1; }
  ports+=("$(awk '/^PORT/{print $2}' "$work/out$i")")
  echo "== variant $i: ${BIN_LIST[$i]} --ann $ann: $(grep -E '^(index|PORT)' "$work/out$i" | tr '\n' ' ')"
done
# Server CPU seconds (utime + stime; clock ticks → s).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!ANN_LIST[@]}"; do
    echo "-- round $round, variant $i (--ann ${ANN_LIST[$i]}), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
    before="$(cpu_s "${pids[$i]}")"
    out="$("$BENCH" load --port "${ports[$i]}" --rate "$RATE" --seconds "$SECONDS_PER_RUN" \
      --connections 8 || true)"
    after="$(cpu_s "${pids[$i]}")"
    echo "$out"
    requests="$(echo "$out" | awk '/^requests/{print $2}')"
    errors="$(echo "$out" | sed -n 's/.*errors \([0-9]*\).*/\1/p')"
    awk -v b="$before" -v a="$after" -v n="${requests:-0}" -v e="${errors:-0}" -v v="$i" \
      'BEGIN { if (n - e > 0) printf "variant %d: server CPU %.3f ms per answered request\n", v, 1000 * (a - b) / (n - e) }'
  done
done
