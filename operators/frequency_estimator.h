#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace streamrec::operators {

// Options of the streaming sampling-probability estimator (config
// `operators.estimator.*`).
struct FrequencyEstimatorOptions {
  // operators.estimator.array_size (H): buckets per hash function. Default 32768.
  size_t array_size = 1 << 15;
  // operators.estimator.hashes (m): independent hash functions. Default 2.
  int num_hashes = 2;
  // operators.estimator.alpha (α): learning rate of the gap average, in (0, 1].
  // Default 0.01. The relative standard deviation of p̂ for a frequent item is about
  // sqrt(α / (2 − α)) (gaps are ~geometric, so their coefficient of variation is ~1).
  double alpha = 0.01;

  static Result<FrequencyEstimatorOptions> FromConfig(const Config& config);
};

// Streaming estimate of each item's sampling probability (Yi et al., RecSys 2019,
// "Sampling-bias-corrected neural modeling", Algorithms 2–3): per hash function i, arrays
// A_i (step the bucket was last seen) and B_i (moving average of the gap between
// sightings). On item y at step t, for each i: B_i[h_i(y)] ← (1−α)·B_i[h_i(y)] +
// α·(t − A_i[h_i(y)]), then A_i[h_i(y)] ← t. Estimate p̂(y) = 1 / max_i B_i[h_i(y)]
// (the max picks the least collided bucket). Two details the paper leaves open: a
// bucket's first sighting only sets A (there is no gap yet), and its first gap
// initialises B directly instead of averaging it with B = 0, which removes the start-up
// bias without changing the recurrence afterwards.
//
// Persistence: the entries (bucket i: A_i, B_i) changed since ClearDirty() are
// dirty_entries(), so a store can write exactly those with every commit (the item stage
// does, in the same WriteBatch as its offsets). Whole blocks (SerializeBlock) are the
// older layout, still read on restore. Thread-compatible: owned by one thread.
class FrequencyEstimator {
 public:
  static constexpr size_t kBlockEntries = 512;

  explicit FrequencyEstimator(FrequencyEstimatorOptions options = {});

  // One sighting of `item_key` at `step` (steps must not decrease per bucket).
  void Update(uint64_t item_key, double step);
  // Sightings of one flush, given as (item, occurrences) with `total_events` events in
  // all: each item's occurrences are spread evenly over the steps
  // (step(), step() + total_events] and applied in step order; step() then advances by
  // total_events. This is how the item stage feeds it from pre-aggregated deltas.
  void UpdateAggregated(const std::vector<std::pair<uint64_t, uint64_t>>& occurrences,
                        uint64_t total_events);
  // Advances the step counter by one and records a sighting there.
  void Observe(uint64_t item_key);

  // p̂(y), or 0 when y's buckets have no gap estimate yet.
  double Estimate(uint64_t item_key) const;

  double step() const { return step_; }
  void set_step(double step) { step_ = step; }
  const FrequencyEstimatorOptions& options() const { return options_; }

  // Persistence: the arrays as num_blocks() blocks; dirty_blocks() are those changed
  // since ClearDirty().
  size_t num_blocks() const { return num_blocks_; }
  std::string SerializeBlock(size_t block) const;
  Status ParseBlock(size_t block, std::string_view bytes);
  const std::set<size_t>& dirty_blocks() const { return dirty_; }
  // Entries: index in [0, num_entries()), value (A, B) as 16 bytes.
  size_t num_entries() const { return a_.size(); }
  const std::vector<size_t>& dirty_entries() const { return dirty_entries_; }
  std::string SerializeEntry(size_t index) const;
  Status ParseEntry(size_t index, std::string_view bytes);
  void ClearDirty();

 private:
  size_t Bucket(int hash, uint64_t item_key) const;

  FrequencyEstimatorOptions options_;
  size_t num_blocks_ = 0;
  std::vector<double> a_;  // m * H, hash-major
  std::vector<double> b_;
  double step_ = 0;
  std::set<size_t> dirty_;
  std::vector<size_t> dirty_entries_;
  std::vector<bool> entry_dirty_;  // membership of dirty_entries_
};

}  // namespace streamrec::operators
