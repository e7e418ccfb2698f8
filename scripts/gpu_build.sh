#!/usr/bin/env bash
# Builds and runs training/ on a GPU machine that has a Python PyTorch (CUDA) and no
# network, with core's Debian libraries carried there as .deb files (issue 16).
#
#   scripts/gpu_build.sh download [DEB_DIR]  here, with Debian's archive reachable:
#                                            fetch the .deb files into DEB_DIR
#   scripts/gpu_build.sh configure [DEB_DIR] there: unpack and configure only
#   scripts/gpu_build.sh build [DEB_DIR]     there: unpack the .debs into a prefix,
#                                            configure -DSTREAMREC_TRAINING_ONLY=ON against
#                                            PyTorch's LibTorch, build
#   scripts/gpu_build.sh run [DEB_DIR]       build, then: the training unit tests, the
#                                            symbol check against that LibTorch, the
#                                            trainer benchmark (with snapshots and
#                                            retention) and the online-training driver on
#                                            MovieLens-100k ($STREAMREC_DATA_DIR), on the
#                                            GPU and on the CPU, with dense and sparse
#                                            embedding tables; with $EXAMPLES set (a file
#                                            from `streamrec eval --examples-out`, .xz
#                                            allowed) also the golden split's two-tower
#                                            model, trained as `streamrec eval` trains it,
#                                            on the GPU, then the CPU, into
#                                            $OUT_DIR/golden-store{,-cpu} (serve it with
#                                            `streamrec eval --model-dir`); output to
#                                            stdout and $OUT_DIR
#   scripts/gpu_build.sh serving [DEB_DIR]   there, on the GPU machine's quiet CPUs: the
#                                            whole project (not training-only) against
#                                            PyTorch's LibTorch, serving_bench only, then
#                                            issue 12 item 6's figures at $ITEMS (100000)
#                                            items: the model swap with the ANN index and
#                                            the open-loop HTTP latency at $RATE (1000)
#                                            req/s, $ROUNDS (3) rounds (run_ann_ab.sh);
#                                            output to stdout and $OUT_DIR/serving.txt
#   scripts/gpu_build.sh check               syntax and tools only (no build)
#
# DEB_DIR defaults to ./gpu-debs. Environment: BUILD_DIR (default build-gpu), PREFIX
# (default $BUILD_DIR/deb-prefix), TORCH_CMAKE_PREFIX (default: asked from python3's
# torch), BENCH_ARGS (default "--runs 3 --steps 20"), OUT_DIR (default $BUILD_DIR/out),
# JOBS (default nproc).
#
# Why each step: the .debs are Debian 12's builds of what core/ links (fmt, spdlog,
# yaml-cpp, prometheus-cpp, civetweb, xxhash) plus benchmark, GoogleTest, pkgconf and
# ninja; `dpkg -x` unpacks them without root. civetweb's CMake targets name the
# /usr/bin/civetweb program, which we do not need, so an empty file stands in for it.
# The .pc files say prefix=/usr, so pkgconf runs with the prefix as its sysroot.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"
DEB_DIR="$(realpath -m "${2:-$ROOT/gpu-debs}")"
BUILD_DIR="$(realpath -m "${BUILD_DIR:-$ROOT/build-gpu}")"
PREFIX="$(realpath -m "${PREFIX:-$BUILD_DIR/deb-prefix}")"
OUT_DIR="$(realpath -m "${OUT_DIR:-$BUILD_DIR/out}")"
BENCH_ARGS="${BENCH_ARGS:---runs 3 --steps 20}"
JOBS="${JOBS:-$(nproc)}"
ARCH_LIB="usr/lib/x86_64-linux-gnu"

# Debian 12 package names: the -dev packages hold headers, CMake configs and the .so
# links; the runtime packages hold the libraries those links point at.
PACKAGES=(
  libfmt-dev libfmt9
  libspdlog-dev libspdlog1.10
  libyaml-cpp-dev libyaml-cpp0.7
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libprometheus-cpp-push1.0
  libcivetweb-dev libcivetweb1
  libxxhash-dev libxxhash0
  libbenchmark-dev libbenchmark1debian
  libgtest-dev libgmock-dev
  pkgconf pkgconf-bin libpkgconf3
  ninja-build
)
# What the rest of the project links (serving mode), with the libraries those need that a
# CUDA image may lack, and the -dev packages whose .pc files cpp-httplib's requires.
SERVING_PACKAGES=(
  librdkafka-dev librdkafka1 librdkafka++1
  librocksdb-dev librocksdb7.8 libgflags2.2 libsnappy1v5
  libsimdjson-dev libsimdjson14
  libcli11-dev libhnswlib-dev
  libcpp-httplib-dev libcpp-httplib0.11
  libssl-dev libssl3 zlib1g-dev libbrotli-dev libbrotli1
  libsasl2-2 libsasl2-modules-db libdb5.3
)

log() { echo "gpu_build: $*" >&2; }

download() {
  mkdir -p "$DEB_DIR"
  command -v apt-get >/dev/null || { log "apt-get not found"; exit 2; }
  # apt-get download fetches exactly these (no dependencies), as the current user, into
  # the current directory.
  (cd "$DEB_DIR" && apt-get download "${PACKAGES[@]}" "${SERVING_PACKAGES[@]}")
  log "$(ls "$DEB_DIR"/*.deb | wc -l) .deb files in $DEB_DIR; carry the folder to the GPU machine"
}

unpack() {
  local debs=("$DEB_DIR"/*.deb)
  [ -e "${debs[0]}" ] || { log "no .deb files in $DEB_DIR (run: $0 download $DEB_DIR)"; exit 2; }
  local wanted=("${PACKAGES[@]}")
  [ "$MODE" = serving ] && wanted+=("${SERVING_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    compgen -G "$DEB_DIR/${p}_*.deb" >/dev/null || { log "missing ${p}_*.deb in $DEB_DIR"; exit 2; }
  done
  mkdir -p "$PREFIX"
  for d in "${debs[@]}"; do dpkg -x "$d" "$PREFIX"; done
  mkdir -p "$PREFIX/usr/bin"
  [ -e "$PREFIX/usr/bin/civetweb" ] || : >"$PREFIX/usr/bin/civetweb"
  log "unpacked ${#debs[@]} packages into $PREFIX"
}

torch_prefix() {
  if [ -n "${TORCH_CMAKE_PREFIX:-}" ]; then
    echo "$TORCH_CMAKE_PREFIX"
  else
    python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'
  fi
}

# The folder with libtorch*.so of the LibTorch that CMake found.
torch_lib_dir() {
  local dir
  dir="$(sed -n 's/^c10_LIBRARY:FILEPATH=//p' "$BUILD_DIR/CMakeCache.txt" | head -1)"
  [ -n "$dir" ] && dirname "$dir" && return
  dir="$(sed -n 's/^TORCH_LIBRARY:FILEPATH=//p' "$BUILD_DIR/CMakeCache.txt" | head -1)"
  [ -n "$dir" ] && dirname "$dir" && return
  echo /usr/lib/x86_64-linux-gnu
}

setup_env() {
  export PATH="$PREFIX/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$PREFIX/$ARCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_EXECUTABLE="$PREFIX/usr/bin/pkgconf"
  export PKG_CONFIG_SYSROOT_DIR="$PREFIX"
  export PKG_CONFIG_LIBDIR="$PREFIX/$ARCH_LIB/pkgconfig:$PREFIX/usr/share/pkgconfig"
  # Keep -I/usr/include and -L/usr/lib... from the .pc files: under the sysroot they
  # name the prefix, not the system.
  export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
  export PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
}

configure() {
  unpack
  setup_env
  local tp generator=()
  tp="$(torch_prefix)"
  log "LibTorch CMake prefix: $tp"
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSTREAMREC_TRAINING_ONLY=ON \
    -DCMAKE_PREFIX_PATH="$PREFIX/usr;$tp" \
    -DPKG_CONFIG_EXECUTABLE="$PKG_CONFIG_EXECUTABLE"
}

build() {
  configure
  cmake --build "$BUILD_DIR" -j "$JOBS" --target training_bench training_unit_tests core_unit_tests
}

run() {
  build
  mkdir -p "$OUT_DIR"
  local lib_dir rc=0
  lib_dir="$(torch_lib_dir)"
  {
    echo "## $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' || true
    echo "LibTorch libraries: $lib_dir"
  } | tee "$OUT_DIR/machine.txt"

  log "symbol check against $lib_dir"
  bash "$ROOT/scripts/check_torch_symbols.sh" --torch-lib-dir "$lib_dir" --with-deps "$BUILD_DIR" \
    2>&1 | tee "$OUT_DIR/symbols.txt" || rc=1

  log "unit tests (core, training, symbols)"
  (cd "$BUILD_DIR" && ctest -L 'unit|symbols' --output-on-failure --timeout 600) \
    >"$OUT_DIR/ctest.txt" 2>&1 || rc=1
  grep -E 'tests passed|tests failed|Failed|\*\*\*' "$OUT_DIR/ctest.txt" || tail -20 "$OUT_DIR/ctest.txt"

  log "trainer benchmark ($BENCH_ARGS), device auto (CUDA when available)"
  # shellcheck disable=SC2086
  "$BUILD_DIR/bench/training/training_bench" $BENCH_ARGS 2>&1 | tee "$OUT_DIR/training_bench.txt" || rc=1
  log "the same on the CPU (CUDA hidden)"
  # shellcheck disable=SC2086
  CUDA_VISIBLE_DEVICES="" "$BUILD_DIR/bench/training/training_bench" $BENCH_ARGS 2>&1 |
    tee "$OUT_DIR/training_bench_cpu.txt" || rc=1
  local data="${STREAMREC_DATA_DIR:-$ROOT/../shared/data}/ml-100k/u.data"
  if [ -f "$data" ]; then
    log "online-training driver on $data: snapshots every 20 steps, keep 2 (GPU, then CPU;" \
      "dense, then sparse embedding tables)"
    local sparse
    for sparse in 0 1; do
      "$BUILD_DIR/bench/training/training_bench" online --data "$data" --sparse "$sparse" 2>&1 |
        tee -a "$OUT_DIR/online.txt" || rc=1
      CUDA_VISIBLE_DEVICES="" "$BUILD_DIR/bench/training/training_bench" online --data "$data" \
        --sparse "$sparse" 2>&1 | tee -a "$OUT_DIR/online_cpu.txt" || rc=1
    done
  else
    log "no $data (set STREAMREC_DATA_DIR): online-training driver not run"
    rc=1
  fi
  if [ -n "${EXAMPLES:-}" ]; then
    local ex="$EXAMPLES"
    if [[ "$ex" == *.xz ]]; then
      ex="$BUILD_DIR/examples.bin"
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$EXAMPLES" "$ex"
    fi
    log "golden split's two-tower model from $EXAMPLES (GPU, then CPU)"
    rm -rf "$OUT_DIR/golden-store" "$OUT_DIR/golden-store-cpu"
    "$BUILD_DIR/bench/training/training_bench" train-examples --examples "$ex" \
      --out "$OUT_DIR/golden-store" 2>&1 | tee "$OUT_DIR/train_examples.txt" || rc=1
    CUDA_VISIBLE_DEVICES="" "$BUILD_DIR/bench/training/training_bench" train-examples \
      --examples "$ex" --out "$OUT_DIR/golden-store-cpu" 2>&1 |
      tee -a "$OUT_DIR/train_examples.txt" || rc=1
  fi
  log "results in $OUT_DIR (exit $rc)"
  return "$rc"
}

serving() {
  unpack
  setup_env
  local tp generator=() items="${ITEMS:-100000}"
  tp="$(torch_prefix)"
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  # GCC 13 no longer pulls <cstdint> in through other standard headers; the project is
  # built with GCC 12 here, so the device build includes it everywhere rather than fail.
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSTREAMREC_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="-include cstdint" \
    -DCMAKE_PREFIX_PATH="$PREFIX/usr;$tp" \
    -DPKG_CONFIG_EXECUTABLE="$PKG_CONFIG_EXECUTABLE"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target serving_bench
  mkdir -p "$OUT_DIR"
  {
    echo "## $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    grep -m1 'model name' /proc/cpuinfo || true
    local store="${TMPDIR:-/tmp}/streamrec-serving-bench-$items"
    log "snapshots of $items items"
    "$BUILD_DIR/bench/serving/serving_bench" snapshot --items "$items" --store "$store"
    log "swap v1 -> v2 with the ANN index (HNSW, built after the swap: the default)"
    "$BUILD_DIR/bench/serving/serving_bench" swap --store "$store" --background 1
    log "open loop at ${RATE:-1000} req/s, HNSW (auto) and exact, ${ROUNDS:-3} rounds"
    ANNS="${ANNS:-auto exact}" RATE="${RATE:-1000}" ROUNDS="${ROUNDS:-3}" \
      SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}" \
      bash "$ROOT/bench/serving/run_ann_ab.sh" "$BUILD_DIR" "$items"
    echo "## done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  } 2>&1 | tee "$OUT_DIR/serving.txt"
}

check() {
  bash -n "$0"
  for t in dpkg cmake c++ nm readelf python3; do
    command -v "$t" >/dev/null && log "found $t" || log "missing $t"
  done
}

case "$MODE" in
  download) download ;;
  configure) configure ;;
  build) build ;;
  run) run ;;
  serving) serving ;;
  check) check ;;
  *)
    sed -n '2,37p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
