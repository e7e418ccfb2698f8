#!/usr/bin/env bash
# The lambda merge on MovieLens-100k, end to end with the CLI (issue 11 items 2, 3;
# results: bench/RESULTS.md, "Merging the layers"): the embedded broker, `streamrec stage
# user` and `streamrec stage item --set lambda.merge=true`, the 100,000 ratings replayed
# into `clicks`; while the speed layer works through them, `streamrec batch --cutoff-group
# streamrec-user --no-model` recomputes the view up to the user stage's committed offsets
# and announces it; the item stage adopts it. Reported: the item stage's adoption and
# rebuild times (its log), its resident memory before the announcement and its peak
# (VmRSS, VmHWM), and at the end whether the merged state equals a batch recomputation of
# the whole topic (items, pairs and events of `--dump-state` vs the final view's manifest).
# Usage: bench/batch/lambda_adopt.sh [BUILD_DIR] [DELAY_S]
#   DELAY_S: seconds between the start of the replay and the batch run (default 8).
#   MERGE=0: the control run, lambda.merge off and no batch run (the item stage's memory
#   without the merge).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=${1:-$root/build}
delay=${2:-8}
bin="$build/bin/streamrec"
data="${STREAMREC_DATA_DIR:-$root/../shared/data}/ml-100k/u.data"
[ -f "$data" ] || { echo "no MovieLens-100k at $data (set STREAMREC_DATA_DIR)" >&2; exit 1; }
work="$(mktemp -d /tmp/streamrec-lambda-adopt-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" broker --partitions 4 --bootstrap-file "$work/bootstrap" >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
brokers="$(cat "$work/bootstrap")"
"$bin" stage user --brokers "$brokers" --state-dir "$work/state" --metrics off >"$work/user.log" 2>&1 &
user=$!
pids+=($user)
merge=${MERGE:-1}
"$bin" --log-level info --set "lambda.merge=$([ "$merge" = 1 ] && echo true || echo false)" \
  --set "lambda.batch_dir=$work/views" stage item --brokers "$brokers" \
  --state-dir "$work/state" --metrics off >"$work/item.log" 2>&1 &
item=$!
pids+=($item)
rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
start=$SECONDS
"$bin" replay "$data" --format movielens --brokers "$brokers" --no-progress >"$work/replay.log" 2>&1
sleep "$delay"
rss_before=$(rss "$item" VmRSS)
if [ "$merge" = 1 ]; then
  "$bin" batch --brokers "$brokers" --cutoff-group streamrec-user --no-model --no-progress --out "$work/views" \
    >"$work/batch.log" 2>&1
  echo "batch at $((SECONDS - start)) s: $(grep -o 'clicks up to offsets [0-9,]*' "$work/batch.log" | head -1)"
  for _ in $(seq 600); do [ "$(grep -c 'rebuilt' "$work/item.log")" -ge 4 ] && break; sleep 0.2; done
  grep -o 'partition [0-9]: adopted batch view.*' "$work/item.log" | sed 's/ ([^)]*view)//' || true
  grep -o 'partition [0-9]: rebuilt.*' "$work/item.log" || true
  echo "item stage VmRSS before the announcement ${rss_before} kB, after the rebuilds $(rss "$item" VmRSS) kB"
fi
# Drained: the user stage committed every offset...
for _ in $(seq 120); do
  "$bin" batch --brokers "$brokers" --cutoff-group streamrec-user --no-model --no-announce --no-progress \
    --out "$work/probe" >"$work/probe.log" 2>&1 || true
  offsets=$(grep -o 'clicks up to offsets [0-9,]*' "$work/probe.log" | head -1 | grep -o '[0-9,]*$' || echo 0)
  [ "$(echo "$offsets" | tr ',' '\n' | paste -sd+ | bc)" -ge 100000 ] && break
  sleep 2
done
# ... and the item stage went quiet (under 0.1 s of CPU in 2 s).
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for _ in $(seq 150); do
  a=$(cpu "$item"); sleep 2; b=$(cpu "$item")
  [ $((b - a)) -lt 10 ] && break
done
echo "item stage at the end: VmRSS $(rss "$item" VmRSS) kB, peak VmHWM $(rss "$item" VmHWM) kB"
kill -INT "$user" "$item"
wait "$user" "$item" || true
got=$("$bin" stage item --dump-state --state-dir "$work/state" --partitions 4 | head -1)
manifest=$(find "$work/probe" -maxdepth 1 -name 'batch-v*' | sort | tail -1)/manifest.json
want=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); c=m.get('counts', m); print('# events %d items %d pairs %d' % (c['events'], c['items'], c['pairs']))" "$manifest")
echo "merged state:  $got"
echo "recomputation: $want"
[ "$got" = "$want" ] && echo "exact=yes" || echo "exact=NO"
grep -c 'across the batch cutoff' "$work/item.log" | sed 's/^/peer parts applied across the cutoff (log lines): /'
