#!/usr/bin/env bash
# `streamrec produce` vs `kcat -P` producing the same 100k click events into the embedded
# broker (or, BROKER=real, a real Apache Kafka 4.4.0 broker from scripts/kafka.sh), same
# run, interleaved, median of RUNS runs each. Both key by user id, use the Java partitioner
# and idempotence (acks=all); streamrec also validates every line.
#   bench/streams/produce_vs_kcat.sh [BUILD_DIR] [RUNS] [embedded|real]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
RUNS="${2:-5}"
BROKER="${3:-embedded}"
BIN="$BUILD/bin/streamrec"
DATA="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}/ml-100k/u.data"
[ -f "$DATA" ] || { echo "$DATA not found; set STREAMREC_DATA_DIR (README: Test data)" >&2; exit 1; }
command -v kcat >/dev/null || { echo "kcat not installed" >&2; exit 1; }
WORK="$(mktemp -d /tmp/streamrec-bench-XXXXXX)"
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  if [ "$BROKER" = real ]; then bash "$ROOT/scripts/kafka.sh" stop --state-dir "$WORK/kafka" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The same events twice: JSON lines for streamrec, "user<TAB>json" for kcat -K.
bash "$ROOT/bench/streams/movielens_events.sh" "$DATA" "$WORK"
LINES=$(wc -l < "$WORK/events.jsonl")
BYTES=$(wc -c < "$WORK/events.jsonl")

case "$BROKER" in
  embedded)
    "$BIN" broker --partitions 8 --bootstrap-file "$WORK/bootstrap" > "$WORK/broker.out" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 300); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
    B="$(cat "$WORK/bootstrap")"
    BROKER_DESC="embedded (librdkafka mock cluster), 8 partitions"
    ;;
  real)
    B="$(bash "$ROOT/scripts/kafka.sh" start --state-dir "$WORK/kafka")"
    "$BIN" topics create --brokers "$B" --partitions 8 --replication 1 --topic clicks --topic clicks.dlq > /dev/null
    BROKER_DESC="Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml") (scripts/kafka.sh: single-node KRaft, -Xmx512m, SerialGC, 2 network + 2 I/O threads), 8 partitions"
    ;;
  *) echo "broker must be embedded or real, not '$BROKER'" >&2; exit 2 ;;
esac

now() { date +%s.%N; }
# Floating-point arithmetic without bc: calc "1.5 / 3".
calc() { awk "BEGIN { print $1 }"; }
ours=(); theirs=(); inner=(); startup=()
for i in $(seq 1 "$RUNS"); do
  t0=$(now)
  "$BIN" produce --brokers "$B" --file "$WORK/events.jsonl" > "$WORK/produce.out"
  t1=$(now)
  kcat -P -b "$B" -t clicks -K $'\t' -X enable.idempotence=true -X partitioner=murmur2_random \
    -X linger.ms=5 < "$WORK/events.keyed"
  t2=$(now)
  ours+=("$(calc "$t1 - $t0")")
  # The summary line's own time: from the first line read to the last delivery report.
  inner+=("$(sed -n 's/.* failed, \([0-9.]*\) s, .*/\1/p' "$WORK/produce.out")")
  t3=$(now)
  "$BIN" --version > /dev/null
  t4=$(now)
  startup+=("$(calc "$t4 - $t3")")
  theirs+=("$(calc "$t2 - $t1")")
  grep -q "$LINES accepted" "$WORK/produce.out" || { cat "$WORK/produce.out"; exit 1; }
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${ours[@]}"); mk=$(median "${theirs[@]}"); mi=$(median "${inner[@]}"); ms=$(median "${startup[@]}")
echo "events: $LINES ($BYTES bytes), runs: $RUNS, broker: $BROKER_DESC"
echo "streamrec produce runs (s): ${ours[*]}"
echo "kcat -P runs (s):           ${theirs[*]}"
echo "streamrec produce, own time (s): ${inner[*]}"
echo "streamrec --version (process start-up, s): ${startup[*]}"
printf '| tool | median s | events/s |\n| --- | ---: | ---: |\n'
printf '| streamrec produce (validate + produce) | %.3f | %.0f |\n' "$mo" "$(calc "$LINES / $mo")"
printf '| streamrec produce, own time (summary line: read → last delivery) | %.3f | %.0f |\n' "$mi" "$(calc "$LINES / $mi")"
printf '| kcat -P | %.3f | %.0f |\n' "$mk" "$(calc "$LINES / $mk")"
printf '| (streamrec --version: process start-up) | %.3f | |\n' "$ms"
printf 'throughput ratio streamrec/kcat, whole command: %.2f\n' "$(calc "$mk / $mo")"
printf 'throughput ratio streamrec/kcat, own time:      %.2f\n' "$(calc "$mk / $mi")"
