#!/usr/bin/env bash
# Lists the std:: symbols that a LibTorch exports and that our binaries import, and fails
# (exit 1) when there is any.
#
# Why: a pip (CUDA) LibTorch 2.x re-exports parts of libstdc++ that it links statically
# (e.g. std::filesystem::remove_all). The dynamic linker binds a binary's import of such a
# symbol to the first library in the search order that defines it, which can be
# libtorch.so rather than libstdc++.so.6: issue 16's trainer jumped to address 0 inside
# LibTorch's copy of remove_all. Debian's LibTorch re-exports none of the symbols we
# use, so only this check, run against the LibTorch in question, shows the problem.
#
# Usage: scripts/check_torch_symbols.sh [--torch-lib-dir DIR] [--with-deps] [--allow REGEX]
#                                       [BINARY_OR_DIR...]
#   --torch-lib-dir DIR  where libtorch*.so, libc10*.so... are (default: $TORCH_LIB_DIR,
#                        else /usr/lib/x86_64-linux-gnu, Debian's LibTorch)
#   --with-deps          also check every other shared library the binaries load (ldd).
#                        We cannot change what those (fmt, spdlog, ...) import, so for
#                        them an overlap is listed and fails only if the dynamic linker
#                        really binds it to LibTorch: each binary is loaded, not run
#                        (LD_TRACE_LOADED_OBJECTS with LD_BIND_NOW and LD_DEBUG=bindings,
#                        as `ldd -r` does), and every std:: binding from a non-LibTorch
#                        object to a LibTorch library fails the check. Our own binaries
#                        fail on any overlap at all.
#   --allow REGEX        ignore overlapping symbols whose demangled name matches (grep -E)
#   BINARY_OR_DIR        binaries to check; a directory is searched for ELF files that
#                        link a LibTorch library (default: the build/ folder of this repo:
#                        bin/streamrec-model and the test and bench binaries; bin/streamrec
#                        links no LibTorch, which scripts/check_torch_free.sh checks)
# Exit status: 0 no overlap (or, in dependencies, none that binds to LibTorch), 1 overlap
# (listed on stdout), 2 usage or nothing to check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_DIR="${TORCH_LIB_DIR:-/usr/lib/x86_64-linux-gnu}"
WITH_DEPS=0
ALLOW=""
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --torch-lib-dir) TORCH_DIR="$2"; shift 2 ;;
    --with-deps) WITH_DEPS=1; shift ;;
    --allow) ALLOW="$2"; shift 2 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --) shift; TARGETS+=("$@"); break ;;
    -*) echo "check_torch_symbols: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("$ROOT/build")

for tool in nm readelf c++filt; do
  command -v "$tool" >/dev/null || { echo "check_torch_symbols: $tool not found (binutils)" >&2; exit 2; }
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/check-torch-symbols.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# Mangled names in namespace std (and libstdc++'s __gnu_cxx): functions, data, vtables,
# typeinfo, guard variables; `St` is std::, `Sa/Sb/Ss/Si/So/Sd` its abbreviations.
STD_RE='^_Z(T[VTIS]|GV|TH|TW)?(N[rVKRO]*)?(St|S[absiod]|N9__gnu_cxx|9__gnu_cxx)'
names() { awk '{print $NF}' | sed 's/@.*//' | grep -E "$STD_RE" | LC_ALL=C sort -u || true; }

# 1. The LibTorch libraries (regular files only: the .so links name the same file).
mapfile -t TORCH_LIBS < <(find -L "$TORCH_DIR" -maxdepth 1 -type f \
  \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libshm*.so*' -o -name 'libcaffe2*.so*' \) \
  -exec realpath {} + 2>/dev/null | LC_ALL=C sort -u)
if [ ${#TORCH_LIBS[@]} -eq 0 ]; then
  echo "check_torch_symbols: no libtorch*/libc10* library in $TORCH_DIR" >&2
  exit 2
fi
: >"$TMP/exports"
for lib in "${TORCH_LIBS[@]}"; do
  { nm -D --defined-only "$lib" 2>/dev/null || true; } | names | awk -v l="$(basename "$lib")" '{print $0 "\t" l}' \
    >>"$TMP/exports"
done
cut -f1 "$TMP/exports" | LC_ALL=C sort -u >"$TMP/export_names"

# 2. Our binaries: those named, and in a directory every ELF file that links LibTorch.
# (No `cmd | grep -q` under pipefail: grep's early exit can fail the writer with SIGPIPE.)
links_torch() { grep -qE 'NEEDED.*\[(libtorch|libc10)[^]]*\]' <<<"$(readelf -d "$1" 2>/dev/null)"; }
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
BINARIES=()
for t in "${TARGETS[@]}"; do
  if [ -d "$t" ]; then
    while IFS= read -r f; do
      is_elf "$f" && links_torch "$f" && BINARIES+=("$f")
    done < <(find "$t" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) \
               -not -path '*/CMakeFiles/*' | LC_ALL=C sort)
  elif [ -f "$t" ] && is_elf "$t"; then
    BINARIES+=("$t")
  elif [ -f "$t" ]; then
    echo "check_torch_symbols: skipping $t (not an ELF file)" >&2
  else
    echo "check_torch_symbols: $t does not exist" >&2
    exit 2
  fi
done
if [ ${#BINARIES[@]} -eq 0 ]; then
  echo "check_torch_symbols: no binary linked with LibTorch in ${TARGETS[*]} (build first)" >&2
  exit 2
fi
CHECKED=("${BINARIES[@]}")
if [ "$WITH_DEPS" = 1 ]; then
  # Every other library the binaries load, found by the loader itself.
  mapfile -t DEPS < <(for b in "${BINARIES[@]}"; do ldd "$b" 2>/dev/null; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | xargs -r realpath | LC_ALL=C sort -u)
  for d in "${DEPS[@]}"; do
    case " ${TORCH_LIBS[*]} " in *" $d "*) continue ;; esac
    case "$(basename "$d")" in libstdc++.so*) continue ;; esac
    CHECKED+=("$d")
  done
fi

: >"$TMP/imports"
: >"$TMP/ours"
for b in "${BINARIES[@]}"; do realpath "$b" >>"$TMP/ours"; done
for b in "${CHECKED[@]}"; do
  { nm -D --undefined-only "$b" 2>/dev/null || true; } | names |
    awk -v b="$(realpath "$b")" '{print $0 "\t" b}' >>"$TMP/imports"
done
cut -f1 "$TMP/imports" | LC_ALL=C sort -u >"$TMP/import_names"

LC_ALL=C comm -12 "$TMP/export_names" "$TMP/import_names" >"$TMP/overlap"
echo "check_torch_symbols: ${#TORCH_LIBS[@]} LibTorch libraries in $TORCH_DIR export" \
  "$(wc -l <"$TMP/export_names") std:: symbols; ${#CHECKED[@]} binaries/libraries import" \
  "$(wc -l <"$TMP/import_names")"

# Where the dynamic linker binds each std:: import (dependencies only; see --with-deps):
# lines "binding file FROM [n] to TO [n]: normal symbol `SYM' [VERSION]".
: >"$TMP/torch_bound"
: >"$TMP/all_bound"
if [ "$WITH_DEPS" = 1 ] && [ -s "$TMP/overlap" ]; then
  for b in "${BINARIES[@]}"; do
    LD_TRACE_LOADED_OBJECTS=1 LD_WARN=yes LD_BIND_NOW=yes LD_DEBUG=bindings \
      LD_DEBUG_OUTPUT="$TMP/ld" "$b" >/dev/null 2>&1 || true
  done
  torch_names="$(for l in "${TORCH_LIBS[@]}"; do basename "$l"; done | paste -sd'|' -)"
  cat "$TMP"/ld.* 2>/dev/null |
    sed -n 's/.*binding file \([^ ]*\) \[[0-9]*\] to \([^ ]*\) \[[0-9]*\]: normal symbol `\([^'"'"']*\)'"'"'.*/\1\t\2\t\3/p' |
    tee "$TMP/all_bound" | awk -F'\t' -v t="$torch_names" '{
        n = split($2, p, "/"); to = p[n]; m = split($1, q, "/"); from = q[m];
        if (to ~ "^(" t ")" && from !~ "^(" t ")") print $3 "\t" $1 "\t" to }' |
    LC_ALL=C sort -u >"$TMP/torch_bound"
fi

found=0
while IFS= read -r sym; do
  demangled="$(printf '%s\n' "$sym" | c++filt)"
  if [ -n "$ALLOW" ] && grep -qE -- "$ALLOW" <<<"$demangled"; then
    echo "allowed: $demangled"
    continue
  fi
  from="$(awk -F'\t' -v s="$sym" '$1 == s {print $2}' "$TMP/exports" | LC_ALL=C sort -u | paste -sd, -)"
  by="$(awk -F'\t' -v s="$sym" '$1 == s {print $2}' "$TMP/imports" | LC_ALL=C sort -u | paste -sd' ' -)"
  ours="$(awk -F'\t' -v s="$sym" '$1 == s {print $2}' "$TMP/imports" | LC_ALL=C sort -u |
    LC_ALL=C comm -12 - <(LC_ALL=C sort -u "$TMP/ours") | paste -sd' ' -)"
  bound="$(awk -F'\t' -v s="$sym" '$1 == s {print $2 " -> " $3}' "$TMP/torch_bound" | paste -sd';' -)"
  # The first match only, by awk itself: `| head -1` would end awk with SIGPIPE once the
  # matches outgrow a pipe buffer, and pipefail + set -e would end this script silently.
  seen="$(awk -F'\t' -v s="$sym" '$3 == s {print; exit}' "$TMP/all_bound")"
  if [ -z "$ours" ] && [ -z "$bound" ] && [ -n "$seen" ]; then
    echo "overlap in a dependency, bound to libstdc++ (not LibTorch): $demangled"
    echo "    exported by: $from"
    echo "    imported by: $by"
    continue
  fi
  found=$((found + 1))
  echo "OVERLAP: $demangled"
  echo "    exported by: $from"
  echo "    imported by: $by"
  [ -z "$bound" ] || echo "    bound to LibTorch: $bound"
  [ -n "$ours" ] || [ -n "$bound" ] || echo "    (its binding could not be traced: counted as a failure)"
done <"$TMP/overlap"

if [ "$found" -gt 0 ]; then
  echo "check_torch_symbols: FAIL: $found std:: symbols imported by our code are also exported by" \
    "LibTorch and can bind to its copy (see core/file_system.h, training/README.md)"
  exit 1
fi
echo "check_torch_symbols: OK: no std:: symbol of ours can bind to LibTorch's copy"
for b in "${BINARIES[@]}"; do echo "  checked: $b"; done
