#include "core/heap_settings.h"

#include <cstdlib>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace streamrec
