#pragma once

#include <chrono>

namespace streamrec::bench {

using Clock = std::chrono::steady_clock;

// Seconds from `a` to `b`.
double Seconds(Clock::time_point a, Clock::time_point b);

// CPU seconds this process has used so far, user and system, all threads (librdkafka's,
// RocksDB's and the benchmark's own).
double ProcessCpuSeconds();

}  // namespace streamrec::bench
