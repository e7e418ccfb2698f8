#pragma once

#include <ATen/Tensor.h>

#include "training/model_options.h"

namespace streamrec::training {

// In-batch softmax loss with logQ correction (DESIGN §4; Yi et al., RecSys 2019).
// For a batch of B (user, positive item) pairs with L2-normalised vectors u_i, v_j:
//   logit[i][j] = <u_i, v_j> / τ − log p̂(y_j)       (the subtraction only with logq)
//   logit[i][j] = −inf for j ≠ i with item_j == item_i (accidental hits, when masked)
//   loss = Σ_i w_i · (−log softmax(logit[i])[i]) / Σ_i w_i
// user_vecs, item_vecs: [B, D] float; item_keys: [B] int64 (equality only);
// sampling_prob: [B] float p̂ of each row's item; weights: [B] float reward weights.
// Returns a scalar. Pure function of its inputs; thread-compatible.
at::Tensor InBatchSoftmaxLoss(const at::Tensor& user_vecs, const at::Tensor& item_vecs,
                              const at::Tensor& item_keys, const at::Tensor& sampling_prob,
                              const at::Tensor& weights, double temperature,
                              const LossOptions& options);

// The corrected, masked logits alone ([B, B]), as the loss sees them.
at::Tensor InBatchLogits(const at::Tensor& user_vecs, const at::Tensor& item_vecs,
                         const at::Tensor& item_keys, const at::Tensor& sampling_prob,
                         double temperature, const LossOptions& options);

}  // namespace streamrec::training
