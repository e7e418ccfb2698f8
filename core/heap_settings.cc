#include "core/heap_settings.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include "core/metrics.h"

namespace streamrec {
namespace {

std::atomic<bool> heap_gauges_on{false};

struct HeapGauges {
  prometheus::Gauge* in_use;
  prometheus::Gauge* free;
};

HeapGauges& Gauges() {
  static HeapGauges g = [] {
    auto& in_use = prometheus::BuildGauge()
                       .Name("streamrec_process_heap_in_use_bytes")
                       .Help("Bytes of the blocks malloc has handed out and not had back (mapped blocks included)")
                       .Register(*MetricsRegistry());
    auto& free = prometheus::BuildGauge()
                     .Name("streamrec_process_heap_free_bytes")
                     .Help("Bytes of free blocks malloc keeps in its arenas instead of returning them to the "
                           "system (fragmentation)")
                     .Register(*MetricsRegistry());
    return HeapGauges{&in_use.Add({}), &free.Add({})};
  }();
  return g;
}

}  // namespace

void ApplyLongRunningHeapSettings() {
#if defined(__GLIBC__)
  // mallopt returns 1 on success; a failure leaves glibc's defaults, which work, only
  // with more memory kept: said in the log, not fatal.
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLongRunningMmapThreshold)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kLongRunningMmapThreshold)) != 1) {
    spdlog::warn("could not set malloc's mmap and trim thresholds; keeping glibc's defaults");
  }
  Gauges();  // registered now, so the series exist from the first scrape
  heap_gauges_on.store(true, std::memory_order_relaxed);
#endif
}

void RefreshHeapGauges() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  if (!heap_gauges_on.load(std::memory_order_relaxed)) return;
  const struct mallinfo2 info = mallinfo2();
  Gauges().in_use->Set(static_cast<double>(info.uordblks + info.hblkhd));
  Gauges().free->Set(static_cast<double>(info.fordblks));
#endif
}

std::unique_ptr<HeapTrimmer> HeapTrimmer::Start(std::chrono::milliseconds interval) {
  return std::unique_ptr<HeapTrimmer>(new HeapTrimmer(interval));
}

HeapTrimmer::HeapTrimmer(std::chrono::milliseconds interval)
    : interval_(interval), thread_([this] { Loop(); }) {}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HeapTrimmer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    trims_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

}  // namespace streamrec
