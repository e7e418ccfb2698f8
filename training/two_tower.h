#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

#include "training/model_options.h"

namespace streamrec::training {

// Row-index inputs of one batch (CPU or device int64 tensors).
struct UserFeatures {
  torch::Tensor user_rows;     // [B]; 0 = unknown user (zero id embedding)
  torch::Tensor history_rows;  // [B, L]; 0 = padding / unknown item, right-padded
  torch::Tensor history_len;   // [B]; number of leading non-padding entries (0..L)
  // [B, L, kHistoryTimeFeatures] float, only for HistoryEncoder::kWrnn (else undefined):
  // HistoryTimeFeatures of each row's kept entries, zeros on padding.
  torch::Tensor history_time;
};

// Time-gap features per history step for the W-RNN encoder, computed from the window's
// own timestamps only (never the request's or the clicked event's time), so that the
// trainer (an example's history) and serving (a user's window) build the same values for
// the same window, and a served user vector depends on the window alone (it is cached per
// window version, serving/user_embedding_cache.h). For the kept entries t_0..t_{n-1}
// (oldest first, in ms), step j gets
//   [0] log1p(seconds since the previous kept entry) * kHistoryTimeScale (0 for j = 0),
//   [1] log1p(seconds from t_j to the newest kept entry t_{n-1}) * kHistoryTimeScale;
// negative differences (out-of-order timestamps) count as 0. Row-major [n, 2].
inline constexpr int64_t kHistoryTimeFeatures = 2;
inline constexpr double kHistoryTimeScale = 1.0 / 16;  // log1p(one year in s) ~ 17.3
std::vector<float> HistoryTimeFeatures(const std::vector<int64_t>& ts_ms);

// One tower's MLP: Linear -> ReLU -> Linear, or a single Linear when hidden_dim == 0.
class TowerMlpImpl : public torch::nn::Module {
 public:
  TowerMlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear first_{nullptr};
  torch::nn::Linear second_{nullptr};
};
TORCH_MODULE(TowerMlp);

// The two-tower model of DESIGN §4. Item tower: item-id embedding (+ category and brand
// embeddings, hashed buckets, for items the catalogue describes) -> MLP -> L2-normalise. User tower: [user-id embedding, pooled history of
// item-id embeddings (masked mean, or the last GRU state; the W-RNN's GRU reads
// [item embedding, history_time] per step)] -> MLP -> L2-normalise. UserTower throws
// (c10::Error) if a W-RNN model is given features without `history_time`.
// The history shares the item-id embedding table. Parameter names are stable
// ("item_ids.weight", ...): snapshots store tensors by name.
// Used by one thread at a time (the trainer's, or a snapshot under NoGradGuard).
class TwoTowerModelImpl : public torch::nn::Module {
 public:
  explicit TwoTowerModelImpl(const TwoTowerOptions& options);

  // `category_rows` / `brand_rows` (each [B] or undefined): bucket rows from SideRow(), 0
  // for none. Undefined both: the id embedding alone (exactly the model without side
  // tables). Defined: the side embeddings of rows > 0 are added, and an item row of 0 (an
  // item the id table does not hold: a cold catalogue item) contributes a zero id
  // embedding, so such an item is its category and brand alone.
  torch::Tensor ItemTower(const torch::Tensor& item_rows, const torch::Tensor& category_rows = {},
                          const torch::Tensor& brand_rows = {});
  bool has_side_features() const { return categories_ || brands_; }
  torch::Tensor UserTower(const UserFeatures& f);

  // Re-draw embedding rows (after an id-table eviction or a fresh assignment), all of
  // them in one operation: on a GPU a kernel per row made id assignment the largest part
  // of a training step (issue 16).
  void ResetItemRows(const std::vector<int64_t>& rows);
  void ResetUserRows(const std::vector<int64_t>& rows);

  // The embedding tables' weights, in this order, those the options create: item ids,
  // user ids (use_user_id), categories (category_capacity > 0), brands (brand_capacity > 0).
  std::vector<torch::Tensor> EmbeddingWeights() const;
  // Every other parameter (the towers' MLPs, the GRU): the dense part of the model.
  std::vector<torch::Tensor> DenseParameters();
  // Makes the embedding tables produce sparse gradients (only the rows a batch used),
  // for SparseRowOptimizer; off by default (dense gradients, any torch optimizer).
  void SetSparseGradients(bool sparse);

  const TwoTowerOptions& options() const { return options_; }

 private:
  torch::Tensor PoolHistory(const UserFeatures& f);

  TwoTowerOptions options_;
  torch::nn::Embedding item_ids_{nullptr};
  torch::nn::Embedding user_ids_{nullptr};
  torch::nn::Embedding categories_{nullptr};
  torch::nn::Embedding brands_{nullptr};
  torch::nn::GRU gru_{nullptr};
  TowerMlp item_mlp_{nullptr};
  TowerMlp user_mlp_{nullptr};
};
TORCH_MODULE(TwoTowerModel);

// Standard deviation of freshly initialised embedding rows.
inline constexpr double kEmbeddingInitStd = 0.05;

// The bucket row of a side-feature key (category or brand, a HashId) in a table of
// `capacity` buckets: 0 (none) for key 0 or capacity <= 0, else 1 + key % capacity.
inline int64_t SideRow(uint64_t key, int64_t capacity) {
  if (key == 0 || capacity <= 0) return 0;
  return 1 + static_cast<int64_t>(key % static_cast<uint64_t>(capacity));
}

// Builds UserFeatures on the CPU from id rows: histories (oldest first) are cut to the
// time window (relative to now_ms[i]) and the newest `max_history` entries; unknown items
// (row 0) are dropped. With HistoryEncoder::kWrnn also `history_time`, from the timestamps
// of the entries kept. The one function both the trainer and serving's user tower call.
UserFeatures BuildUserFeatures(const std::vector<int64_t>& user_rows,
                               const std::vector<std::vector<int64_t>>& history_rows,
                               const std::vector<std::vector<int64_t>>& history_ts_ms,
                               const std::vector<int64_t>& now_ms, const TwoTowerOptions& opt);

}  // namespace streamrec::training
