#!/usr/bin/env bash
# Trainer and bare matmul+softmax step on Debian's reference BLAS vs OpenBLAS (issue 12,
# item 3): the same training_bench binary, alternating between the two libraries round by
# round so that machine load hits both alike; one BLAS thread each (OPENBLAS_NUM_THREADS,
# OMP_NUM_THREADS = 1). Needs libopenblas0-pthread (scripts/dev.sh installs it); the
# reference library is picked by putting its folder first on LD_LIBRARY_PATH.
# Usage: bench/training/blas_compare.sh [BUILD_DIR=build] [ROUNDS=5] [STEPS=20]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
ROUNDS="${2:-5}"
STEPS="${3:-20}"
BENCH="$BUILD/bench/training/training_bench"
LIB=/usr/lib/x86_64-linux-gnu
REF="$LIB/blas:$LIB/lapack"
[ -x "$BENCH" ] || { echo "build training_bench first ($BENCH)" >&2; exit 2; }
[ -e "$LIB/openblas-pthread/libblas.so.3" ] || { echo "libopenblas0-pthread is not installed" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

one() {  # one NAME [env...]: appends "trainer bare" to $OUT/NAME
  local name="$1" text row
  shift
  text="$(env "$@" "$BENCH" --runs 1 --steps "$STEPS" --configs 1 --snapshots 0)"
  grep '^blas:' <<<"$text" | head -1 >"$OUT/$name.blas"
  row="$(grep '^| CPU' <<<"$text" | head -1)"
  awk -F'|' '{gsub(/ /, "", $3); gsub(/ /, "", $4); print $3, $4}' <<<"$row" >>"$OUT/$name"
}

for r in $(seq "$ROUNDS"); do
  one reference LD_LIBRARY_PATH="$REF"
  one openblas
  echo "round $r: reference $(tail -1 "$OUT/reference"), openblas $(tail -1 "$OUT/openblas")" >&2
done

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "reference: $(cat "$OUT/reference.blas")"
echo "openblas:  $(cat "$OUT/openblas.blas")"
echo "| BLAS (1 thread) | trainer ex/s (median of $ROUNDS) | bare matmul+softmax ex/s | trainer / bare |"
echo "| --- | ---: | ---: | ---: |"
rt="$(cut -d' ' -f1 "$OUT/reference" | median)"; rb="$(cut -d' ' -f2 "$OUT/reference" | median)"
ot="$(cut -d' ' -f1 "$OUT/openblas" | median)"; ob="$(cut -d' ' -f2 "$OUT/openblas" | median)"
awk -v rt="$rt" -v rb="$rb" -v ot="$ot" -v ob="$ob" 'BEGIN {
  printf "| reference | %.0f | %.0f | %.3f |\n", rt, rb, rt / rb
  printf "| OpenBLAS | %.0f | %.0f | %.3f |\n", ot, ob, ot / ob
  printf "OpenBLAS / reference: trainer %.2fx, bare step %.2fx\n", ot / rt, ob / rb
}'
