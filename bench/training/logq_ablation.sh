#!/usr/bin/env bash
# The logQ correction measured where it matters (issue 9 item 5): through the served
# recommender, with and without `trainer.logq_correction`, over seeds, with catalogue
# coverage beside each figure.
#  - prequential (test-then-train, the barrier; eval/prequential.h): the first LIMIT
#    events of MovieLens-100k and the synthetic stream with view/cart/purchase funnels;
#  - offline, the golden MovieLens-100k split (`streamrec eval --train --test`).
# Each for the served blend and the two-tower channel alone. Prints a Markdown table.
# Usage: bench/training/logq_ablation.sh [BUILD_DIR] [OUT_DIR]
#   env STREAMREC_DATA_DIR (default ../shared/data), SEEDS (default "1 2 3"), LIMIT
#   (default 20000), PARTS (default "movielens synthetic golden"), CHANNELS (default
#   "blend two_tower").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-/tmp/streamrec-logq-ablation}"
DATA="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}"
BIN="$BUILD/bin/streamrec"
[ -x "$BIN" ] || { echo "logq_ablation.sh: $BIN not found (build first)" >&2; exit 1; }
mkdir -p "$OUT"

# name, metric prefix (prequential: hit_rate/ndcg/coverage; eval: ...@10), json
row() {
  python3 - "$@" <<'PY'
import json, sys
name, kind, path = sys.argv[1:4]
d = json.load(open(path))
if kind == "prequential":
    h, n, c = d["hit_rate"], d["ndcg"], d["coverage"]
else:
    h, n, c = d["hit_rate@10"], d["ndcg@10"], d["coverage@10"]
print(f"| {name} | {h:.4f} | {n:.4f} | {c:.3f} |")
PY
}

channel_args() {  # prequential: blend or one channel
  if [ "$1" = blend ]; then echo "--model blend"; else echo "--channels $1"; fi
}

echo "| run | HitRate@10 | NDCG@10 | coverage@10 |"
echo "| --- | ---: | ---: | ---: |"
for part in ${PARTS:-movielens synthetic golden}; do
  for ch in ${CHANNELS:-blend two_tower}; do
    for logq in true false; do
      for seed in ${SEEDS:-1 2 3}; do
        name="$part $ch logq=$logq seed=$seed"
        f="$OUT/${part}-${ch}-logq_${logq}-s${seed}"
        set_args=(--set "trainer.seed=$seed" --set "trainer.logq_correction=$logq")
        case "$part" in
          movielens)
            [ -f "$DATA/ml-100k/u.data" ] || { echo "no $DATA/ml-100k/u.data" >&2; exit 1; }
            # shellcheck disable=SC2046
            "$BIN" "${set_args[@]}" bench prequential --data "$DATA/ml-100k/u.data" \
              --items "$DATA/ml-100k/u.item" $(channel_args "$ch") --limit "${LIMIT:-20000}" \
              --window 5000 --report "$f.json" --no-plot >"$f.txt" 2>"$f.log"
            row "$name" prequential "$f.json" ;;
          synthetic)
            # shellcheck disable=SC2046
            "$BIN" "${set_args[@]}" bench prequential --synthetic "${LIMIT:-20000}" --funnels 0.3 \
              $(channel_args "$ch") --window 5000 --report "$f.json" --no-plot >"$f.txt" 2>"$f.log"
            row "$name" prequential "$f.json" ;;
          golden)
            g="$DATA/golden-metrics"
            [ -f "$g/train.tsv" ] || { echo "no $g/train.tsv" >&2; exit 1; }
            "$BIN" "${set_args[@]}" eval --train "$g/train.tsv" --test "$g/test.tsv" --k 10 \
              --model "$ch" --report "$f.json" --no-plot >"$f.txt" 2>"$f.log"
            row "$name" eval "$f.json" ;;
          *) echo "logq_ablation.sh: unknown part $part" >&2; exit 2 ;;
        esac
      done
    done
  done
done
