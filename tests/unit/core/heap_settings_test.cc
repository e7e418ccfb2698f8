#include "core/heap_settings.h"

#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/metrics.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace streamrec {
namespace {

#if defined(__GLIBC__)
// Keeps the compiler from eliding a malloc/free pair whose memory nothing reads.
void Escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// Whether a block of `bytes` gets its own mapping (mallinfo2's hblks counts them).
bool MallocMaps(size_t bytes) {
  const size_t before = mallinfo2().hblks;
  void* p = std::malloc(bytes);
  Escape(p);
  const bool mapped = mallinfo2().hblks == before + 1;
  std::free(p);
  return mapped;
}
#endif

TEST(HeapSettingsTest, LargeBlocksKeepTheirOwnMappingAfterABiggerOneWasFreed) {
#if defined(__GLIBC__)
  ApplyLongRunningHeapSettings();
  // glibc's default would now raise its threshold to 24 MiB (the size of this freed
  // mapping) and serve the next 20 MiB block from the heap, where it stays in RSS once
  // freed. (A block is only mapped when the heap has no free chunk that fits, so the
  // sizes are larger than what other tests of this binary leave free.)
  void* big = std::malloc(size_t{24} << 20);
  Escape(big);
  std::free(big);
  EXPECT_TRUE(MallocMaps(size_t{20} << 20));
#else
  GTEST_SKIP() << "glibc only";
#endif
}

#if defined(__GLIBC__)
// The value of an unlabelled gauge as /metrics shows it (-1 when absent).
double ScrapedGauge(const std::string& name) {
  const std::string text = SerializeMetrics();
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + name.size() + 2, nullptr);
}
#endif

// The heap gauges follow malloc: a 64 MiB block held shows in "in use" at the next
// scrape and is gone from it once freed.
TEST(HeapSettingsTest, HeapGaugesFollowWhatMallocHandsOut) {
#if defined(__GLIBC__)
  ApplyLongRunningHeapSettings();
  const double before = ScrapedGauge("streamrec_process_heap_in_use_bytes");
  ASSERT_GT(before, 0);
  EXPECT_GE(ScrapedGauge("streamrec_process_heap_free_bytes"), 0);
  void* p = std::malloc(size_t{64} << 20);
  Escape(p);
  const double held = ScrapedGauge("streamrec_process_heap_in_use_bytes");
  std::free(p);
  const double after = ScrapedGauge("streamrec_process_heap_in_use_bytes");
  EXPECT_GT(held - before, 60.0 * (1 << 20));
  EXPECT_LT(after - before, 4.0 * (1 << 20));
#else
  GTEST_SKIP() << "glibc only";
#endif
}

// The trimmer trims on its interval until it is destroyed, and stops without waiting out
// an interval.
TEST(HeapTrimmerTest, TrimsOnItsIntervalAndStopsPromptly) {
  auto trimmer = HeapTrimmer::Start(std::chrono::milliseconds(5));
  for (int i = 0; i < 2000 && trimmer->trims() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(trimmer->trims(), 3u);
  auto slow = HeapTrimmer::Start(std::chrono::hours(1));
  slow.reset();  // returns at once: the join is not an hour away (the test's timeout says so)
  SUCCEED();
}

}  // namespace
}  // namespace streamrec
