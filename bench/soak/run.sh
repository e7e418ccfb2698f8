#!/usr/bin/env bash
# Memory soak (issue 12 item 5): the four stages as separate processes (user, item, trainer,
# serving: what `streamrec run` runs in one process, here apart so that each stage's memory
# is its own) on a broker, fed synthetic clicks at a steady rate for DURATION seconds, with
# every stage's RSS sampled every SAMPLE seconds from /proc. Reports per stage: RSS over the
# first minute after the warm-up (WARMUP seconds) and over the feed's last minute (means:
# snapshot swaps make single samples swing), the growth between them, and the peak.
#
# MODE=run instead runs `streamrec run --no-generator` (every stage in one process, as
# issue 12 item 5 states the soak) against the same broker and feed.
#
# The warm-up ends at WARMUP seconds or 30 s after serving swapped in its first model,
# whichever is later: until the trainer's first snapshot is served, serving holds no model
# (a one-off step of ~50-100 MiB, not growth). When that happened is printed.
#
#   bench/soak/run.sh [BUILD_DIR]
#   env: MODE=stages|run DURATION=600 RATE=2000 WARMUP=120 SAMPLE=5 USERS=20000 ITEMS=5000
#        BROKER=real|embedded (default real: scripts/kafka.sh; the embedded broker's
#        ~5 MB-per-partition retention drops unread records on a long run, and its
#        memory is not the pipeline's) OUT=DIR (samples.tsv, logs; default a temp dir)
#        STREAMREC_ARGS="--set KEY=VALUE ..." (global options given to every stage, e.g.
#        --set state.memory_budget_mb=64)
#
# The run checks its own result and says DISCARDED instead of reporting when it is not
# exact: the producer must have sent every event at the asked pace, and after the feed
# stops the exact stages (user, item) must catch up (consumer lag 0 on their /metrics)
# within DRAIN seconds (default 300). The trainer is not held to it: it trains as fast as
# it can and may fall behind a fast stream by design (its lag is printed). Exit: 0
# reported, 1 discarded or failed, 2 usage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/bin/streamrec"
DURATION="${DURATION:-600}"
RATE="${RATE:-2000}"
WARMUP="${WARMUP:-120}"
SAMPLE="${SAMPLE:-5}"
USERS="${USERS:-20000}"
ITEMS="${ITEMS:-5000}"
DRAIN="${DRAIN:-300}"
BROKER="${BROKER:-real}"
MODE="${MODE:-stages}"
case "$MODE" in stages|run) ;; *) echo "MODE must be stages or run" >&2; exit 2 ;; esac
[ -x "$BIN" ] && [ -x "$BUILD/bin/streamrec-model" ] || {
  echo "$BIN / streamrec-model not built (cmake --build $BUILD --target streamrec streamrec-model)" >&2; exit 2; }
[ "$WARMUP" -lt "$DURATION" ] || { echo "WARMUP ($WARMUP) must be below DURATION ($DURATION)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not installed" >&2; exit 2; }
WORK="${OUT:-$(mktemp -d /tmp/streamrec-soak-XXXXXX)}"
mkdir -p "$WORK"
declare -A PID
BROKER_PID=""
KAFKA_DIR="$WORK/kafka"
cleanup() {
  for s in "${!PID[@]}"; do kill -TERM "${PID[$s]}" 2>/dev/null || true; done
  for s in "${!PID[@]}"; do wait "${PID[$s]}" 2>/dev/null || true; done
  if [ -n "$BROKER_PID" ]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  if [ "$BROKER" = real ]; then bash "$ROOT/scripts/kafka.sh" stop --state-dir "$KAFKA_DIR" >/dev/null 2>&1 || true; fi
  [ -n "${OUT:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "$BROKER" in
  real) BROKERS="$(bash "$ROOT/scripts/kafka.sh" start --state-dir "$KAFKA_DIR" | tail -1)" ;;
  embedded)
    "$BIN" broker --partitions 4 --bootstrap-file "$WORK/bootstrap" > "$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
    BROKERS="$(cat "$WORK/bootstrap")" ;;
  *) echo "BROKER must be real or embedded" >&2; exit 2 ;;
esac
echo "broker ($BROKER): $BROKERS"
# The embedded broker makes its own topics (4 partitions each); on the real one, the Admin API.
if [ "$BROKER" = real ]; then
  "$BIN" topics create --brokers "$BROKERS" --partitions 4 --replication 1 > "$WORK/topics.log" 2>&1 || {
    echo "topics create failed:" >&2; cat "$WORK/topics.log" >&2; exit 1; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A METRICS
if [ "$MODE" = run ]; then
  STAGES=(run)
  METRICS[run]="127.0.0.1:$(free_port)"
  # shellcheck disable=SC2086 # word splitting of STREAMREC_ARGS is intended
  "$BIN" ${STREAMREC_ARGS:-} run --brokers "$BROKERS" --no-generator --state-dir "$WORK/state" --quiet \
    --metrics "${METRICS[run]}" --http "127.0.0.1:$(free_port)" > "$WORK/run.log" 2>&1 &
  PID[run]=$!
else
  STAGES=(user item trainer serving)
  for s in "${STAGES[@]}"; do
    METRICS[$s]="127.0.0.1:$(free_port)"
    extra=()
    [ "$s" = serving ] && extra=(--http "127.0.0.1:$(free_port)")
    # shellcheck disable=SC2086 # word splitting of STREAMREC_ARGS is intended
    "$BIN" ${STREAMREC_ARGS:-} stage "$s" --brokers "$BROKERS" --state-dir "$WORK/state" --metrics "${METRICS[$s]}" "${extra[@]}" \
      > "$WORK/$s.log" 2>&1 &
    PID[$s]=$!
  done
fi
SERVING_METRICS="${METRICS[serving]:-${METRICS[run]:-}}"
sleep 5
for s in "${STAGES[@]}"; do
  kill -0 "${PID[$s]}" 2>/dev/null || { echo "stage $s exited at start:" >&2; tail -20 "$WORK/$s.log" >&2; exit 1; }
done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
TOTAL=$(awk -v r="$RATE" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
echo "feeding $TOTAL events at $RATE/s for ${DURATION}s ($USERS users, $ITEMS items); samples every ${SAMPLE}s in $WORK/samples.tsv"
"$BIN" produce --brokers "$BROKERS" --synthetic "$TOTAL" --rate "$RATE" --synthetic-users "$USERS" \
  --synthetic-items "$ITEMS" > "$WORK/produce.log" 2>&1 &
PRODUCER=$!
model_version() {  # the two-tower version serving answers with (0: none yet)
  curl -sf "http://$SERVING_METRICS/metrics" |
    awk '/^streamrec_model_version[{ ].*two_tower/ {v = $NF} END {printf "%d", v}'
}
# What the bounded caches hold, from /metrics, summed over every endpoint: the growth of
# RSS is read against them (a cache filling to its bound vs something unbounded).
metric_mib() {  # the sum of series $1 over all endpoints, in MiB (0 where none reports it)
  for e in "${METRICS[@]}"; do curl -sf "http://$e/metrics" || true; done |
    awk -v name="$1" '$1 == name || index($1, name "{") == 1 {s += $NF} END {printf "%.1f", s / 1048576}'
}
GAUGES=(streamrec_process_heap_in_use_bytes streamrec_process_heap_free_bytes streamrec_serving_user_state_bytes
  streamrec_state_memory_in_use_bytes streamrec_state_memtable_bytes streamrec_operators_item_cache_bytes
  streamrec_serving_table_bytes)
header="t_s"
for s in "${STAGES[@]}"; do header+=$'\t'"${s}_kib"; done
header+=$'\t'"model_version"
for g in "${GAUGES[@]}"; do header+=$'\t'"${g#streamrec_}_mib"; done
printf '%s\n' "$header" > "$WORK/samples.tsv"
start=$SECONDS
while kill -0 "$PRODUCER" 2>/dev/null; do
  row="$((SECONDS - start))"
  for s in "${STAGES[@]}"; do
    kill -0 "${PID[$s]}" 2>/dev/null || { echo "DISCARDED: stage $s died during the soak:" >&2; tail -20 "$WORK/$s.log" >&2; exit 1; }
    row+=$'\t'"$(rss_kib "${PID[$s]}")"
  done
  row+=$'\t'"$(model_version)"
  for g in "${GAUGES[@]}"; do row+=$'\t'"$(metric_mib "$g")"; done
  echo "$row" >> "$WORK/samples.tsv"
  sleep "$SAMPLE"
done
produced_rc=0
wait "$PRODUCER" || produced_rc=$?
fed=$((SECONDS - start))
if [ "$produced_rc" -ne 0 ]; then echo "DISCARDED: the producer failed (rc $produced_rc):" >&2; cat "$WORK/produce.log" >&2; exit 1; fi
# The feed must have kept its pace (a producer that fell behind did not load the stages as asked).
if [ "$fed" -gt $((DURATION + DURATION / 10 + 10)) ]; then
  echo "DISCARDED: the feed took ${fed}s for a ${DURATION}s run (the producer could not keep $RATE/s)" >&2; exit 1
fi

lag_of() {  # stage $2's summed consumer lag on endpoint $1, or "?" before it reported one
  curl -sf "http://$1/metrics" | awk -v stage="stage=\"$2\"" \
    '/^streamrec_consumer_lag[{ ]/ && index($0, stage) {s += $NF; n++} END {if (n) printf "%d", s; else print "?"}'
}
endpoint_of() { echo "${METRICS[$1]:-${METRICS[run]}}"; }
drained=""
for _ in $(seq "$DRAIN"); do
  all=1
  for s in user item; do [ "$(lag_of "$(endpoint_of $s)" $s)" = 0 ] || all=0; done
  [ "$all" = 1 ] && { drained=yes; break; }
  sleep 1
done
if [ -z "$drained" ]; then
  echo "DISCARDED: the stages did not catch up within ${DRAIN}s after the feed (lag user $(lag_of "$(endpoint_of user)" user), item $(lag_of "$(endpoint_of item)" item))" >&2
  exit 1
fi

echo "exact: $TOTAL events sent in ${fed}s, user and item stages caught up (lag 0); trainer lag $(lag_of "$(endpoint_of trainer)" trainer) examples"
python3 - "$WORK/samples.tsv" "$WARMUP" <<'EOF'
import sys
path, warmup = sys.argv[1], float(sys.argv[2])
rows = [l.rstrip("\n").split("\t") for l in open(path)]
head, rows = rows[0], [[float(x) for x in r] for r in rows[1:]]
mv = head.index("model_version")
first_model = next((r[0] for r in rows if r[mv] > 0), None)
if first_model is None:
    print("serving swapped in no model during the soak: the warm-up is WARMUP alone")
else:
    print(f"serving's first model at {first_model:.0f} s; warm-up until {max(warmup, first_model + 30):.0f} s")
    warmup = max(warmup, first_model + 30)
after = [r for r in rows if r[0] >= warmup]
if len(after) < 2:
    sys.exit("too few samples after the warm-up")
# A snapshot swap (every ~10 s) and a commit's write batch are transients of 50-70 MiB
# each: one sample swings by +-5%, so both ends are a minute's mean.
span = 60.0
first = [r for r in after if r[0] < after[0][0] + span]
last = [r for r in after if r[0] > after[-1][0] - span]
mean = lambda rs, i: sum(r[i] for r in rs) / len(rs)
print(f"RSS and gauges: the mean of the first minute after the warm-up "
      f"({first[0][0]:.0f}-{first[-1][0]:.0f} s, {len(first)} samples) and of the last "
      f"({last[0][0]:.0f}-{last[-1][0]:.0f} s, {len(last)} samples); peak: the largest sample")
print(f"{'stage':<8} {'RSS at warm-up':>15} {'RSS at end':>11} {'growth':>8} {'peak':>9}")
for i, name in enumerate(head[1:mv], start=1):
    w, e = mean(first, i) / 1024, mean(last, i) / 1024
    peak = max(r[i] for r in rows) / 1024
    print(f"{name.replace('_kib', ''):<8} {w:>11.0f} MiB {e:>7.0f} MiB {100 * (e - w) / w:>+7.1f}% {peak:>5.0f} MiB")
print("bounded caches (from /metrics, all endpoints), at warm-up -> end:")
for i, name in enumerate(head[mv + 1:], start=mv + 1):
    w, e = mean(first, i), mean(last, i)
    print(f"  {name.replace('_mib', ''):<34} {w:>8.1f} -> {e:>8.1f} MiB ({e - w:+.1f})")
EOF
