#!/usr/bin/env bash
# Restore time and throughput of a 1M-event store from its changelog (issue 10; results:
# bench/RESULTS.md "Restore from the changelog").
#   bench/restore/run_restore_bench.sh [BUILD_DIR] [EVENTS] [RESTORES]
# Starts a real Apache Kafka broker (scripts/kafka.sh; stopped at the end), builds the
# user stage's stores from EVENTS synthetic clicks (default 1,000,000) with the changelog
# on, then RESTORES times (default 3) deletes the state directory and times the restore
# from the changelog, beside a bare consume of the same changelog (restore_bench.cc says
# what each column is). A restore whose stores differ from those before the deletion is
# marked exact=NO and the script exits non-zero: discard that run.
# BROKER=embedded: the embedded broker instead (its ~5 MB per-partition retention may drop
# changelog records: such runs end exact=NO). ITEM=1: the item stage too (slower).
# Prints the load average before and after, for the record.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
EVENTS="${2:-1000000}"
RESTORES="${3:-3}"
cmake --build "$BUILD" --target restore_bench -j2
flags=(--events "$EVENTS" --restores "$RESTORES" --partitions "${PARTITIONS:-8}")
if [ "${ITEM:-0}" = 1 ]; then flags+=(--item); fi
if [ "${BROKER:-real}" = real ]; then
  kafka_dir="$(mktemp -d /tmp/streamrec-restore-kafka-XXXXXX)"
  trap 'bash "$ROOT/scripts/kafka.sh" stop --state-dir "$kafka_dir"' EXIT
  flags+=(--brokers "$(bash "$ROOT/scripts/kafka.sh" start --state-dir "$kafka_dir")")
fi
echo "start $(date -u +%Y-%m-%dT%H:%M:%SZ), load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
status=0
"$BUILD/bench/restore/restore_bench" "${flags[@]}" || status=$?
echo "end $(date -u +%Y-%m-%dT%H:%M:%SZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
