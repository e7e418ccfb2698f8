#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/records.h"
#include "operators/cooccurrence.h"
#include "operators/frequency_estimator.h"
#include "operators/pair_counts.h"
#include "operators/popularity.h"
#include "operators/similarity.h"
#include "operators/user_window.h"
#include "streams/click_event.h"

namespace streamrec::operators {

// The batch layer's view of the co-occurrence state: what the user and item stages must
// hold after consuming the same events (the ground truth of the exactly-once tests, and
// the batch view of the lambda architecture).
struct BatchView {
  std::map<std::pair<uint64_t, uint64_t>, double> pair_counts;  // (a, b) -> c_ab
  std::map<uint64_t, double> item_counts;                       // weighted counts
  std::map<uint64_t, uint64_t> item_occurrences;                // number of events
  uint64_t events = 0;
  // Top-K neighbour lists, best first (filled by BatchViewBuilder::ToBatchView when its
  // top_k > 0 and by the readers of item-stage stores; empty from ComputeBatchView).
  std::map<uint64_t, std::vector<Neighbor>> top_neighbors;
};

// What the batch layer recomputes besides the pairs: the item stage's options that shape
// its state (operators/README.md's keys; ItemStageOptions holds the same values).
struct BatchViewOptions {
  UserWindowOptions window;
  CoocOptions cooc;
  // operators.similarity and operators.top_k: the neighbour lists (exact: every
  // neighbour of every item is scored). top_k 0: no lists.
  Similarity similarity = Similarity::kCosine;
  size_t top_k = 200;
  // operators.popularity.half_life_s, in ms (0: plain counts).
  int64_t popularity_half_life_ms = 7 * 24LL * 3600 * 1000;
  // operators.estimator.*.
  FrequencyEstimatorOptions estimator;
};

// Everything the batch layer knows of one item.
struct BatchItem {
  std::string item_id;
  double weight = 0;         // c_i: sum of event weights
  uint64_t occurrences = 0;  // n_i: number of events
  DecayedCount popularity;   // per event, in event time
};

// Recomputes the item-side state from events, one event at a time, with the same code as
// the stages: UserWindow (eviction by event time, the window before the event), the pair
// rules of GeneratePairs, event weights, DecayedCount, FrequencyEstimator, and the
// similarity scores and TopKList ranking of the item stage. Events must come in each
// user's stream order (the order of their `clicks` partition); events of different users
// may interleave arbitrarily, which changes only the estimator and, with a popularity
// half-life, the rounding of popularity. The state is held in memory (about 40 bytes a
// distinct pair, plus a window per user). Thread-compatible: one owner thread.
class BatchViewBuilder {
 public:
  explicit BatchViewBuilder(BatchViewOptions options);

  void Add(const ClickEvent& event);
  // Receives the training example of every event added from now on
  // (operators/training_example.h: the user stage's examples), for the batch model.
  void set_example_sink(std::function<void(const TrainingExample&)> sink) { example_sink_ = std::move(sink); }

  // The exact top-K list of `item` under options().similarity: every neighbour with a
  // positive pair count is scored from the final counts (what the item stage's list
  // converges to under `count`, and the exact answer it approximates otherwise).
  std::vector<Neighbor> TopNeighbors(uint64_t item) const;

  const BatchViewOptions& options() const { return options_; }
  uint64_t events() const { return events_; }
  // Sum of every event's weight (the "total" of lift).
  double total_weight() const { return total_weight_; }
  size_t num_pairs() const { return pairs_.size(); }
  int64_t max_ts_ms() const { return max_ts_ms_; }
  const std::unordered_map<uint64_t, BatchItem>& items() const { return items_; }
  // c_ab, symmetric.
  const PairCounts& pairs() const { return pairs_; }
  const FrequencyEstimator& estimator() const { return estimator_; }

  // The ordered form the exactness tests compare (top_neighbors when top_k > 0).
  BatchView ToBatchView() const;

 private:
  BatchViewOptions options_;
  std::unordered_map<uint64_t, UserWindow> windows_;
  PairCounts pairs_;
  std::vector<PairCounts::Increment> increments_;  // one event's pairs (capacity reused)
  std::unordered_map<uint64_t, BatchItem> items_;
  FrequencyEstimator estimator_;
  std::function<void(const TrainingExample&)> example_sink_;
  uint64_t events_ = 0;
  double total_weight_ = 0;
  int64_t max_ts_ms_ = 0;
};

// Recomputes the pair and item counts from events (BatchViewBuilder without top-K lists).
// Pure.
BatchView ComputeBatchView(const std::vector<ClickEvent>& events, const UserWindowOptions& window,
                           const CoocOptions& cooc);

}  // namespace streamrec::operators
