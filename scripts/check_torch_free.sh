#!/usr/bin/env bash
# Fails (exit 1) when a binary loads LibTorch: the torch-free `streamrec` (apps/) must
# start in milliseconds, and loading LibTorch's ~300 shared libraries costs 0.5-1 s
# before main(). Checks what the dynamic loader would load, every library in the
# closure (ldd: the loader traces it without running the binary), and the binary's own
# DT_NEEDED entries (readelf), so a LibTorch brought in by a dependency fails it too.
#
# Usage: scripts/check_torch_free.sh BINARY...
# Exit status: 0 none loads LibTorch, 1 one does (the libraries are listed), 2 usage or
# a binary that is missing or not a dynamic executable.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: check_torch_free.sh BINARY..." >&2; exit 2; }
for tool in ldd readelf; do
  command -v "$tool" >/dev/null || { echo "check_torch_free: $tool not found" >&2; exit 2; }
done
# libtorch.so, libtorch_cpu.so, libtorch_cuda.so, libc10.so, libc10_cuda.so, libcaffe2*, libshm.
TORCH_RE='^(libtorch|libc10|libcaffe2|libshm)[^/]*\.so'
status=0
for bin in "$@"; do
  [ -f "$bin" ] || { echo "check_torch_free: $bin does not exist" >&2; exit 2; }
  needed="$(readelf -d "$bin" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
  [ -n "$needed" ] || { echo "check_torch_free: $bin has no DT_NEEDED entries (not a dynamic ELF?)" >&2; exit 2; }
  loaded="$(ldd "$bin" 2>&1)" || { echo "check_torch_free: ldd $bin failed: $loaded" >&2; exit 2; }
  torch="$( { printf '%s\n' "$needed"; printf '%s\n' "$loaded" | awk '{print $1}'; } |
    sed 's:.*/::' | grep -E "$TORCH_RE" | LC_ALL=C sort -u || true)"
  count="$(printf '%s\n' "$loaded" | grep -c '=>' || true)"
  if [ -n "$torch" ]; then
    echo "check_torch_free: FAIL: $bin links LibTorch: $(printf '%s\n' "$torch" | paste -sd' ' -)"
    status=1
  else
    echo "check_torch_free: OK: $bin loads $count shared libraries, none of LibTorch"
  fi
done
exit "$status"
