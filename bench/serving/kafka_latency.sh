#!/usr/bin/env bash
# The Kafka request -> answer path of the serving operator (issue 15 item 4): requests
# produced to rec-requests, answers consumed from recommendations, latency = answer
# consumed - request produced (`serving_bench kafka`: synthetic tables over ITEMS items,
# no model, the operator's default settings). On a real Apache Kafka broker from
# scripts/kafka.sh and on the embedded broker, in the same session, interleaved; RUNS runs
# per rate, medians of each percentile. A run with an unanswered request is discarded
# (serving_bench exits 1) and counted, not reported.
#   bench/serving/kafka_latency.sh [BUILD_DIR] [RUNS] [RATES] [SECONDS]
#   defaults: build, 3, "100 1000", 15; env ITEMS (default 10000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
RUNS="${2:-3}"
RATES="${3:-100 1000}"
SECS="${4:-15}"
BENCH="$BUILD/bench/serving/serving_bench"
[ -x "$BENCH" ] || { echo "kafka_latency.sh: $BENCH not found (build first)" >&2; exit 1; }
WORK="$(mktemp -d /tmp/streamrec-kafka-latency-XXXXXX)"
cleanup() {
  bash "$ROOT/scripts/kafka.sh" stop --state-dir "$WORK/kafka" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
B="$(bash "$ROOT/scripts/kafka.sh" start --state-dir "$WORK/kafka")"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")"
echo "real broker: Apache Kafka $VERSION at $B (scripts/kafka.sh: single-node KRaft, -Xmx512m," \
  "SerialGC, 2 network + 2 I/O threads); embedded: librdkafka's mock cluster; 4 partitions;" \
  "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# run BROKER RATE -> appends "p50 p90 p99 max" to $WORK/BROKER-RATE, or counts a discard
run() {
  local broker=$1 rate=$2 args=()
  [ "$broker" = real ] && args=(--brokers "$B")
  if "$BENCH" kafka --items "${ITEMS:-10000}" --rate "$rate" --seconds "$SECS" "${args[@]}" \
      >"$WORK/out" 2>"$WORK/err"; then
    sed -n 's/.*p50 \([0-9.]*\) p90 \([0-9.]*\) p99 \([0-9.]*\) max \([0-9.]*\).*/\1 \2 \3 \4/p' \
      "$WORK/out" >>"$WORK/$broker-$rate"
  else
    echo "discarded: $broker at $rate req/s: $(tail -1 "$WORK/err")" >&2
    echo x >>"$WORK/$broker-$rate.discarded"
  fi
}
for rate in $RATES; do
  for _ in $(seq 1 "$RUNS"); do
    run real "$rate"
    run embedded "$rate"
  done
done

median() { LC_ALL=C sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "-"}'; }
echo "| broker | offered req/s | runs kept | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for rate in $RATES; do
  for broker in real embedded; do
    f="$WORK/$broker-$rate"
    kept=0; [ -f "$f" ] && kept=$(wc -l <"$f")
    cols=""
    for c in 1 2 3 4; do cols+=" | $([ -f "$f" ] && awk -v c=$c '{print $c}' "$f" | median || echo -)"; done
    echo "| $broker | $rate | $kept of $RUNS$cols |"
  done
done
