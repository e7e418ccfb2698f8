#!/usr/bin/env bash
# Prequential HitRate@10 / NDCG@10 of the live pipeline on MovieLens-100k replayed in time
# order, for cooc alone, two_tower alone and the blend (DESIGN §7 streaming evaluation).
# Usage: bench/prequential/run.sh [BUILD_DIR] [RATE]   (reports under bench/out/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
RATE="${2:-1000}"
DATA="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}/ml-100k"
[ -f "$DATA/u.data" ] || { echo "$DATA/u.data not found; set STREAMREC_DATA_DIR (README: Test data)" >&2; exit 1; }
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
for model in cooc two_tower blend; do
  "$BUILD/bin/streamrec" bench prequential --data "$DATA/u.data" --items "$DATA/u.item" \
    --model "$model" --rate "$RATE" --window 10000 --report "$OUT/prequential-$model.json" \
    2>"$OUT/prequential-$model.log" | tee -a "$OUT/prequential.txt"
done
