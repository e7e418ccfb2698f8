#include "training/in_batch_loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace streamrec::training {
namespace {

using Matrix = std::vector<std::vector<double>>;

// Reference computation in plain doubles: the corrected, masked, weighted in-batch
// softmax loss and its gradients with respect to the user and item vectors.
struct Reference {
  double loss = 0;
  Matrix grad_u, grad_v;
};

Reference HandComputed(const Matrix& u, const Matrix& v, const std::vector<int64_t>& keys,
                       const std::vector<double>& p, const std::vector<double>& w, double tau,
                       bool logq, bool mask) {
  const size_t b = u.size(), d = u[0].size();
  Reference r;
  r.grad_u.assign(b, std::vector<double>(d, 0));
  r.grad_v.assign(b, std::vector<double>(d, 0));
  double wsum = 0;
  for (double x : w) wsum += x;
  for (size_t i = 0; i < b; ++i) {
    std::vector<double> logit(b);
    std::vector<bool> live(b, true);
    for (size_t j = 0; j < b; ++j) {
      double s = 0;
      for (size_t k = 0; k < d; ++k) s += u[i][k] * v[j][k];
      logit[j] = s / tau - (logq ? std::log(p[j]) : 0.0);
      if (mask && j != i && keys[j] == keys[i]) live[j] = false;
    }
    double z = 0;
    for (size_t j = 0; j < b; ++j) {
      if (live[j]) z += std::exp(logit[j]);
    }
    r.loss += w[i] * -(logit[i] - std::log(z)) / wsum;
    for (size_t j = 0; j < b; ++j) {
      const double prob = live[j] ? std::exp(logit[j]) / z : 0.0;
      const double g = (w[i] / wsum) * (prob - (i == j ? 1.0 : 0.0));  // dL/dlogit[i][j]
      for (size_t k = 0; k < d; ++k) {
        r.grad_u[i][k] += g * v[j][k] / tau;
        r.grad_v[j][k] += g * u[i][k] / tau;
      }
    }
  }
  return r;
}

torch::Tensor ToTensor(const Matrix& m) {
  std::vector<float> flat;
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  return torch::tensor(flat).view({static_cast<int64_t>(m.size()), -1}).clone();
}

void ExpectGradsMatch(const Matrix& u, const Matrix& v, const std::vector<int64_t>& keys,
                      const std::vector<double>& p, const std::vector<double>& w, double tau,
                      const LossOptions& opt) {
  Reference ref = HandComputed(u, v, keys, p, w, tau, opt.logq_correction,
                               opt.mask_accidental_hits);
  torch::Tensor ut = ToTensor(u).requires_grad_(true);
  torch::Tensor vt = ToTensor(v).requires_grad_(true);
  torch::Tensor keys_t = torch::tensor(keys, torch::kInt64);
  torch::Tensor p_t = torch::tensor(std::vector<float>(p.begin(), p.end()));
  torch::Tensor w_t = torch::tensor(std::vector<float>(w.begin(), w.end()));
  torch::Tensor loss = InBatchSoftmaxLoss(ut, vt, keys_t, p_t, w_t, tau, opt);
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), ref.loss, 1e-5);
  auto gu = ut.grad().accessor<float, 2>();
  auto gv = vt.grad().accessor<float, 2>();
  for (size_t i = 0; i < u.size(); ++i) {
    for (size_t k = 0; k < u[0].size(); ++k) {
      EXPECT_NEAR(gu[i][k], ref.grad_u[i][k], 1e-5) << "du " << i << "," << k;
      EXPECT_NEAR(gv[i][k], ref.grad_v[i][k], 1e-5) << "dv " << i << "," << k;
    }
  }
}

TEST(InBatchLossTest, TwoByTwoClosedForm) {
  // u_1 = v_1 = (1, 0), u_2 = v_2 = (0, 1), τ = 1, p̂ = (1/2, 1/4), unit weights.
  // Row 1 logits: 1 - log(1/2) = 1 + ln 2, 0 - log(1/4) = 2 ln 2.
  // Row 2 logits: ln 2, 1 + 2 ln 2.
  torch::Tensor u = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2});
  torch::Tensor keys = torch::tensor({1, 2}, torch::kInt64);
  torch::Tensor p = torch::tensor({0.5f, 0.25f});
  torch::Tensor w = torch::tensor({1.0f, 1.0f});
  LossOptions opt;
  torch::Tensor loss = InBatchSoftmaxLoss(u, u, keys, p, w, 1.0, opt);
  const double l1 = -std::log(2 * std::exp(1.0) / (2 * std::exp(1.0) + 4));
  const double l2 = -std::log(4 * std::exp(1.0) / (2 + 4 * std::exp(1.0)));
  EXPECT_NEAR(loss.item<double>(), (l1 + l2) / 2, 1e-6);

  // Without the correction both rows see logits (1, 0): loss = -log(e / (e + 1)).
  opt.logq_correction = false;
  torch::Tensor plain = InBatchSoftmaxLoss(u, u, keys, p, w, 1.0, opt);
  EXPECT_NEAR(plain.item<double>(), -std::log(std::exp(1.0) / (std::exp(1.0) + 1)), 1e-6);
}

TEST(InBatchLossTest, GradientMatchesHandComputation) {
  const Matrix u = {{0.6, 0.8, 0.0}, {0.0, 0.6, -0.8}, {-0.48, 0.6, 0.64}, {1.0, 0.0, 0.0}};
  const Matrix v = {{0.0, 1.0, 0.0}, {0.8, 0.0, 0.6}, {0.36, 0.48, -0.8}, {0.0, 0.0, 1.0}};
  const std::vector<int64_t> keys = {11, 12, 13, 14};
  const std::vector<double> p = {0.4, 0.05, 0.2, 0.01};
  const std::vector<double> w = {1.0, 2.0, 0.5, 4.0};
  LossOptions opt;
  ExpectGradsMatch(u, v, keys, p, w, 0.2, opt);
  opt.logq_correction = false;
  ExpectGradsMatch(u, v, keys, p, w, 0.2, opt);
}

TEST(InBatchLossTest, MasksAccidentalHitsWithDuplicateItems) {
  // Rows 0 and 2 share item 5: neither may treat the other's column as a negative.
  const Matrix u = {{0.6, 0.8}, {0.0, 1.0}, {1.0, 0.0}};
  const Matrix v = {{0.8, 0.6}, {-0.6, 0.8}, {0.8, 0.6}};
  const std::vector<int64_t> keys = {5, 6, 5};
  const std::vector<double> p = {0.3, 0.1, 0.3};
  const std::vector<double> w = {1.0, 1.0, 1.0};
  LossOptions opt;
  torch::Tensor logits =
      InBatchLogits(ToTensor(u), ToTensor(v), torch::tensor(keys, torch::kInt64),
                    torch::tensor({0.3f, 0.1f, 0.3f}), 0.5, opt);
  auto a = logits.accessor<float, 2>();
  EXPECT_TRUE(std::isinf(a[0][2]) && a[0][2] < 0);
  EXPECT_TRUE(std::isinf(a[2][0]) && a[2][0] < 0);
  EXPECT_TRUE(std::isfinite(a[0][0]) && std::isfinite(a[2][2]));
  EXPECT_TRUE(std::isfinite(a[0][1]) && std::isfinite(a[1][0]) && std::isfinite(a[1][2]));
  // Row 0: with the mask, its loss is the 2-way softmax over columns {0, 1}.
  const double l00 = (0.6 * 0.8 + 0.8 * 0.6) / 0.5 - std::log(0.3);
  const double l01 = (0.6 * -0.6 + 0.8 * 0.8) / 0.5 - std::log(0.1);
  EXPECT_NEAR(a[0][0], l00, 1e-5);
  EXPECT_NEAR(a[0][1], l01, 1e-5);
  ExpectGradsMatch(u, v, keys, p, w, 0.5, opt);
  // Unmasked, the duplicate column is a (wrong) negative and the loss is larger.
  LossOptions unmasked = opt;
  unmasked.mask_accidental_hits = false;
  ExpectGradsMatch(u, v, keys, p, w, 0.5, unmasked);
  auto masked_loss = InBatchSoftmaxLoss(ToTensor(u), ToTensor(v), torch::tensor(keys),
                                        torch::tensor({0.3f, 0.1f, 0.3f}),
                                        torch::ones({3}), 0.5, opt);
  auto unmasked_loss = InBatchSoftmaxLoss(ToTensor(u), ToTensor(v), torch::tensor(keys),
                                          torch::tensor({0.3f, 0.1f, 0.3f}),
                                          torch::ones({3}), 0.5, unmasked);
  EXPECT_LT(masked_loss.item<double>(), unmasked_loss.item<double>());
}

TEST(InBatchLossTest, ZeroWeightRowsDoNotContribute) {
  const Matrix u = {{1.0, 0.0}, {0.0, 1.0}, {0.6, 0.8}};
  const Matrix v = {{0.0, 1.0}, {1.0, 0.0}, {0.8, 0.6}};
  LossOptions opt;
  auto full = InBatchSoftmaxLoss(ToTensor(u), ToTensor(v), torch::tensor({1, 2, 3}),
                                 torch::tensor({0.2f, 0.2f, 0.2f}),
                                 torch::tensor({1.0f, 0.0f, 0.0f}), 1.0, opt);
  // Only row 0 counts: logits (0, 1, 0.8) (the shared -log 0.2 cancels).
  const double expect = -std::log(1.0 / (1.0 + std::exp(1.0) + std::exp(0.8)));
  EXPECT_NEAR(full.item<double>(), expect, 1e-6);
}

}  // namespace
}  // namespace streamrec::training
