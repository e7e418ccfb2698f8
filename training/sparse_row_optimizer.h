#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace streamrec::training {

// Options of SparseRowOptimizer; the defaults are Adam's and Adagrad's usual ones.
struct SparseRowOptimizerOptions {
  std::string kind = "adam";   // "adam" (lazy Adam) or "adagrad" (row-wise Adagrad)
  double learning_rate = 1e-3;
  double beta1 = 0.9;          // adam: first-moment decay
  double beta2 = 0.999;        // adam: second-moment decay
  double eps = 1e-8;           // added to the denominator (both kinds)
  double weight_decay = 0.0;   // L2 added to the gradient of the touched rows only
};

// An optimizer for embedding tables whose gradients are sparse (torch::nn::Embedding with
// sparse(true)): a step reads and writes only the rows the batch touched, so its cost is
// O(batch rows × dim) instead of O(table rows × dim) — issue 12 item 3's "a step touches
// only the batch's rows". Semantics are those of PyTorch's SparseAdam (TF's LazyAdam):
// the moments of untouched rows are not decayed and bias correction uses the optimizer's
// step count; "adagrad" keeps a per-element sum of squared gradients (Adagrad on the
// touched rows). A dense gradient is accepted too (every row is then touched).
//
// Not thread-safe: the trainer's thread owns it, as it owns the model.
class SparseRowOptimizer {
 public:
  SparseRowOptimizer(std::vector<torch::Tensor> params, SparseRowOptimizerOptions options);

  // Applies the current gradients of the parameters that have one (others are skipped).
  void Step();
  // Drops the gradients (sparse ones cannot be zeroed in place usefully: each backward
  // pass produces a new one that would otherwise accumulate).
  void ZeroGrad();
  // Re-initialises the optimizer state of rows of parameter `param_index` (a row that was
  // re-drawn for a new id must not inherit its previous owner's moments); rows out of
  // range are ignored.
  void ResetRows(size_t param_index, const std::vector<int64_t>& rows);

  // State under the keys "<prefix>.step", "<prefix>.<i>.a", "<prefix>.<i>.b".
  void Save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  // Restores what Save wrote; false (state left fresh) when the archive has no such
  // state or its shapes differ from the parameters'.
  bool Load(torch::serialize::InputArchive& archive, const std::string& prefix);

  int64_t steps() const { return step_; }
  const SparseRowOptimizerOptions& options() const { return options_; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> first_;   // adam: exp_avg; adagrad: sum of squares
  std::vector<torch::Tensor> second_;  // adam: exp_avg_sq; adagrad: unused (empty)
  SparseRowOptimizerOptions options_;
  int64_t step_ = 0;
};

}  // namespace streamrec::training
