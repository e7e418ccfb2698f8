#!/bin/bash
# Quality on the golden MovieLens-100k split, k = 10, through the served recommender
# (eval/offline_eval.h): the served blend and each channel alone, two-tower seeds, and
# the logQ ablation. The configuration is the served one (`trainer.*`, `serving.*`,
# `operators.*` defaults; EXTRA adds `--set` overrides to every run).
# Usage: bench/training/golden_eval.sh [BUILD_DIR] [OUT_DIR]
#   env STREAMREC_DATA_DIR (default ../shared/data), SEEDS (default "1 2 3").
set -euo pipefail
build=${1:-build}
out=${2:-/tmp/streamrec-golden-eval}
bin=$build/bin/streamrec
# Test data: $STREAMREC_DATA_DIR (default <repo>/../shared/data), see README "Test data".
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${STREAMREC_DATA_DIR:-$root/../shared/data}/golden-metrics
[ -f "$data/train.tsv" ] || { echo "golden_eval.sh: $data/train.tsv not found; set STREAMREC_DATA_DIR" >&2; exit 1; }
mkdir -p "$out"
run() {  # name, args...
  local name=$1; shift
  "$bin" eval --train "$data/train.tsv" --test "$data/test.tsv" --k 10 \
    --report "$out/$name.json" "$@" ${EXTRA:-} > "$out/$name.txt"
  printf '%-22s %s\n' "$name" "$(tail -1 "$out/$name.txt")"
}
echo "                          k  users       map      ndcg precision    recall  hit_rate       mrr  coverage"
run popular --model popular
run cooc --model cooc
for seed in ${SEEDS:-1 2 3}; do
  run "two_tower_s$seed" --model two_tower --seed "$seed"
  run "blend_s$seed" --model blend --seed "$seed"
done
for seed in ${SEEDS:-1 2 3}; do
  run "two_tower_nologq_s$seed" --model two_tower --seed "$seed" --no-logq
done
