#!/bin/bash
# Which model should serve in the lambda architecture (issue 11 item 2): on the golden
# MovieLens-100k split, through the served recommender (`streamrec eval --train --test`,
# eval/offline_eval.h), the two-tower model
#   online      one pass over the train examples in time order (the online trainer,
#               `trainer.*` defaults, replay included): --epochs 1
#   batch       5 passes over the examples before the batch cutoff (the last batch view's
#               model; the rest of the history came after it): --epochs 5 --batch-cutoff C
#   batch_fresh 5 passes over all of them (a batch view cut at the very end): --epochs 5
#   warm        batch, then one pass over the rest in order (the online trainer
#               warm-started from the batch model, from its cutoff):
#               --epochs 5 --batch-cutoff C --online-after-cutoff
# for the two-tower channel alone and the served blend.
# Usage: bench/training/lambda_model_choice.sh [BUILD_DIR] [OUT_DIR]
#   env STREAMREC_DATA_DIR (default ../shared/data), SEEDS (default "1 2"), CUTOFF
#   (default 0.9), MODELS (default "two_tower blend"), EXTRA (--set overrides).
set -euo pipefail
build=${1:-build}
out=${2:-/tmp/streamrec-lambda-model}
bin=$build/bin/streamrec
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${STREAMREC_DATA_DIR:-$root/../shared/data}/golden-metrics
[ -f "$data/train.tsv" ] || { echo "lambda_model_choice.sh: $data/train.tsv not found; set STREAMREC_DATA_DIR" >&2; exit 1; }
cutoff=${CUTOFF:-0.9}
mkdir -p "$out"
run() {  # name, args...
  local name=$1; shift
  local start=$SECONDS
  "$bin" eval --train "$data/train.tsv" --test "$data/test.tsv" --k 10 --no-plot \
    --report "$out/$name.json" "$@" ${EXTRA:-} > "$out/$name.txt"
  printf '%-28s %s  (%ds)\n' "$name" "$(grep -E '^ +10 ' "$out/$name.txt" | tail -1)" $((SECONDS - start))
}
echo "                                k  users       map      ndcg precision    recall  hit_rate       mrr  coverage"
for model in ${MODELS:-two_tower blend}; do
  for seed in ${SEEDS:-1 2}; do
    run "${model}_online_s$seed" --model "$model" --seed "$seed" --epochs 1
    run "${model}_batch_s$seed" --model "$model" --seed "$seed" --epochs 5 --batch-cutoff "$cutoff"
    run "${model}_warm_s$seed" --model "$model" --seed "$seed" --epochs 5 --batch-cutoff "$cutoff" --online-after-cutoff
    run "${model}_batch_fresh_s$seed" --model "$model" --seed "$seed" --epochs 5
  done
done
