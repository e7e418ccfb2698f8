#!/usr/bin/env bash
# Builds the ClickEvent parser fuzz target with clang (libFuzzer + ASan + UBSan) straight
# from the sources and runs it for a bounded time on a copy of the seed corpus.
#   tests/fuzz/run_click_fuzz.sh OUT_DIR [SECONDS]
# Exit 0: no crash; 77: clang/libFuzzer not available (CTest reports a skip).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: run_click_fuzz.sh OUT_DIR [SECONDS]}"
SECONDS_TO_RUN="${2:-25}"
CXX="${FUZZ_CXX:-clang++}"
command -v "$CXX" >/dev/null 2>&1 || { echo "fuzz: $CXX not found, skipping"; exit 77; }
mkdir -p "$OUT"
BIN="$OUT/click_event_fuzz"
SRCS=("$ROOT/tests/fuzz/click_event_fuzz.cc" "$ROOT/streams/click_event.cc" "$ROOT/core/json_writer.cc"
      "$ROOT/core/id_hash.cc" "$ROOT/core/records.cc" "$ROOT/core/status.cc")
# Rebuild only when a source is newer than the binary.
rebuild=0
[ -x "$BIN" ] || rebuild=1
for s in "${SRCS[@]}"; do [ "$s" -nt "$BIN" ] && rebuild=1; done
if [ "$rebuild" = 1 ]; then
  if ! "$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I"$ROOT" "${SRCS[@]}" -lsimdjson -lxxhash -lfmt -o "$BIN.tmp" 2> "$OUT/build.log"; then
    if grep -q -e "libclang_rt.fuzzer" -e "cannot find -l" "$OUT/build.log"; then
      cat "$OUT/build.log"; echo "fuzz: libFuzzer runtime not available, skipping"; exit 77
    fi
    cat "$OUT/build.log"; exit 1
  fi
  mv "$BIN.tmp" "$BIN"
fi
WORK="$(mktemp -d "$OUT/corpus.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT"/tests/fuzz/corpus/click_event/* "$WORK/"
# -rss_limit_mb bounds memory; -max_len above the 64 KiB limit exercises the size check.
"$BIN" "$WORK" -dict="$ROOT/tests/fuzz/click_event.dict" -max_total_time="$SECONDS_TO_RUN" \
  -max_len=70000 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$OUT/" 2>&1 | tail -n 25
echo "fuzz: click_event_fuzz ran ${SECONDS_TO_RUN}s without a crash"
