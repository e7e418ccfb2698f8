#!/usr/bin/env bash
# Offline item similarities against the SAR peer's time (issue 12 item 7; results:
# bench/RESULTS.md, "Batch similarities against SAR").
# Usage: bench/batch/similarity_vs_sar.sh [BUILD_DIR] [RUNS] [RATINGS_FILE...]
# Default files: MovieLens-100k's u.data and the golden split's train.tsv (both: user,
# item, rating, timestamp, tab separated).
#  - ours: `streamrec batch FILE --format movielens --no-model`, the whole command: read
#    the ratings, window pairs, item counts, popularity and p̂, exact top-K lists under the
#    configured similarity, and the view written as a RocksDB;
#  - SAR: bench/batch/sar_similarity.py, the whole command: read the ratings, X^T X,
#    Jaccard, and a top-K cut of each row (SciPy; it writes nothing).
# The two run alternately RUNS times per file; medians and the ratio ours / SAR, of the
# whole command's wall seconds (as a user runs each) and of the work inside the process
# (ours: the seconds `streamrec batch` reports, reading the file to writing the view;
# SAR: load + similarity + top-K, without Python's and SciPy's start-up), and the CPU
# seconds (user + system) of each whole command and of SAR's work inside the process:
# wall time on this shared VM includes waiting for the disk (ours writes the view
# durably: RocksDB syncs every file it writes; SAR writes nothing) and for the cores.
# A run whose output does not account for every rating is discarded (exit 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=${1:-$root/build}
runs=${2:-5}
shift $(( $# >= 2 ? 2 : $# ))
data="${STREAMREC_DATA_DIR:-$root/../shared/data}"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then files=("$data/ml-100k/u.data" "$data/golden-metrics/train.tsv"); fi
for f in "${files[@]}"; do [ -f "$f" ] || { echo "no ratings file $f (set STREAMREC_DATA_DIR)" >&2; exit 1; }; done
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
python3 -c 'import numpy, scipy' 2>/dev/null ||
  { echo "the SAR baseline needs NumPy and SciPy: apt-get install python3-numpy python3-scipy" >&2; exit 1; }
cmake --build "$build" --target streamrec -j2 >/dev/null
out="$(mktemp -d /tmp/streamrec-bench-sar-XXXXXX)"
trap 'rm -rf "$out"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

for f in "${files[@]}"; do
  lines=$(grep -c . "$f")
  : >"$out/ours" ; : >"$out/sar" ; : >"$out/ours_in" ; : >"$out/sar_in"
  : >"$out/ours_cpu" ; : >"$out/sar_cpu" ; : >"$out/sar_in_cpu"
  for i in $(seq "$runs"); do
    t0=$(now)
    summary=$(/usr/bin/time -f '%U %S' -o "$out/rusage" "$build/bin/streamrec" batch "$f" --format movielens \
      --out "$out/views" --no-model --no-progress 2>&1 | tail -1)
    t1=$(now)
    awk '{print $1 + $2}' "$out/rusage" >>"$out/ours_cpu"
    case "$summary" in
      *"$lines events (0 left out)"*) ;;
      *) echo "discarded: streamrec batch did not read all $lines ratings: $summary" >&2; exit 1 ;;
    esac
    rm -rf "$out/views"
    echo "$t1 - $t0" | bc -l >>"$out/ours"
    echo "$summary" | grep -oE '; [0-9.]+ s, [0-9]+ events/s' | grep -oE '[0-9.]+ s' | cut -d' ' -f1 >>"$out/ours_in"
    t0=$(now)
    sar=$(/usr/bin/time -f '%U %S' -o "$out/rusage" python3 "$root/bench/batch/sar_similarity.py" "$f")
    t1=$(now)
    awk '{print $1 + $2}' "$out/rusage" >>"$out/sar_cpu"
    case "$sar" in
      *"\"ratings\": $lines,"*) ;;
      *) echo "discarded: the SAR baseline did not read all $lines ratings: $sar" >&2; exit 1 ;;
    esac
    echo "$t1 - $t0" | bc -l >>"$out/sar"
    echo "$sar" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["load_s"]+d["similarity_s"]+d["top_k_s"])' >>"$out/sar_in"
    echo "$sar" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu_s"])' >>"$out/sar_in_cpu"
    echo "$(basename "$f") run $i: ours $(tail -1 "$out/ours" | cut -c1-6) s; SAR $(tail -1 "$out/sar" | cut -c1-6) s ($sar)"
  done
  ours=$(median <"$out/ours")
  sar=$(median <"$out/sar")
  ours_in=$(median <"$out/ours_in")
  sar_in=$(median <"$out/sar_in")
  ours_cpu=$(median <"$out/ours_cpu")
  sar_cpu=$(median <"$out/sar_cpu")
  sar_in_cpu=$(median <"$out/sar_in_cpu")
  printf '%s: %d ratings, medians of %d: whole command ours %.3f s, SAR %.3f s, ours/SAR %.2f; in the process ours %.3f s, SAR %.3f s, ours/SAR %.2f\n' \
    "$(basename "$f")" "$lines" "$runs" "$ours" "$sar" "$(echo "$ours / $sar" | bc -l)" \
    "$ours_in" "$sar_in" "$(echo "$ours_in / $sar_in" | bc -l)"
  # Ours has no start-up to speak of (a torch-free binary, ~25 ms), so its whole command's
  # CPU is compared with both of SAR's.
  printf '%s: CPU seconds, medians of %d: whole command ours %.3f s, SAR %.3f s, ours/SAR %.2f; SAR in the process %.3f s, ours/SAR %.2f\n' \
    "$(basename "$f")" "$runs" "$ours_cpu" "$sar_cpu" "$(echo "$ours_cpu / $sar_cpu" | bc -l)" \
    "$sar_in_cpu" "$(echo "$ours_cpu / $sar_in_cpu" | bc -l)"
done
