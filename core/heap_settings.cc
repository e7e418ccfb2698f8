#include "core/heap_settings.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <spdlog/spdlog.h>

namespace streamrec {

void ApplyLongRunningHeapSettings() {
#if defined(__GLIBC__)
  // mallopt returns 1 on success; a failure leaves glibc's defaults, which work, only
  // with more memory kept: said in the log, not fatal.
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLongRunningMmapThreshold)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kLongRunningMmapThreshold)) != 1) {
    spdlog::warn("could not set malloc's mmap and trim thresholds; keeping glibc's defaults");
  }
#endif
}

}  // namespace streamrec
