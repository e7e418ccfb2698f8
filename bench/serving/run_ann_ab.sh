#!/usr/bin/env bash
# Open-loop latency of the same catalogue served with different indexes, measured in
# alternation so that the machine's load swings hit every variant alike (results:
# bench/RESULTS.md).
#   bench/serving/run_ann_ab.sh [BUILD_DIR] [ITEMS]
# env: ANNS ("auto exact": serving_bench serve --ann values), RATE (1000 req/s),
# SECONDS_PER_RUN (20), ROUNDS (3). One `serving_bench serve` per variant over the same
# snapshot store (written first if missing), each started once and waiting for its index
# (a background HNSW graph included); then ROUNDS rounds of `serving_bench load` against
# each in turn.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
ITEMS="${2:-100000}"
BENCH="$BUILD/bench/serving/serving_bench"
RATE="${RATE:-1000}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
ROUNDS="${ROUNDS:-3}"
read -r -a ANN_LIST <<<"${ANNS:-auto exact}"

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
  "$BENCH" serve --items "$ITEMS" --store "$store" --ann "$ann" --threads 8 <"$work/in$i" \
    >"$work/out$i" 2>&1 &
  pids+=($!)
  eval "exec $((10 + i))>\"$work/in$i\""
  for _ in $(seq 1 1200); do grep -q '^PORT' "$work/out$i" 2>/dev/null && break; sleep 0.5; done
  grep -q '^PORT' "$work/out$i" || { cat "$work/out$i"; exit 1; }
  ports+=("$(awk '/^PORT/{print $2}' "$work/out$i")")
  echo "== --ann $ann: $(grep -E '^(index|PORT)' "$work/out$i" | tr '\n' ' ')"
done
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!ANN_LIST[@]}"; do
    echo "-- round $round, --ann ${ANN_LIST[$i]}, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BENCH" load --port "${ports[$i]}" --rate "$RATE" --seconds "$SECONDS_PER_RUN" \
      --connections 8 || true
  done
done
