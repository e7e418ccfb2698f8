#!/usr/bin/env bash
# Benchmarks of the user and item stages (results: bench/RESULTS.md).
# Usage: bench/operators/run.sh [BUILD_DIR] [RUNS] [EVENTS]
# BROKER=real: on a real Apache Kafka broker (scripts/kafka.sh, started and stopped here)
# instead of the embedded one.
set -euo pipefail
build=${1:-build}
runs=${2:-3}
events=${3:-1000000}
cmake --build "$build" --target operators_stages_bench operators_micro_bench -j2
broker_flags=()
if [ "${BROKER:-embedded}" = real ]; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  kafka_dir="$(mktemp -d /tmp/streamrec-bench-kafka-XXXXXX)"
  trap 'bash "$root/scripts/kafka.sh" stop --state-dir "$kafka_dir"' EXIT
  broker_flags=(--brokers "$(bash "$root/scripts/kafka.sh" start --state-dir "$kafka_dir")")
fi
# Throughput (both stages vs bare consume of the same topic, same run), write
# amplification, state size, then freshness on a live stream.
"$build/bench/operators/operators_stages_bench" --events "$events" --runs "$runs" --window 20 \
  --partitions 16 --freshness-s 20 "${broker_flags[@]}"
"$build/bench/operators/operators_micro_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true
# Cost of synced commits (bench/RESULTS.md, "Synced commits"): each run twice, off and on.
#   "$build/bench/operators/operators_stages_bench" --events 200000 --runs 5 --partitions 16 \
#     --window 20 --no-freshness --sync-commits both
#   "$build/bench/operators/operators_micro_bench" --benchmark_filter=StateDbCommit --benchmark_repetitions=5
