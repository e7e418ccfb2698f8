#include "serving/int16_scan.h"

#include <initializer_list>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace streamrec::serving {
namespace {

void ScanGeneric(const int16_t* rows, size_t n, size_t stride, const int16_t* q, int32_t* out) {
  for (size_t r = 0; r < n; ++r) {
    const int16_t* a = rows + r * stride;
    int32_t sum = 0;
    for (size_t i = 0; i < stride; ++i) sum += static_cast<int32_t>(a[i]) * q[i];
    out[r] = sum;
  }
}

#if defined(__x86_64__)
// The four int32 lanes added.
int32_t HorizontalSum(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}

void ScanSse2(const int16_t* rows, size_t n, size_t stride, const int16_t* q, int32_t* out) {
  for (size_t r = 0; r < n; ++r) {
    const int16_t* a = rows + r * stride;
    __m128i acc = _mm_setzero_si128();
    for (size_t i = 0; i < stride; i += 8) {
      acc = _mm_add_epi32(
          acc, _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)),
                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i))));
    }
    out[r] = HorizontalSum(acc);
  }
}

__attribute__((target("avx2"))) void ScanAvx2(const int16_t* rows, size_t n, size_t stride,
                                               const int16_t* q, int32_t* out) {
  for (size_t r = 0; r < n; ++r) {
    const int16_t* a = rows + r * stride;
    __m256i acc = _mm256_setzero_si256();
    for (size_t i = 0; i < stride; i += 16) {
      acc = _mm256_add_epi32(
          acc, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i))));
    }
    out[r] = HorizontalSum(
        _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)));
  }
}
#endif

}  // namespace

bool ScanIsaAvailable(ScanIsa isa) {
  switch (isa) {
    case ScanIsa::kGeneric:
      return true;
#if defined(__x86_64__)
    case ScanIsa::kSse2:
      return true;
    case ScanIsa::kAvx2:
      return __builtin_cpu_supports("avx2");
#endif
    default:
      return false;
  }
}

ScanIsa BestScanIsa() {
  for (ScanIsa isa : {ScanIsa::kAvx2, ScanIsa::kSse2}) {
    if (ScanIsaAvailable(isa)) return isa;
  }
  return ScanIsa::kGeneric;
}

void ScanInt16(ScanIsa isa, const int16_t* rows, size_t n, size_t stride, const int16_t* q,
               int32_t* out) {
  switch (isa) {
#if defined(__x86_64__)
    case ScanIsa::kSse2:
      return ScanSse2(rows, n, stride, q, out);
    case ScanIsa::kAvx2:
      return ScanAvx2(rows, n, stride, q, out);
#endif
    default:
      return ScanGeneric(rows, n, stride, q, out);
  }
}

}  // namespace streamrec::serving
