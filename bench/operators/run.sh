#!/usr/bin/env bash
# Benchmarks of the user and item stages (results: bench/RESULTS.md).
# Usage: bench/operators/run.sh [BUILD_DIR] [RUNS] [EVENTS]
# BROKER=real (the default where Java is installed): a real Apache Kafka broker
# (scripts/kafka.sh, started and stopped here); BROKER=embedded: the embedded one, whose
# ~5 MB-per-partition retention drops the item stage's unread input on a long backlog
# (1M events): such a run is not exact, the bench leaves it out of its median and exits 3
# when no run is exact. The broker-less cost per event of each stage:
#   "$build/bench/operators/operators_stage_cpu_bench" --events 100000 --runs 3
set -euo pipefail
build=${1:-build}
runs=${2:-3}
events=${3:-1000000}
cmake --build "$build" --target operators_stages_bench operators_micro_bench -j2
broker_flags=()
broker=${BROKER:-}
if [ -z "$broker" ]; then
  if command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then broker=real; else broker=embedded; fi
fi
echo "broker: $broker" >&2
if [ "$broker" = real ]; then
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
