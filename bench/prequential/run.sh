#!/usr/bin/env bash
# Prequential (test-then-train) evaluation of the served system on MovieLens-100k in time
# order, with the barrier (eval/prequential.h): the served blend, each channel alone, and
# the baselines top, mc, itemknn. Deterministic: no rate, no machine-load dependence.
# Each run writes OUT/prequential-RUN.json and its curve (.svg, gnuplot); the end draws
# them all in OUT/prequential.svg (`streamrec bench plot`: curves and the ablation).
# Usage: bench/prequential/run.sh [BUILD_DIR] [OUT_DIR]
#   env STREAMREC_DATA_DIR (default ../shared/data), RUNS (default: all below),
#   EXTRA (extra streamrec flags, e.g. "--set operators.window.size=50").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-$ROOT/bench/out}"
DATA="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}/ml-100k"
[ -f "$DATA/u.data" ] || { echo "$DATA/u.data not found; set STREAMREC_DATA_DIR (README: Test data)" >&2; exit 1; }
mkdir -p "$OUT"
RUNS=${RUNS:-"blend cooc two_tower popular top mc itemknn"}
for run in $RUNS; do
  case "$run" in
    blend) args=(--model blend) ;;
    top|mc|itemknn) args=(--model "$run") ;;
    *) args=(--channels "$run") ;;
  esac
  "$BUILD/bin/streamrec" ${EXTRA:-} bench prequential --data "$DATA/u.data" --items "$DATA/u.item" \
    "${args[@]}" --window 10000 --report "$OUT/prequential-$run.json" \
    2>"$OUT/prequential-$run.log" | tee -a "$OUT/prequential.txt"
done
"$BUILD/bin/streamrec" bench plot --title "Prequential MovieLens-100k (test-then-train, time order)" \
  --out "$OUT/prequential.svg" $(for run in $RUNS; do echo "$OUT/prequential-$run.json"; done)
