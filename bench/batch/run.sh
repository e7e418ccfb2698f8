#!/usr/bin/env bash
# The batch layer's recomputation throughput beside the speed layer's (issue 11), on
# MovieLens-100k (results: bench/RESULTS.md, "Batch layer").
# Usage: bench/batch/run.sh [BUILD_DIR] [RUNS]
#  1. operators_stages_bench --history u.data --batch: the user and item stages consume
#     the 100,000 ratings from `clicks` on the embedded broker (4 partitions), then the
#     batch layer recomputes the same topic (read + recompute + write the view); one
#     line per run with both rates and whether the batch view equals the stage's state.
#  2. `streamrec batch` on the file itself, views only and with the model (5 epochs),
#     as a user runs it (summary line: events/s of the whole command).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=${1:-$root/build}
runs=${2:-3}
data="${STREAMREC_DATA_DIR:-$root/../shared/data}/ml-100k/u.data"
[ -f "$data" ] || { echo "no MovieLens-100k at $data (set STREAMREC_DATA_DIR)" >&2; exit 1; }
cmake --build "$build" --target operators_stages_bench streamrec -j2
"$build/bench/operators/operators_stages_bench" --history "$data" --batch --runs "$runs" --partitions 4 \
  --window 20 --no-freshness
out="$(mktemp -d /tmp/streamrec-bench-batch-XXXXXX)"
trap 'rm -rf "$out"' EXIT
for i in $(seq "$runs"); do
  "$build/bin/streamrec" batch "$data" --format movielens --out "$out" --no-model --no-progress
done
"$build/bin/streamrec" --set trainer.device=cpu batch "$data" --format movielens --out "$out" --no-progress
