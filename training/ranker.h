#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec::training {

// The ranking stage's model (issue 9 item 3): a small MLP that scores a request's recall
// candidates from their features (serving/ranker_features.h lists them):
//   x (num_features) -> ReLU(W1 x + b1) (hidden1) -> ReLU(W2 h + b2) (hidden2) -> w3·h + b3,
// plus x[residual_feature] when that is >= 0 (the pre-rank score: the MLP then learns a
// correction of the order it is given, and an untrained one keeps that order).
// Trained by RankerTrainer (training/ranker_trainer.h, LibTorch) and stored in the
// two-tower snapshot's directory as `ranker.bin`; this header and its scorer are plain
// C++ (no torch), so serving scores a few hundred candidates without LibTorch.
struct RankerShape {
  int64_t num_features = 0;
  int64_t hidden1 = 32;
  int64_t hidden2 = 16;
  int64_t residual_feature = -1;  // feature added to the output; -1: none
};

// The file inside a snapshot directory (training/snapshot.h) that holds the ranker.
inline constexpr char kRankerFile[] = "ranker.bin";

// A trained ranker. Immutable after creation; Score() is thread-safe.
class RankerModel {
 public:
  // The parameters in row-major order: w1 [hidden1, num_features], b1 [hidden1],
  // w2 [hidden2, hidden1], b2 [hidden2], w3 [hidden2], b3 [1]. InvalidArgument when a
  // size does not match the shape or a value is not finite.
  static Result<std::shared_ptr<const RankerModel>> Create(RankerShape shape,
                                                           std::vector<float> params);
  // "SRRANKR1", shape (4 × i64), parameter count (u64), float32 parameters.
  static Result<std::shared_ptr<const RankerModel>> Decode(std::string_view bytes);
  // Reads `dir`/ranker.bin; Corruption when its XXH3 checksum (16 hex digits, as the
  // manifest's ranker_checksum) differs from `expected_checksum` (empty: not checked).
  static Result<std::shared_ptr<const RankerModel>> Load(const std::string& dir,
                                                         const std::string& expected_checksum);
  std::string Encode() const;

  const RankerShape& shape() const { return shape_; }
  const std::vector<float>& params() const { return params_; }
  // Scores `n` candidates: features row-major [n, num_features] -> out[n].
  void Score(const float* features, size_t n, float* out) const;

  static size_t NumParams(const RankerShape& shape);

 private:
  RankerModel(RankerShape shape, std::vector<float> params)
      : shape_(shape), params_(std::move(params)) {}
  const RankerShape shape_;
  const std::vector<float> params_;
};

}  // namespace streamrec::training
