#include "training/sparse_row_optimizer.h"

#include <cmath>
#include <utility>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

namespace streamrec::training {

SparseRowOptimizer::SparseRowOptimizer(std::vector<torch::Tensor> params,
                                       SparseRowOptimizerOptions options)
    : params_(std::move(params)), options_(std::move(options)) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    first_.push_back(torch::zeros_like(p));
    second_.push_back(options_.kind == "adam" ? torch::zeros_like(p) : torch::Tensor());
  }
}

void SparseRowOptimizer::Step() {
  torch::NoGradGuard no_grad;
  ++step_;
  const bool adam = options_.kind == "adam";
  const double b1 = options_.beta1, b2 = options_.beta2;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    torch::Tensor rows, values;
    if (g.is_sparse()) {
      // coalesce() sums the gradients of a row that occurs several times in the batch.
      torch::Tensor c = g.coalesce();
      rows = c.indices()[0];
      values = c.values();
    } else {
      rows = torch::arange(p.size(0), torch::TensorOptions().dtype(torch::kInt64).device(p.device()));
      values = g;
    }
    if (rows.numel() == 0) continue;
    if (options_.weight_decay != 0) values = values + options_.weight_decay * p.index_select(0, rows);
    if (adam) {
      torch::Tensor m = first_[i].index_select(0, rows).mul_(b1).add_(values, 1 - b1);
      torch::Tensor v = second_[i].index_select(0, rows).mul_(b2).addcmul_(values, values, 1 - b2);
      first_[i].index_copy_(0, rows, m);
      second_[i].index_copy_(0, rows, v);
      const double t = static_cast<double>(step_);
      const double step_size =
          options_.learning_rate * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      p.index_add_(0, rows, m.div_(v.sqrt_().add_(options_.eps)).mul_(-step_size));
    } else {
      torch::Tensor s = first_[i].index_select(0, rows).addcmul_(values, values);
      first_[i].index_copy_(0, rows, s);
      p.index_add_(0, rows, values.div(s.sqrt().add_(options_.eps)).mul_(-options_.learning_rate));
    }
  }
}

void SparseRowOptimizer::ZeroGrad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

void SparseRowOptimizer::ResetRows(size_t param_index, const std::vector<int64_t>& rows) {
  if (param_index >= params_.size()) return;
  std::vector<int64_t> valid;
  for (int64_t r : rows) {
    if (r >= 0 && r < params_[param_index].size(0)) valid.push_back(r);
  }
  if (valid.empty()) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor index = torch::tensor(valid, torch::kInt64).to(first_[param_index].device());
  first_[param_index].index_fill_(0, index, 0);
  if (second_[param_index].defined()) second_[param_index].index_fill_(0, index, 0);
}

void SparseRowOptimizer::Save(torch::serialize::OutputArchive& archive,
                              const std::string& prefix) const {
  archive.write(prefix + ".step", torch::tensor({step_}, torch::kInt64));
  for (size_t i = 0; i < params_.size(); ++i) {
    archive.write(prefix + "." + std::to_string(i) + ".a", first_[i]);
    if (second_[i].defined()) archive.write(prefix + "." + std::to_string(i) + ".b", second_[i]);
  }
}

bool SparseRowOptimizer::Load(torch::serialize::InputArchive& archive, const std::string& prefix) {
  torch::Tensor step;
  if (!archive.try_read(prefix + ".step", step) || step.numel() != 1) return false;
  std::vector<torch::Tensor> a(params_.size()), b(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!archive.try_read(prefix + "." + std::to_string(i) + ".a", a[i]) ||
        !a[i].sizes().equals(params_[i].sizes())) {
      return false;
    }
    if (second_[i].defined() &&
        (!archive.try_read(prefix + "." + std::to_string(i) + ".b", b[i]) ||
         !b[i].sizes().equals(params_[i].sizes()))) {
      return false;
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    first_[i].copy_(a[i]);
    if (second_[i].defined()) second_[i].copy_(b[i]);
  }
  step_ = step.item<int64_t>();
  return true;
}

}  // namespace streamrec::training
