#!/usr/bin/env bash
# MovieLens ratings (u.data) as click events, written twice for the produce benchmarks:
# DIR/events.jsonl (JSON lines, for `streamrec produce`) and DIR/events.keyed
# ("user<TAB>json", for `kcat -K '\t'`); both key by user.
#   bench/streams/movielens_events.sh U_DATA DIR
set -euo pipefail
DATA="$1"
DIR="$2"
awk -F'\t' -v jsonl="$DIR/events.jsonl" -v keyed="$DIR/events.keyed" '{
  e = sprintf("{\"user_id\":\"u%s\",\"item_id\":\"i%s\",\"event\":\"click\",\"ts\":%s000}", $1, $2, $4)
  print e > jsonl
  printf "u%s\t%s\n", $1, e > keyed
}' "$DATA"
