#include "training/sparse_row_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <vector>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

namespace streamrec::training {
namespace {

// A [6, 3] table and a gradient on rows `rows` (each row's gradient is its row index + 1
// times a fixed vector, so rows differ), as a sparse COO tensor.
torch::Tensor SparseGrad(const std::vector<int64_t>& rows) {
  auto idx = torch::tensor(rows, torch::kInt64).unsqueeze(0);
  auto base = torch::tensor({0.5f, -1.0f, 2.0f});
  std::vector<torch::Tensor> vals;
  for (int64_t r : rows) vals.push_back(base * static_cast<float>(r + 1));
  return torch::sparse_coo_tensor(idx, torch::stack(vals), {6, 3});
}

torch::Tensor Table() {
  torch::manual_seed(3);
  return torch::randn({6, 3});
}

TEST(SparseRowOptimizerTest, LazyAdamMatchesAdamOnTheTouchedRowsAndLeavesTheOthers) {
  torch::Tensor ours = Table().requires_grad_(true);
  torch::Tensor ref = Table().requires_grad_(true);
  SparseRowOptimizerOptions o;
  o.learning_rate = 0.1;
  SparseRowOptimizer sparse({ours}, o);
  torch::optim::Adam adam({ref}, torch::optim::AdamOptions(0.1));

  // Step 1: rows 1 and 4. Adam on the dense equivalent moves only those rows too (zero
  // gradient, zero moments), so the two agree everywhere.
  ours.mutable_grad() = SparseGrad({1, 4});
  ref.mutable_grad() = SparseGrad({1, 4}).to_dense();
  sparse.Step();
  adam.step();
  EXPECT_TRUE(torch::allclose(ours.detach(), ref.detach(), 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(ours.detach()[0], Table()[0]));

  // Step 2: rows 2 and 4. Dense Adam keeps moving row 1 on its momentum; lazy Adam does not
  // touch it, and agrees on row 2 (fresh moments, bias-corrected with the step count 2).
  const torch::Tensor row1 = ours.detach()[1].clone();
  sparse.ZeroGrad();
  EXPECT_FALSE(ours.grad().defined());
  ours.mutable_grad() = SparseGrad({2, 4});
  ref.mutable_grad() = SparseGrad({2, 4}).to_dense();
  sparse.Step();
  adam.step();
  EXPECT_TRUE(torch::equal(ours.detach()[1], row1));
  EXPECT_FALSE(torch::allclose(ref.detach()[1], row1));
  EXPECT_TRUE(torch::allclose(ours.detach()[4], ref.detach()[4], 1e-6, 1e-6));
  EXPECT_FALSE(torch::equal(ours.detach()[2], Table()[2]));
  EXPECT_EQ(sparse.steps(), 2);
}

TEST(SparseRowOptimizerTest, RepeatedRowsAreSummedAndAdagradMatchesTorch) {
  torch::Tensor ours = Table().requires_grad_(true);
  torch::Tensor ref = Table().requires_grad_(true);
  SparseRowOptimizerOptions o;
  o.kind = "adagrad";
  o.learning_rate = 0.5;
  o.eps = 1e-10;  // torch's Adagrad default
  SparseRowOptimizer sparse({ours}, o);
  torch::optim::Adagrad adagrad({ref}, torch::optim::AdagradOptions(0.5));
  for (int step = 0; step < 3; ++step) {
    // Row 3 twice in one gradient (two examples of one item): coalesced into a sum.
    ours.mutable_grad() = SparseGrad({3, 0, 3});
    ref.mutable_grad() = SparseGrad({3, 0, 3}).to_dense();
    sparse.Step();
    adagrad.step();
    sparse.ZeroGrad();
  }
  // Adagrad's untouched rows never move (their sums stay 0), so it agrees everywhere.
  EXPECT_TRUE(torch::allclose(ours.detach(), ref.detach(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(ours.detach()[5], Table()[5]));
}

TEST(SparseRowOptimizerTest, SaveLoadAndResetRow) {
  torch::Tensor a = Table().requires_grad_(true);
  SparseRowOptimizer first({a}, SparseRowOptimizerOptions{});
  a.mutable_grad() = SparseGrad({1, 2});
  first.Step();

  torch::serialize::OutputArchive out;
  first.Save(out, "t");
  std::stringstream bytes;
  out.save_to(bytes);

  // Two optimizers from the same state take the same next step.
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  SparseRowOptimizer second({b}, SparseRowOptimizerOptions{});
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  ASSERT_TRUE(second.Load(in, "t"));
  EXPECT_EQ(second.steps(), 1);
  first.ZeroGrad();
  a.mutable_grad() = SparseGrad({1});
  b.mutable_grad() = SparseGrad({1});
  first.Step();
  second.Step();
  EXPECT_TRUE(torch::allclose(a.detach(), b.detach()));

  // A fresh optimizer would step differently: the state mattered.
  torch::Tensor c = Table().requires_grad_(true);
  {
    torch::NoGradGuard g;
    c.copy_(b.detach());
  }
  SparseRowOptimizer fresh({c}, SparseRowOptimizerOptions{});
  // (A reversed gradient: with a constant one Adam's bias-corrected step is the same.)
  c.mutable_grad() = -SparseGrad({1});
  b.mutable_grad() = -SparseGrad({1});
  second.Step();
  fresh.Step();
  EXPECT_FALSE(torch::allclose(b.detach()[1], c.detach()[1]));

  // After ResetRows the row steps like a fresh one (same first-step size as `fresh`).
  second.ResetRows(0, {1, 99});  // 99: out of range, ignored
  torch::Tensor before = b.detach()[1].clone();
  second.ZeroGrad();
  b.mutable_grad() = SparseGrad({1});
  second.Step();
  // Fresh moments: the step is lr * sqrt(1 - b2^t) / (1 - b1^t) * g1 / (sqrt(g1^2 (1 - b2)) ...)
  // i.e. each element moves by lr * sqrt(1-b2^t)/(1-b1^t) * (1-b1)/sqrt(1-b2) in -sign(g).
  const double t = 4;
  const double expected = 1e-3 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t)) *
                          0.1 / std::sqrt(0.001);
  torch::Tensor moved = (before - b.detach()[1]).abs();
  EXPECT_TRUE(torch::allclose(moved, torch::full_like(moved, expected), 1e-4, 1e-7))
      << moved << " vs " << expected;

  // Shapes that differ are refused, leaving the state alone.
  torch::Tensor other = torch::zeros({4, 3}).requires_grad_(true);
  SparseRowOptimizer mismatch({other}, SparseRowOptimizerOptions{});
  torch::serialize::InputArchive again;
  bytes.seekg(0);
  again.load_from(bytes);
  EXPECT_FALSE(mismatch.Load(again, "t"));
  EXPECT_EQ(mismatch.steps(), 0);
  torch::serialize::InputArchive none;
  bytes.seekg(0);
  none.load_from(bytes);
  EXPECT_FALSE(mismatch.Load(none, "absent"));
}

}  // namespace
}  // namespace streamrec::training
