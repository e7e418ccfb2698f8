#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

namespace streamrec {

// glibc malloc settings for the processes that run for days (`stage`, `run`; issue 12
// item 5). By default glibc raises its mmap threshold to the size of every large block
// freed (up to 32 MiB), so that after the first big transient — a commit's WriteBatch of
// tens of MiB in the item stage, a snapshot's decode buffers in serving — blocks of that
// size come from the heap, and the memory they leave when freed stays in the process's
// RSS (measured: the item stage's RSS grew 38% over a 10-minute soak with it, 15%
// without). A fixed threshold keeps every block of kLongRunningMmapThreshold or more in
// its own mapping, returned to the system when freed, and the same trim threshold gives
// back the heap's free top. Measured cost: none beyond noise on the stages' CPU per event
// (bench/RESULTS.md, "Memory soak"). No-op where the C library is not glibc. Call once,
// early, from the main thread.
inline constexpr size_t kLongRunningMmapThreshold = size_t{128} << 10;
// Also turns on the heap gauges below for this process.
void ApplyLongRunningHeapSettings();

// Sets streamrec_process_heap_in_use_bytes (blocks malloc handed out, mapped ones
// included) and streamrec_process_heap_free_bytes (free blocks malloc holds in its arenas,
// not returned to the system: what fragmentation costs) from glibc's mallinfo2, once
// ApplyLongRunningHeapSettings has run (SerializeMetrics calls it at every scrape): with
// RSS they tell data that grows from memory held free. No-op otherwise, or without glibc.
// Any thread.
void RefreshHeapGauges();

// Gives the heap's free memory back to the system every `interval`: glibc's
// malloc_trim(0), which releases the free pages inside every arena, not only a heap's
// free top (all the trim threshold does). Threads allocate in many arenas (librdkafka's,
// RocksDB's, LibTorch's, the stages'), and blocks freed by a thread other than the one
// that allocated them leave free holes that glibc keeps: measured in a 10-minute soak of
// `streamrec run`, the free heap grew from 69 to 160 MiB, and one malloc_trim(0) took ~90
// MiB off RSS. A trim holds each arena's lock briefly (milliseconds), so it runs seldom.
// No-op where the C library is not glibc. Its own thread; the destructor stops it.
class HeapTrimmer {
 public:
  static std::unique_ptr<HeapTrimmer> Start(std::chrono::milliseconds interval);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Trims done so far.
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  explicit HeapTrimmer(std::chrono::milliseconds interval);
  void Loop();

  const std::chrono::milliseconds interval_;
  std::atomic<uint64_t> trims_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace streamrec
