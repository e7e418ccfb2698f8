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
};

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

// The two-tower model of DESIGN §4. Item tower: item-id embedding (+ category
// embedding) -> MLP -> L2-normalise. User tower: [user-id embedding, pooled history of
// item-id embeddings (masked mean, or the last GRU state)] -> MLP -> L2-normalise.
// The history shares the item-id embedding table. Parameter names are stable
// ("item_ids.weight", ...): snapshots store tensors by name.
// Used by one thread at a time (the trainer's, or a snapshot under NoGradGuard).
class TwoTowerModelImpl : public torch::nn::Module {
 public:
  explicit TwoTowerModelImpl(const TwoTowerOptions& options);

  torch::Tensor ItemTower(const torch::Tensor& item_rows, const torch::Tensor& category_rows);
  torch::Tensor UserTower(const UserFeatures& f);

  // Re-draw embedding rows (after an id-table eviction or a fresh assignment), all of
  // them in one operation: on a GPU a kernel per row made id assignment the largest part
  // of a training step (issue 16).
  void ResetItemRows(const std::vector<int64_t>& rows);
  void ResetUserRows(const std::vector<int64_t>& rows);
  void ResetCategoryRows(const std::vector<int64_t>& rows);

  // The embedding tables' weights, in this order, those the options create: item ids,
  // user ids (use_user_id), categories (category_capacity > 0).
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
  torch::nn::GRU gru_{nullptr};
  TowerMlp item_mlp_{nullptr};
  TowerMlp user_mlp_{nullptr};
};
TORCH_MODULE(TwoTowerModel);

// Standard deviation of freshly initialised embedding rows.
inline constexpr double kEmbeddingInitStd = 0.05;

// Builds UserFeatures on the CPU from id rows: histories (oldest first) are cut to the
// time window (relative to now_ms[i]) and the newest `max_history` entries.
UserFeatures BuildUserFeatures(const std::vector<int64_t>& user_rows,
                               const std::vector<std::vector<int64_t>>& history_rows,
                               const std::vector<std::vector<int64_t>>& history_ts_ms,
                               const std::vector<int64_t>& now_ms, const TwoTowerOptions& opt);

}  // namespace streamrec::training
