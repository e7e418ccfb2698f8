#!/usr/bin/env bash
# Our user + item stages vs the same co-occurrence counting in Kafka Streams, on the same
# topic of a real Apache Kafka broker, in the same run (bench/kstreams/README.md; results:
# bench/RESULTS.md, "Kafka Streams peer").
#   bench/kstreams/run.sh [BUILD_DIR] [RUNS] [EVENTS] [PARTITIONS]
# defaults: build 3 200000 16 (RUNS=0: freshness only). BUILD_ONLY=1: build the peer (Maven, offline first) and stop.
# FRESHNESS_S (default 20; 0 = skip): then freshness of both on a live stream, one after the
# other: operators_stages_bench --no-throughput --freshness-s S, and CoocStreams
# --freshness-s S (the same load: FRESHNESS_RATE, default 2000, background events/s and a
# probe pair every 100 ms).
#
# Per run: operators_stages_bench produces EVENTS synthetic clicks (seed 42) to a fresh
# PARTITIONS-partition topic, runs both stages on them from the start and checks them against
# the batch recomputation (--peer-totals); then the Kafka Streams peer reads the same topic
# from the start. A run counts only when both are exact: every event consumed, and items,
# item weights, distinct pairs and pair weights equal to the batch recomputation's.
# Prints a row per run and the medians of events/s and of the ratio ours / Kafka Streams.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/kstreams"
build=${1:-build}
runs=${2:-3}
events=${3:-200000}
partitions=${4:-16}
window=20

# 1. The peer: compiled classes plus its runtime classpath. Offline first (no network once
# the local Maven repository has kafka-streams), then Maven Central.
mvn_args=(-B -q -f "$here/pom.xml" compile dependency:build-classpath
  -Dmdep.outputFile="$here/target/classpath" -Dmdep.includeScope=runtime)
if ! mvn -o "${mvn_args[@]}" > /tmp/kstreams-mvn-$$.log 2>&1; then
  echo "run.sh: offline build failed; resolving from Maven Central" >&2
  mvn "${mvn_args[@]}" || { cat /tmp/kstreams-mvn-$$.log >&2; rm -f /tmp/kstreams-mvn-$$.log; exit 1; }
fi
rm -f /tmp/kstreams-mvn-$$.log
peer_cp="$here/target/classes:$(cat "$here/target/classpath")"
if [ "${BUILD_ONLY:-0}" = 1 ]; then
  echo "run.sh: peer built: $here/target/classes"
  exit 0
fi

# 2. Ours, and the broker.
cmake --build "$build" --target operators_stages_bench -j2 > /dev/null
kafka_dir="$(mktemp -d /tmp/streamrec-kstreams-kafka-XXXXXX)"
peer_dir="$(mktemp -d /tmp/streamrec-kstreams-peer-XXXXXX)"
trap 'bash "$root/scripts/kafka.sh" stop --state-dir "$kafka_dir"; rm -rf "$peer_dir"' EXIT
brokers="$(bash "$root/scripts/kafka.sh" start --state-dir "$kafka_dir")"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml")"
echo "broker: Apache Kafka $kafka_version at $brokers; $events events, $partitions partitions, window $window"

kv() { tr ' ' '\n' <<< "$1" | sed -n "s/^$2=//p"; }

ours_all=() peer_all=() ratio_all=()
[ "$runs" -eq 0 ] || echo "| run | ours ev/s | ours exact | Kafka Streams ev/s | KS first record s | KS ev/s after first record | KS exact | ratio ours/KS | pairs | pair weight |"
[ "$runs" -eq 0 ] || echo "|---|---:|---|---:|---:|---:|---|---:|---:|---:|"
for run in $(seq 1 "$runs"); do
  out="$(nice -n 10 "$build/bench/operators/operators_stages_bench" --events "$events" --runs 1 \
    --window "$window" --partitions "$partitions" --no-freshness --brokers "$brokers" --peer-totals)"
  echo "$out" >&2
  row="$(grep '^| 1 |' <<< "$out")"
  totals="$(grep '^peer-input ' <<< "$out")"
  ours_eps="$(awk -F'|' '{gsub(/ /,"",$6); print $6}' <<< "$row")"
  ours_exact="$(awk -F'|' '{gsub(/ /,"",$15); print $15}' <<< "$row")"
  topic="$(kv "$totals" topic)"
  for k in events items item_weight pairs pair_weight; do
    if [ "$(kv "$totals" "ours_$k")" != "$(kv "$totals" "batch_$k")" ]; then ours_exact=NO; fi
  done
  peer="$(nice -n 10 java -Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$peer_cp" streamrec.bench.CoocStreams --brokers "$brokers" \
    --topic "$topic" --events "$events" --window "$window" --partitions "$partitions" \
    --app-id "kstreams-peer-$$-$run" --state-dir "$peer_dir/$run" 2> "$peer_dir/stderr-$run" | grep '^kstreams ')" || {
    tail -30 "$peer_dir/stderr-$run" >&2; echo "run.sh: the Kafka Streams peer failed" >&2; exit 1; }
  echo "$peer" >&2
  peer_eps="$(kv "$peer" eps)"
  peer_exact=yes
  [ "$(kv "$peer" events)" = "$events" ] && [ "$(kv "$peer" bad_events)" = 0 ] || peer_exact=NO
  for k in items item_weight pairs pair_weight; do
    [ "$(kv "$peer" "$k")" = "$(kv "$totals" "batch_$k")" ] || peer_exact=NO
  done
  [ "$(kv "$peer" item_events)" = "$(kv "$totals" batch_events)" ] || peer_exact=NO
  ratio="$(awk -v a="$ours_eps" -v b="$peer_eps" 'BEGIN { printf "%.3f", a / b }')"
  echo "| $run | $ours_eps | $ours_exact | $(printf '%.0f' "$peer_eps") | $(kv "$peer" first_record_s) | $(printf "%.0f" "$(kv "$peer" eps_after_first)") | $peer_exact | $ratio | $(kv "$totals" batch_pairs) | $(kv "$totals" batch_pair_weight) |"
  if [ "$ours_exact" = yes ] && [ "$peer_exact" = yes ]; then
    ours_all+=("$ours_eps") peer_all+=("$peer_eps") ratio_all+=("$ratio")
  else
    echo "run.sh: run $run discarded (not exact)" >&2
  fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if [ "$runs" -gt 0 ] && [ ${#ratio_all[@]} -eq 0 ]; then
  echo "run.sh: no exact run" >&2
  exit 1
fi
[ "$runs" -eq 0 ] || echo "| median of ${#ratio_all[@]} exact runs | $(median "${ours_all[@]}") | | $(printf "%.0f" "$(median "${peer_all[@]}")") | | | | $(median "${ratio_all[@]}") | | |"

# 4. Freshness on a live stream (each on its own fresh topic, one after the other).
freshness_s=${FRESHNESS_S:-20}
freshness_rate=${FRESHNESS_RATE:-2000}
if [ "$freshness_s" -gt 0 ]; then
  out="$(nice -n 10 "$build/bench/operators/operators_stages_bench" --no-throughput \
    --freshness-s "$freshness_s" --freshness-rate "$freshness_rate" --window "$window" \
    --partitions "$partitions" --brokers "$brokers")"
  echo "$out" >&2
  ours_f="$(grep -E '^\| [0-9]+ \|' <<< "$out" | tail -1)"
  peer_f="$(nice -n 10 java -Xmx1g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$peer_cp" \
    streamrec.bench.CoocStreams --brokers "$brokers" --topic "clicks.kstreams-freshness-$$" --events 0 \
    --freshness-s "$freshness_s" --freshness-rate "$freshness_rate" --window "$window" \
    --partitions "$partitions" --app-id "kstreams-peer-$$-freshness" --state-dir "$peer_dir/freshness" 2> "$peer_dir/stderr-f" |
    grep '^kstreams-freshness ')" || { tail -30 "$peer_dir/stderr-f" >&2; echo "run.sh: peer freshness failed" >&2; exit 1; }
  echo "$peer_f" >&2
  echo
  echo "| freshness ($freshness_s s of probes, $freshness_rate background events/s) | probes | p50 ms | p99 ms | max ms |"
  echo "|---|---:|---:|---:|---:|"
  echo "| ours (probe produced -> item stage's neighbour list refreshed) $ours_f"
  echo "| Kafka Streams (probe produced -> pair added to its store) | $(kv "$peer_f" probes) of $(kv "$peer_f" sent) | $(kv "$peer_f" p50_ms) | $(kv "$peer_f" p99_ms) | $(kv "$peer_f" max_ms) |"
fi
