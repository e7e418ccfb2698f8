#include "training/in_batch_loss.h"

#include <limits>

#include <ATen/ATen.h>

namespace streamrec::training {

at::Tensor InBatchLogits(const at::Tensor& user_vecs, const at::Tensor& item_vecs,
                         const at::Tensor& item_keys, const at::Tensor& sampling_prob,
                         double temperature, const LossOptions& options) {
  at::Tensor logits = at::matmul(user_vecs, item_vecs.t()) / temperature;
  if (options.logq_correction) {
    at::Tensor log_q = sampling_prob.clamp(options.min_sampling_prob, 1.0).log();
    logits = logits - log_q.to(logits.scalar_type()).unsqueeze(0);
  }
  if (options.mask_accidental_hits) {
    const int64_t b = item_keys.size(0);
    at::Tensor same = item_keys.unsqueeze(1).eq(item_keys.unsqueeze(0));
    at::Tensor diag = at::eye(b, same.options());
    at::Tensor mask = same.logical_and(diag.logical_not());
    logits = logits.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  return logits;
}

at::Tensor InBatchSoftmaxLoss(const at::Tensor& user_vecs, const at::Tensor& item_vecs,
                              const at::Tensor& item_keys, const at::Tensor& sampling_prob,
                              const at::Tensor& weights, double temperature,
                              const LossOptions& options) {
  at::Tensor logits =
      InBatchLogits(user_vecs, item_vecs, item_keys, sampling_prob, temperature, options);
  at::Tensor log_softmax = at::log_softmax(logits, 1);
  at::Tensor nll = -log_softmax.diagonal();
  at::Tensor w = weights.to(nll.scalar_type());
  return (nll * w).sum() / w.sum().clamp_min(1e-12);
}

}  // namespace streamrec::training
