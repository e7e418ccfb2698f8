# Every dependency is a Debian package installed by scripts/dev.sh; nothing is
# downloaded at build time.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(prometheus-cpp REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)

if(NOT STREAMREC_TRAINING_ONLY)
  find_package(CLI11 REQUIRED)
  find_package(simdjson REQUIRED)
  pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++ rdkafka)
  pkg_check_modules(ROCKSDB REQUIRED IMPORTED_TARGET rocksdb)
endif()

if(STREAMREC_WITH_TORCH)
  # Debian's LibTorch (CPU) by default; on a GPU machine pass
  # -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)').
  find_package(Torch REQUIRED)
endif()

if(STREAMREC_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(STREAMREC_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
