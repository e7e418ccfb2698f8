#!/bin/bash
# Quality run on the golden MovieLens-100k split (issue 4 acceptance), k = 10:
# pop, cooc, two_tower, blend, and the logQ ablation over several seeds.
# Usage: bench/training/golden_eval.sh [BUILD_DIR] [OUT_DIR]
# Tuning was done on a per-user chronological 75/25 split of train.tsv only
# (bench/training/split_train.py); see bench/RESULTS.md.
set -euo pipefail
build=${1:-build}
out=${2:-/tmp/streamrec-golden-eval}
bin=$build/bin/streamrec
# Test data: $STREAMREC_DATA_DIR (default <repo>/../shared/data), see README "Test data".
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${STREAMREC_DATA_DIR:-$root/../shared/data}/golden-metrics
[ -f "$data/train.tsv" ] || { echo "golden_eval.sh: $data/train.tsv not found; set STREAMREC_DATA_DIR" >&2; exit 1; }
mkdir -p "$out"
# The two-tower configuration chosen on the validation split.
TT=${TT:-"--epochs 5 --no-user-id --tau 0.1 --max-history 200"}
run() {  # name, args...
  local name=$1; shift
  "$bin" eval --train "$data/train.tsv" --test "$data/test.tsv" --k 10 \
    --report "$out/$name.json" "$@" > "$out/$name.txt"
  printf '%-22s %s\n' "$name" "$(tail -1 "$out/$name.txt")"
}
echo "                          k  users       map      ndcg precision    recall  hit_rate       mrr  coverage"
run pop --model pop
run cooc --model cooc
for seed in ${SEEDS:-1 2 3}; do
  run "two_tower_s$seed" --model two_tower --seed "$seed" $TT
  run "two_tower_nologq_s$seed" --model two_tower --seed "$seed" --no-logq $TT
done
for seed in ${SEEDS:-1 2 3}; do
  run "blend_s$seed" --model blend --seed "$seed" $TT ${BLEND:-}
done
