#!/usr/bin/env bash
# Proves that scripts/check_torch_symbols.sh can fail, and shows the mechanism behind
# issue 16 on this machine: a fake "LibTorch" that exports its own
# std::filesystem::remove_all captures a binary's call to it when it comes before
# libstdc++ in the library search order, unless libstdc++ is linked first (as
# training/CMakeLists.txt does for everything linked with LibTorch).
# Usage: check_torch_symbols_test.sh path/to/check_torch_symbols.sh
# Exit status: 0 passed, 1 failed, 77 skipped (a compiler that links libstdc++ statically).
set -euo pipefail
CHECK="$1"
CXX="${CXX:-c++}"
T="$(mktemp -d "${TMPDIR:-/tmp}/check-torch-symbols-test.XXXXXX")"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/torch" "$T/bin" "$T/posix"
fails=0
expect() {  # expect WHAT ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then echo "FAILED: $1: got '$2', expected '$3'"; fails=$((fails + 1)); else echo "ok: $1"; fi
}

cat >"$T/fake_torch.cc" <<'CC'
#include <cstdio>
#include <filesystem>
// A second definition of libstdc++'s symbol, exported like a pip LibTorch's copy.
std::uintmax_t std::filesystem::remove_all(const std::filesystem::path&, std::error_code& ec) {
  std::puts("fake remove_all");
  ec.clear();
  return 0;
}
CC
cat >"$T/user.cc" <<'CC'
#include <cstdio>
#include <filesystem>
int main(int, char** argv) {
  std::error_code ec;
  auto n = std::filesystem::remove_all(argv[1], ec);
  std::printf("removed %ju\n", static_cast<std::uintmax_t>(n));
}
CC
# A shared library of someone else's (as fmt or spdlog are to us) that calls remove_all.
cat >"$T/dep.cc" <<'CC'
#include <cstdint>
#include <filesystem>
std::uintmax_t dep_remove(const char* p) {
  std::error_code ec;
  return std::filesystem::remove_all(p, ec);
}
CC
cat >"$T/dep_user.cc" <<'CC'
#include <cstdint>
#include <cstdio>
std::uintmax_t dep_remove(const char* p);
int main(int, char** argv) { std::printf("removed %ju\n", static_cast<std::uintmax_t>(dep_remove(argv[1]))); }
CC
cat >"$T/posix.cc" <<'CC'
#include <unistd.h>
#include <cstdio>
int main(int, char** argv) { std::printf("rmdir %d\n", rmdir(argv[1])); }
CC

"$CXX" -std=c++17 -O0 -fPIC -shared "$T/fake_torch.cc" -o "$T/torch/libtorch_fake.so"
# As CMake links us: LibTorch on the command line, libstdc++ added last by the driver.
"$CXX" -std=c++17 -O0 "$T/user.cc" -o "$T/bin/user" -L"$T/torch" -Wl,--no-as-needed \
  -ltorch_fake -Wl,-rpath,"$T/torch"
# The same with libstdc++ linked first (training/CMakeLists.txt's link option).
"$CXX" -std=c++17 -O0 -Wl,--push-state,--no-as-needed,-lstdc++,--pop-state "$T/user.cc" \
  -o "$T/user_stdcxx_first" -L"$T/torch" -Wl,--no-as-needed -ltorch_fake -Wl,-rpath,"$T/torch"
# A binary whose dependency imports remove_all: LibTorch first, then libstdc++ first.
mkdir -p "$T/deps" "$T/dep_torch_first" "$T/dep_stdcxx_first"
"$CXX" -std=c++17 -O0 -fPIC -shared "$T/dep.cc" -o "$T/deps/libdep.so"
"$CXX" -std=c++17 -O0 "$T/dep_user.cc" -o "$T/dep_torch_first/user" -L"$T/torch" -L"$T/deps" \
  -Wl,--no-as-needed -ltorch_fake -ldep -Wl,-rpath,"$T/torch:$T/deps"
"$CXX" -std=c++17 -O0 -Wl,--push-state,--no-as-needed,-lstdc++,--pop-state "$T/dep_user.cc" \
  -o "$T/dep_stdcxx_first/user" -L"$T/torch" -L"$T/deps" -Wl,--no-as-needed -ltorch_fake -ldep \
  -Wl,-rpath,"$T/torch:$T/deps"
# No std::filesystem call at all (core/file_system.h's way).
"$CXX" -std=c++17 -O0 "$T/posix.cc" -o "$T/posix/posix" -L"$T/torch" -Wl,--no-as-needed \
  -ltorch_fake -Wl,-rpath,"$T/torch"

# The mechanism needs a shared libstdc++. A compiler that links it statically (the GPU
# machine's GCC 13 in /opt/gcc does: no libstdc++.so in NEEDED) puts libstdc++'s code into
# each binary and library, so neither the capture nor the link-order fix can be shown.
if ! readelf -d "$T/bin/user" | grep -q 'NEEDED.*\[libstdc++\.so'; then
  echo "SKIP: $CXX links libstdc++ statically (no libstdc++.so in NEEDED); this test needs a"
  echo "      shared one. scripts/check_torch_symbols.sh itself still checks the real binaries."
  exit 77
fi

# The mechanism: the call binds to the fake copy, which removes nothing.
mkdir -p "$T/victim/sub"
expect "call binds to the fake LibTorch's copy" "$("$T/bin/user" "$T/victim" | head -1)" "fake remove_all"
expect "nothing removed by the fake" "$([ -d "$T/victim/sub" ] && echo kept)" "kept"
expect "libstdc++ first: the real remove_all runs" "$("$T/user_stdcxx_first" "$T/victim")" "removed 2"
if [ -e "$T/victim" ]; then  # say why, for the log: the search order and the binding
  readelf -d "$T/user_stdcxx_first" | grep NEEDED || true
  LD_TRACE_LOADED_OBJECTS=1 LD_WARN=yes LD_BIND_NOW=yes LD_DEBUG=bindings "$T/user_stdcxx_first" 2>&1 |
    grep remove_all || true
  "$CXX" --version | head -1
fi
expect "victim gone" "$([ -e "$T/victim" ] && echo present || echo gone)" "gone"

# The check: fails on the overlap, naming the symbol, for a binary and for a folder scan.
set +e
out="$(bash "$CHECK" --torch-lib-dir "$T/torch" "$T/bin/user" 2>&1)"; rc=$?
expect "check on the binary exits 1" "$rc" "1"
expect "check names remove_all" "$(grep -c '^OVERLAP: std::filesystem::remove_all' <<<"$out")" "1"
echo "$out"
out="$(bash "$CHECK" --torch-lib-dir "$T/torch" "$T/bin" 2>&1)"; rc=$?
expect "check on a folder finds the binary and exits 1" "$rc" "1"
bash "$CHECK" --torch-lib-dir "$T/torch" --allow 'filesystem::remove_all' "$T/bin/user" >/dev/null 2>&1
expect "an allowed overlap passes" "$?" "0"
bash "$CHECK" --torch-lib-dir "$T/torch" "$T/posix" >/dev/null 2>&1
expect "a binary without std::filesystem passes" "$?" "0"
# Dependencies (--with-deps): judged by where the loader binds them.
out="$(bash "$CHECK" --torch-lib-dir "$T/torch" --with-deps "$T/dep_torch_first" 2>&1)"; rc=$?
expect "a dependency's import bound to LibTorch fails" "$rc" "1"
expect "the binding is named" "$(grep -c 'bound to LibTorch: .*libdep.so -> libtorch_fake.so' <<<"$out")" "1"
echo "$out"
out="$(bash "$CHECK" --torch-lib-dir "$T/torch" --with-deps "$T/dep_stdcxx_first" 2>&1)"; rc=$?
expect "the same import bound to libstdc++ (linked first) passes" "$rc" "0"
expect "and is still listed" "$(grep -c '^overlap in a dependency, bound to libstdc++' <<<"$out")" "1"
echo "$out"
mkdir -p "$T/empty"
bash "$CHECK" --torch-lib-dir "$T/torch" "$T/empty" >/dev/null 2>&1
expect "nothing to check is an error, not a pass" "$?" "2"
bash "$CHECK" --torch-lib-dir "$T/empty" "$T/bin/user" >/dev/null 2>&1
expect "no LibTorch library is an error" "$?" "2"
set -e

if [ "$fails" -gt 0 ]; then echo "$fails failed"; exit 1; fi
echo "all checks passed"
