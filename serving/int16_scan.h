#pragma once

#include <cstddef>
#include <cstdint>

namespace streamrec::serving {

// The exact index's integer pre-scan (serving/embedding_index.cc): dot products of n
// int16 rows with an int16 query, out[r] = Σ_i rows[r·stride + i] · q[i], in int32.
// `stride` is a multiple of 16 (rows and query zero-padded); the caller keeps
// stride · max|row| · max|q| below 2³¹ so no sum overflows.
enum class ScanIsa {
  kGeneric,  // plain C++ (any CPU)
  kSse2,     // x86-64 baseline
  kAvx2,     // x86-64 with AVX2, chosen at run time (the build targets baseline x86-64)
};

// Whether this CPU (and build) can run `isa`.
bool ScanIsaAvailable(ScanIsa isa);
// The fastest available.
ScanIsa BestScanIsa();
// The scan with `isa`, which must be available.
void ScanInt16(ScanIsa isa, const int16_t* rows, size_t n, size_t stride, const int16_t* q,
               int32_t* out);

}  // namespace streamrec::serving
