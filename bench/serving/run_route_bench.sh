#!/usr/bin/env bash
# Owner-forwarding cost (issue 10; results: bench/RESULTS.md "Routing by user").
#   bench/serving/run_route_bench.sh [BUILD_DIR]
# Runs `serving_bench route` RUNS times (default 5): two replicas in one process on
# loopback, A owning half of the users; open-loop GETs at RATE req/s (default 1000) to A
# for SECONDS (default 15). Per run, the p50/p99 of the requests A answered itself (the
# baseline) and of those it forwarded to B; then the medians over the runs and their ratio.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
BENCH="$BUILD/bench/serving/serving_bench"
RUNS="${RUNS:-5}"
RATE="${RATE:-1000}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$RUNS"); do
  "$BENCH" route --rate "$RATE" --seconds "$SECONDS_PER_RUN" --connections 8 | tee -a "$out"
done
awk '
  /^(local|forwarded) requests/ { p50[$1] = p50[$1] " " $7; p99[$1] = p99[$1] " " $11 }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    lp50 = median(p50["local"]); lp99 = median(p99["local"])
    fp50 = median(p50["forwarded"]); fp99 = median(p99["forwarded"])
    printf "median of %d runs: local p50 %.3f ms p99 %.3f ms; forwarded p50 %.3f ms p99 %.3f ms; ratio p50 %.2fx p99 %.2fx\n",
      split(p50["local"], x, " "), lp50, lp99, fp50, fp99, fp50 / lp50, fp99 / lp99
  }' "$out"
