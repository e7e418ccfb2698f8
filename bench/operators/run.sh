#!/usr/bin/env bash
# Benchmarks of the user and item stages (results: bench/RESULTS.md).
# Usage: bench/operators/run.sh [BUILD_DIR] [RUNS] [EVENTS]
set -euo pipefail
build=${1:-build}
runs=${2:-3}
events=${3:-1000000}
cmake --build "$build" --target operators_stages_bench operators_micro_bench -j2
# Throughput (both stages vs bare consume of the same topic, same run), write
# amplification, state size, then freshness on a live stream.
"$build/bench/operators/operators_stages_bench" --events "$events" --runs "$runs" --window 20 \
  --partitions 16 --freshness-s 20
"$build/bench/operators/operators_micro_bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true
