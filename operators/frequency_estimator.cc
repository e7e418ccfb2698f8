#include "operators/frequency_estimator.h"

#include <algorithm>
#include <cmath>

#include "core/byte_codec.h"

namespace streamrec::operators {
namespace {

constexpr uint8_t kBlockFormat = 1;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Result<FrequencyEstimatorOptions> FrequencyEstimatorOptions::FromConfig(const Config& config) {
  FrequencyEstimatorOptions o;
  auto h = config.GetInt("operators.estimator.array_size", static_cast<int64_t>(o.array_size));
  if (!h.ok()) return h.status();
  auto m = config.GetInt("operators.estimator.hashes", o.num_hashes);
  if (!m.ok()) return m.status();
  auto a = config.GetDouble("operators.estimator.alpha", o.alpha);
  if (!a.ok()) return a.status();
  if (*h < 1 || *h > (1 << 26)) {
    return Status::InvalidArgument("operators.estimator.array_size must be in [1, 2^26]");
  }
  if (*m < 1 || *m > 16) return Status::InvalidArgument("operators.estimator.hashes must be in [1, 16]");
  if (!(*a > 0 && *a <= 1)) return Status::InvalidArgument("operators.estimator.alpha must be in (0, 1]");
  o.array_size = static_cast<size_t>(*h);
  o.num_hashes = static_cast<int>(*m);
  o.alpha = *a;
  return o;
}

FrequencyEstimator::FrequencyEstimator(FrequencyEstimatorOptions options) : options_(options) {
  if (options_.array_size < 1) options_.array_size = 1;
  if (options_.num_hashes < 1) options_.num_hashes = 1;
  const size_t n = options_.array_size * static_cast<size_t>(options_.num_hashes);
  a_.assign(n, 0.0);
  b_.assign(n, 0.0);
  num_blocks_ = (n + kBlockEntries - 1) / kBlockEntries;
  entry_dirty_.assign(n, false);
}

void FrequencyEstimator::ClearDirty() {
  dirty_.clear();
  for (size_t idx : dirty_entries_) entry_dirty_[idx] = false;
  dirty_entries_.clear();
}

std::string FrequencyEstimator::SerializeEntry(size_t index) const {
  ByteWriter w;
  w.Put<double>(a_[index]);
  w.Put<double>(b_[index]);
  return w.Take();
}

Status FrequencyEstimator::ParseEntry(size_t index, std::string_view bytes) {
  if (index >= a_.size()) return Status::InvalidArgument("estimator entry out of range (options changed?)");
  ByteReader r(bytes);
  double a = 0, b = 0;
  if (!r.Get(&a) || !r.Get(&b) || !r.AtEnd()) return Status::Corruption("estimator entry: bad size");
  a_[index] = a;
  b_[index] = b;
  return Status::Ok();
}

size_t FrequencyEstimator::Bucket(int hash, uint64_t item_key) const {
  const uint64_t h = SplitMix64(item_key ^ SplitMix64(static_cast<uint64_t>(hash) + 1));
  return static_cast<size_t>(hash) * options_.array_size + static_cast<size_t>(h % options_.array_size);
}

void FrequencyEstimator::Update(uint64_t item_key, double step) {
  for (int i = 0; i < options_.num_hashes; ++i) {
    const size_t idx = Bucket(i, item_key);
    double& a = a_[idx];
    double& b = b_[idx];
    if (a > 0) {
      const double gap = std::max(0.0, step - a);
      b = (b == 0) ? gap : (1 - options_.alpha) * b + options_.alpha * gap;
    }
    a = step;
    dirty_.insert(idx / kBlockEntries);
    if (!entry_dirty_[idx]) {
      entry_dirty_[idx] = true;
      dirty_entries_.push_back(idx);
    }
  }
  step_ = std::max(step_, step);
}

void FrequencyEstimator::Observe(uint64_t item_key) {
  step_ += 1;
  Update(item_key, step_);
}

void FrequencyEstimator::UpdateAggregated(
    const std::vector<std::pair<uint64_t, uint64_t>>& occurrences, uint64_t total_events) {
  const double t0 = step_;
  uint64_t sum = 0;
  for (const auto& [k, n] : occurrences) sum += n;
  const double total = static_cast<double>(std::max<uint64_t>(total_events, sum));
  if (total <= 0) return;
  std::vector<std::pair<double, uint64_t>> sightings;
  sightings.reserve(sum);
  for (const auto& [k, n] : occurrences) {
    const double spacing = total / static_cast<double>(n);
    for (uint64_t j = 0; j < n; ++j) sightings.emplace_back(t0 + spacing * static_cast<double>(j + 1), k);
  }
  std::sort(sightings.begin(), sightings.end());
  for (const auto& [t, k] : sightings) Update(k, t);
  step_ = t0 + total;
}

double FrequencyEstimator::Estimate(uint64_t item_key) const {
  double max_b = 0;
  for (int i = 0; i < options_.num_hashes; ++i) max_b = std::max(max_b, b_[Bucket(i, item_key)]);
  return max_b > 0 ? 1.0 / max_b : 0.0;
}

std::string FrequencyEstimator::SerializeBlock(size_t block) const {
  ByteWriter w;
  w.Put<uint8_t>(kBlockFormat);
  const size_t begin = block * kBlockEntries;
  const size_t end = std::min(a_.size(), begin + kBlockEntries);
  w.Put<uint32_t>(static_cast<uint32_t>(end > begin ? end - begin : 0));
  for (size_t i = begin; i < end; ++i) {
    w.Put<double>(a_[i]);
    w.Put<double>(b_[i]);
  }
  return w.Take();
}

Status FrequencyEstimator::ParseBlock(size_t block, std::string_view bytes) {
  if (block >= num_blocks_) return Status::InvalidArgument("estimator block out of range");
  ByteReader r(bytes);
  uint8_t format = 0;
  uint32_t n = 0;
  const size_t begin = block * kBlockEntries;
  const size_t expect = std::min(a_.size() - begin, kBlockEntries);
  if (!r.Get(&format) || format != kBlockFormat || !r.Get(&n) || n != expect) {
    return Status::Corruption("estimator block: format or size mismatch (options changed?)");
  }
  for (size_t i = begin; i < begin + n; ++i) {
    if (!r.Get(&a_[i]) || !r.Get(&b_[i])) return Status::Corruption("estimator block: truncated");
  }
  return Status::Ok();
}

}  // namespace streamrec::operators
