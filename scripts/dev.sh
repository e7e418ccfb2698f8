#!/usr/bin/env bash
# One command for all set-up on a fresh Debian 12 machine:
#   scripts/dev.sh run    install what is missing, build, run `streamrec run`
#   scripts/dev.sh test   install what is missing, build, run the whole test suite
#   scripts/dev.sh build  install what is missing and build only
# Idempotent: a second run installs nothing and reuses the build (ccache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${STREAMREC_BUILD_DIR:-$ROOT/build}"
MODE="${1:-build}"
shift || true

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  clang libclang-rt-14-dev
  librdkafka-dev librocksdb-dev libtorch-dev libopenblas0-pthread prometheus-cpp-dev
  libsimdjson-dev libcli11-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libxxhash-dev
  libcpp-httplib-dev libhnswlib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  kcat python3 python3-kafka python3-jsonschema curl procps wrk
  chromium prometheus gnuplot-nox
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "dev.sh: all ${#PACKAGES[@]} Debian packages present"
    return
  fi
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Debian's LibTorch calls BLAS through libblas.so.3, which is the reference implementation
# unless OpenBLAS is installed (its alternative has the higher priority): the trainer's
# matmuls are several times faster on OpenBLAS (bench/RESULTS.md). Warn when the
# alternative was pinned elsewhere.
check_blas() {
  local blas
  blas="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)"
  case "$blas" in
    *openblas*) ;;
    *) echo "dev.sh: warning: libblas.so.3 is '${blas}', not OpenBLAS; see" \
         "update-alternatives --display libblas.so.3-x86_64-linux-gnu" >&2 ;;
  esac
}

build() {
  local jobs
  jobs="$(nproc)"
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  # Paths under the clone are hashed relative to it, so a fresh clone elsewhere (as CI
  # makes) still hits the cache.
  export CCACHE_BASEDIR="$ROOT"
  export CCACHE_NOHASHDIR=1
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j "$jobs"
}

# JavaScript clients the e2e tests drive (puppeteer-core for the storefront test in
# chromium, kafkajs for interop), pinned by tests/js/package-lock.json. npm is not a
# required package: without it, or without its registry, those tests skip and say why.
install_js_test_tools() {
  local dir="$BUILD_DIR/js-tools"
  if ! command -v npm >/dev/null 2>&1; then
    echo "dev.sh: npm not found; the browser and kafkajs tests will be skipped"
    return
  fi
  if [ -f "$dir/package-lock.json" ] && cmp -s "$ROOT/tests/js/package-lock.json" "$dir/package-lock.json" \
      && [ -d "$dir/node_modules" ]; then
    return
  fi
  mkdir -p "$dir"
  cp "$ROOT/tests/js/package.json" "$ROOT/tests/js/package-lock.json" "$dir/"
  if ! (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error); then
    echo "dev.sh: warning: npm ci failed; the browser and kafkajs tests will be skipped" >&2
    rm -rf "$dir/node_modules"
  fi
}

# The real-kafka test set (tests/README.md) runs Apache Kafka through scripts/kafka.sh,
# which needs Java 17+ and Maven; neither is a required package: without them those tests
# are reported as skipped, with the reason.
check_real_kafka_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || missing+=(java)
  command -v mvn >/dev/null 2>&1 || missing+=(mvn)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: ${missing[*]} not found; the real-kafka tests will be skipped"
  fi
}

case "$MODE" in
  build)
    install_packages
    check_blas
    build
    install_js_test_tools
    ;;
  run)
    install_packages
    check_blas
    build
    exec "$BUILD_DIR/bin/streamrec" run "$@"
    ;;
  test)
    install_packages
    check_blas
    build
    install_js_test_tools
    check_real_kafka_tools
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh run|test|build [args...]" >&2
    exit 2
    ;;
esac
