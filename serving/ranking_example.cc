#include "serving/ranking_example.h"

#include <cmath>
#include <limits>

#include "core/byte_codec.h"

namespace streamrec::serving {
namespace {

constexpr uint8_t kRankingExampleFormat = 1;
constexpr uint32_t kMaxUserIdBytes = 1 << 16;

// splitmix64's finaliser: a well-mixed 64-bit hash.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

bool MakeRankingExample(const RankerCapture& capture, uint64_t clicked_key, RankingExample* out) {
  const size_t n = capture.item_keys.size();
  if (n < 2 || capture.features.size() != n * static_cast<size_t>(kRankerFeatures)) return false;
  for (size_t i = 0; i < n; ++i) {
    if (capture.item_keys[i] != clicked_key) continue;
    out->item_key = clicked_key;
    out->positive = static_cast<uint32_t>(i);
    out->num_features = static_cast<uint32_t>(kRankerFeatures);
    out->features = capture.features;
    return true;
  }
  return false;
}

std::string EncodeRankingExample(const RankingExample& e) {
  ByteWriter w;
  w.Put<uint8_t>(kRankingExampleFormat);
  w.Put(e.user_key);
  w.PutString(e.user_id);
  w.Put(e.item_key);
  w.Put(e.ts_ms);
  w.Put(e.positive);
  w.Put(e.num_features);
  w.Put(static_cast<uint32_t>(e.candidates()));
  w.PutBytes(e.features.data(), e.candidates() * e.num_features * sizeof(float));
  return w.Take();
}

Result<RankingExample> DecodeRankingExample(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  if (!r.Get(&format)) return Status::Corruption("ranking example: empty");
  if (format != kRankingExampleFormat) {
    return Status::Corruption("ranking example: unknown format " + std::to_string(format));
  }
  RankingExample e;
  uint32_t n = 0;
  if (!r.Get(&e.user_key) || !r.GetString(&e.user_id, kMaxUserIdBytes) || !r.Get(&e.item_key) ||
      !r.Get(&e.ts_ms) || !r.Get(&e.positive) || !r.Get(&e.num_features) || !r.Get(&n)) {
    return Status::Corruption("ranking example: truncated header");
  }
  if (e.num_features == 0 || e.num_features > kMaxRankingFeatures) {
    return Status::Corruption("ranking example: " + std::to_string(e.num_features) + " features");
  }
  if (n < 2 || n > kMaxRankingCandidates) {
    return Status::Corruption("ranking example: " + std::to_string(n) + " candidates");
  }
  if (e.positive >= n) return Status::Corruption("ranking example: positive out of range");
  const size_t floats = static_cast<size_t>(n) * e.num_features;
  if (r.remaining() != floats * sizeof(float)) {
    return Status::Corruption("ranking example: " + std::to_string(r.remaining()) + " feature bytes, expected " +
                              std::to_string(floats * sizeof(float)));
  }
  e.features.resize(floats);
  if (!r.GetBytes(e.features.data(), floats * sizeof(float))) {
    return Status::Corruption("ranking example: truncated features");
  }
  for (float f : e.features) {
    if (!std::isfinite(f)) return Status::Corruption("ranking example: a feature is not finite");
  }
  return e;
}

bool SampleRankingExample(double rate, uint64_t user_key, uint64_t item_key, int64_t ts_ms) {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  const uint64_t h = Mix(user_key ^ Mix(item_key ^ Mix(static_cast<uint64_t>(ts_ms))));
  // The top 53 bits as a uniform double in [0, 1).
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0) < rate;
}

}  // namespace streamrec::serving
