#include "serving/int16_scan.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

// Every ISA this CPU has (AVX2 machines run SSE2 and the generic code too) gives the
// exact integer dot products, computed here in 64 bits, including sums at the overflow
// limit the contract allows (stride · max|row| · max|q| just below 2³¹).
TEST(Int16ScanTest, EveryAvailableIsaComputesExactDotProducts) {
  EXPECT_TRUE(ScanIsaAvailable(ScanIsa::kGeneric));
  EXPECT_TRUE(ScanIsaAvailable(BestScanIsa()));
  for (size_t stride : {16u, 32u, 64u, 80u}) {
    const int limit = static_cast<int>(std::sqrt(2147483647.0 / static_cast<double>(stride)));
    const size_t n = 37;  // not a multiple of anything the kernels unroll by
    std::vector<int16_t> rows(n * stride);
    std::vector<int16_t> q(stride);
    uint64_t state = stride;
    auto next = [&] {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return static_cast<int>((state >> 33) % static_cast<uint64_t>(2 * limit + 1)) - limit;
    };
    for (auto& v : q) v = static_cast<int16_t>(next());
    for (size_t r = 0; r < n; ++r) {
      for (size_t i = 0; i < stride; ++i) {
        int v = next();
        // Row 0: every product at +limit², row 1 at −limit² (the largest sums).
        if (r == 0) v = q[i] >= 0 ? limit : -limit;
        if (r == 1) v = q[i] >= 0 ? -limit : limit;
        rows[r * stride + i] = static_cast<int16_t>(v);
      }
    }
    for (size_t i = 0; i < stride; ++i) q[i] = static_cast<int16_t>(q[i] >= 0 ? limit : -limit);
    std::vector<int64_t> want(n, 0);
    for (size_t r = 0; r < n; ++r) {
      for (size_t i = 0; i < stride; ++i) {
        want[r] += static_cast<int64_t>(rows[r * stride + i]) * q[i];
      }
    }
    ASSERT_GT(want[0], int64_t{2147483647} - (int64_t{2} * limit + 1) * static_cast<int64_t>(stride));
    for (ScanIsa isa : {ScanIsa::kGeneric, ScanIsa::kSse2, ScanIsa::kAvx2}) {
      if (!ScanIsaAvailable(isa)) continue;
      SCOPED_TRACE("stride " + std::to_string(stride) + " isa " +
                   std::to_string(static_cast<int>(isa)));
      std::vector<int32_t> got(n, -1);
      ScanInt16(isa, rows.data(), n, stride, q.data(), got.data());
      for (size_t r = 0; r < n; ++r) EXPECT_EQ(got[r], want[r]) << "row " << r;
    }
  }
}

}  // namespace
}  // namespace streamrec::serving
