#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "training/ranker.h"

namespace streamrec::training {

// How the ranker is trained (issue 9 item 3). Defaults documented here; no config keys.
struct RankerOptions {
  int64_t hidden1 = 32;        // first hidden layer width
  int64_t hidden2 = 16;        // second hidden layer width
  double learning_rate = 3e-3; // Adam
  int64_t batch_lists = 16;    // a step runs when this many candidate lists are buffered
  uint64_t seed = 7;           // initialisation
  // The feature added to the MLP's output (RankerShape::residual_feature): 0, the blend
  // score of serving/ranker_features.h, so the ranker learns a correction of the blend's
  // order and starts from it; -1: the MLP alone. Both measured (bench/RESULTS.md "The
  // ranking stage"): within noise of each other; 0 kept for its safe start.
  int64_t residual_feature = 0;
};

// One training example of the ranker: the candidates recall returned for one moment (a
// user's request just before their click), their features row-major
// [n, num_features], and which of them was clicked.
struct RankingList {
  std::vector<float> features;
  size_t positive = 0;
};

// Online training of the ranker: a listwise softmax loss (the clicked candidate against
// the others of its list), Adam, one step per `batch_lists` lists. LibTorch inside,
// nothing of it in this header. Not thread-safe (the trainer's thread owns it).
class RankerTrainer {
 public:
  static Result<std::unique_ptr<RankerTrainer>> Create(const RankerOptions& options,
                                                       int64_t num_features);
  ~RankerTrainer();
  RankerTrainer(const RankerTrainer&) = delete;
  RankerTrainer& operator=(const RankerTrainer&) = delete;

  // Buffers a list (InvalidArgument when its size is not a multiple of num_features, it
  // has fewer than 2 candidates, or `positive` is out of range); steps on a full batch.
  Status Add(const RankingList& list);
  // Steps on whatever is buffered (nothing when empty).
  Status Flush();
  // The current parameters as a servable model.
  Result<std::shared_ptr<const RankerModel>> Model() const;
  // Continues from `model`'s parameters (same shape; e.g. a resumed snapshot's ranker).
  Status LoadFrom(const RankerModel& model);

  int64_t num_features() const;
  int64_t steps() const;
  int64_t lists() const;      // lists trained on
  double last_loss() const;   // mean loss of the last step

  struct Rep;

 private:
  explicit RankerTrainer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::training
