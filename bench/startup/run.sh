#!/usr/bin/env bash
# Start-up of the `streamrec` command (issue 12): the torch-free `streamrec` against
# streamrec-model (the same commands with LibTorch loaded, which every call paid before
# the split: apps/README.md), and `streamrec produce` of 100k events against `kcat -P`
# of the same events into the same embedded broker. Every figure is a median of RUNS
# runs, the commands of one run interleaved, so each ratio compares figures taken under
# the same load. Results: bench/RESULTS.md ("Start-up").
#   bench/startup/run.sh [BUILD_DIR] [RUNS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
RUNS="${2:-11}"
BIN="$BUILD/bin/streamrec"
MODEL="$BUILD/bin/streamrec-model"
DATA="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}/ml-100k/u.data"
for f in "$BIN" "$MODEL"; do [ -x "$f" ] || { echo "$f not built (cmake --build $BUILD --target streamrec)" >&2; exit 1; }; done
[ -f "$DATA" ] || { echo "$DATA not found; set STREAMREC_DATA_DIR (README: Test data)" >&2; exit 1; }
command -v kcat >/dev/null || { echo "kcat not installed" >&2; exit 1; }
[ -n "${EPOCHREALTIME:-}" ] || { echo "bash 5 needed (EPOCHREALTIME)" >&2; exit 1; }
WORK="$(mktemp -d /tmp/streamrec-startup-XXXXXX)"
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The same 100,000 MovieLens ratings as click events: JSON lines for streamrec, and
# "user<TAB>json" for kcat -K (both key by user).
bash "$ROOT/bench/streams/movielens_events.sh" "$DATA" "$WORK"
LINES=$(wc -l < "$WORK/events.jsonl")

"$BIN" broker --partitions 8 --bootstrap-file "$WORK/bootstrap" > "$WORK/broker.out" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 300); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
[ -s "$WORK/bootstrap" ] || { cat "$WORK/broker.out" >&2; exit 1; }
B="$(cat "$WORK/bootstrap")"
mkdir -p "$WORK/no-state"

# Seconds one command takes, start to exit (EPOCHREALTIME: no clock process of our own
# inside the interval); its output goes to $WORK/last.out and .err.
elapsed() {
  local t0=$EPOCHREALTIME
  "$@" > "$WORK/last.out" 2> "$WORK/last.err" || { echo "failed: $*" >&2; cat "$WORK/last.err" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

# name -> command; each measured every run, in this order.
NAMES=(true version model_version topics_help model_topics_help stage_item model_stage_item
       topics_list model_topics_list run_help model_run_help produce kcat)
declare -A CMD=(
  [true]="/bin/true"
  [version]="$BIN --version"
  [model_version]="$MODEL --version"
  [topics_help]="$BIN topics --help"
  [model_topics_help]="$MODEL topics --help"
  [stage_item]="$BIN stage item --dump-state --partitions 1 --state-dir $WORK/no-state"
  [model_stage_item]="$MODEL stage item --dump-state --partitions 1 --state-dir $WORK/no-state"
  [topics_list]="$BIN topics list --brokers $B"
  [model_topics_list]="$MODEL topics list --brokers $B"
  [run_help]="$BIN run --help"
  [model_run_help]="$MODEL run --help"
  [produce]="$BIN produce --brokers $B --file $WORK/events.jsonl"
)
declare -A TIMES=()
for i in $(seq 1 "$RUNS"); do
  for n in "${NAMES[@]}"; do
    if [ "$n" = kcat ]; then
      # The same client settings as streamrec produce: keyed by user, idempotent
      # (acks=all), the Java partitioner, linger.ms=5.
      t=$(elapsed kcat -P -b "$B" -t clicks -K $'\t' -X enable.idempotence=true -X partitioner=murmur2_random \
            -X linger.ms=5 -l "$WORK/events.keyed")
    else
      # shellcheck disable=SC2086  # the commands above are word lists
      t=$(elapsed ${CMD[$n]})
    fi
    TIMES[$n]+="$t "
    if [ "$n" = produce ]; then
      grep -q "$LINES accepted" "$WORK/last.out" || { cat "$WORK/last.out" "$WORK/last.err" >&2; exit 1; }
    fi
  done
done

median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED=()
for n in "${NAMES[@]}"; do MED[$n]=$(median "${TIMES[$n]}"); done
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs: $RUNS (median of each), broker: embedded (streamrec broker --partitions 8), events: $LINES"
echo "shared libraries loaded: streamrec $(ldd "$BIN" | grep -c '=>'), streamrec-model $(ldd "$MODEL" | grep -c '=>')"
for n in "${NAMES[@]}"; do echo "  $n (s): ${TIMES[$n]}"; done
echo
printf '| command | streamrec, median ms | streamrec-model, median ms | ratio |\n| --- | ---: | ---: | ---: |\n'
row() { printf '| `%s` | %s | %s | %s |\n' "$1" "$(ms "${MED[$2]}")" "$(ms "${MED[model_$2]}")" "$(ratio "${MED[$2]}" "${MED[model_$2]}")"; }
row "--version" version
row "topics --help" topics_help
row "stage item --dump-state (no broker, empty state)" stage_item
row "topics list (embedded broker)" topics_list
row "run --help (streamrec execs streamrec-model)" run_help
printf '| `/bin/true` (process floor) | %s | | |\n' "$(ms "${MED[true]}")"
echo
printf '| producing %s events into the embedded broker | median s | events/s |\n| --- | ---: | ---: |\n' "$LINES"
printf '| `streamrec produce --file` (whole command) | %.3f | %.0f |\n' "${MED[produce]}" "$(awk -v n="$LINES" -v s="${MED[produce]}" 'BEGIN { print n / s }')"
printf '| `kcat -P -K` (whole command) | %.3f | %.0f |\n' "${MED[kcat]}" "$(awk -v n="$LINES" -v s="${MED[kcat]}" 'BEGIN { print n / s }')"
printf 'throughput ratio streamrec produce / kcat -P, whole command: %s\n' "$(ratio "${MED[kcat]}" "${MED[produce]}")"
