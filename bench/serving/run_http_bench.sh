#!/usr/bin/env bash
# HTTP serving benchmark on loopback (results: bench/RESULTS.md).
#   bench/serving/run_http_bench.sh [BUILD_DIR] [ITEMS...]
# For each catalogue size: writes two model snapshots (training/'s Trainer), measures the
# swap v1 → v2, starts `serving_bench serve` (synthetic tables + the snapshot), then
#   1. open-loop load at 1,000 req/s (latency from the scheduled send time), and
#   2. wrk closed-loop throughput (needs the Debian package `wrk`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(10000 100000)
BENCH="$BUILD/bench/serving/serving_bench"
RATE="${RATE:-1000}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"

for n in "${SIZES[@]}"; do
  store="${TMPDIR:-/tmp}/streamrec-serving-bench-$n"
  [ -d "$store/v0000000002" ] || "$BENCH" snapshot --items "$n" --store "$store"
  echo "== $n items: swap"
  "$BENCH" swap --store "$store"
  echo "== $n items: serve"
  fifo="$(mktemp -u)"
  mkfifo "$fifo"
  "$BENCH" serve --items "$n" --store "$store" --threads 8 <"$fifo" >"$fifo.out" 2>&1 &
  server=$!
  exec 9>"$fifo"
  for _ in $(seq 1 600); do grep -q '^PORT' "$fifo.out" 2>/dev/null && break; sleep 0.5; done
  port="$(awk '/^PORT/{print $2}' "$fifo.out")"
  cat "$fifo.out"
  echo "-- open loop, $RATE req/s"
  "$BENCH" load --port "$port" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --connections 8 || true
  if command -v wrk >/dev/null; then
    echo "-- wrk, 2 threads, 16 connections"
    wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$ROOT/bench/serving/recommendations.lua" \
      "http://127.0.0.1:$port" || true
  fi
  exec 9>&-
  wait "$server" || true
  rm -f "$fifo" "$fifo.out"
done
