#include "training/two_tower.h"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>

namespace streamrec::training {

const char* HistoryEncoderName(HistoryEncoder e) {
  switch (e) {
    case HistoryEncoder::kGru:
      return "gru";
    case HistoryEncoder::kWrnn:
      return "wrnn";
    case HistoryEncoder::kMean:
      break;
  }
  return "mean";
}

bool ParseHistoryEncoder(const std::string& name, HistoryEncoder* out) {
  if (name == "mean") {
    *out = HistoryEncoder::kMean;
  } else if (name == "gru") {
    *out = HistoryEncoder::kGru;
  } else if (name == "wrnn") {
    *out = HistoryEncoder::kWrnn;
  } else {
    return false;
  }
  return true;
}

TowerMlpImpl::TowerMlpImpl(int64_t in_dim, int64_t hidden_dim, int64_t out_dim) {
  if (hidden_dim > 0) {
    first_ = register_module("first", torch::nn::Linear(in_dim, hidden_dim));
    second_ = register_module("second", torch::nn::Linear(hidden_dim, out_dim));
  } else {
    first_ = register_module("first", torch::nn::Linear(in_dim, out_dim));
  }
}

torch::Tensor TowerMlpImpl::forward(const torch::Tensor& x) {
  if (!second_) return first_->forward(x);
  return second_->forward(torch::relu(first_->forward(x)));
}

TwoTowerModelImpl::TwoTowerModelImpl(const TwoTowerOptions& options) : options_(options) {
  const int64_t d = options.embedding_dim;
  item_ids_ = register_module("item_ids", torch::nn::Embedding(options.item_capacity + 1, d));
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(item_ids_->weight, 0.0, kEmbeddingInitStd);
  int64_t user_in = d;
  if (options.use_user_id) {
    user_ids_ = register_module("user_ids", torch::nn::Embedding(options.user_capacity + 1, d));
    torch::nn::init::normal_(user_ids_->weight, 0.0, kEmbeddingInitStd);
    user_in += d;
  }
  if (options.history_encoder != HistoryEncoder::kMean) {
    // The W-RNN's GRU reads the time-gap features beside each item embedding.
    const int64_t in = options.history_encoder == HistoryEncoder::kWrnn
                           ? d + kHistoryTimeFeatures
                           : d;
    gru_ = register_module(
        "gru", torch::nn::GRU(torch::nn::GRUOptions(in, d).num_layers(1).batch_first(true)));
  }
  item_mlp_ = register_module("item_mlp", TowerMlp(d, options.hidden_dim, options.output_dim));
  user_mlp_ =
      register_module("user_mlp", TowerMlp(user_in, options.hidden_dim, options.output_dim));
  // The side tables are drawn last, and the CPU generator's state is put back after them:
  // the other parameters' initial values and the trainer's later draws (the rows of new
  // ids) are the same with or without side tables, for a given seed.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const bool side = options.category_capacity > 0 || options.brand_capacity > 0;
  const at::Tensor saved = side ? gen.get_state() : at::Tensor();
  if (options.category_capacity > 0) {
    categories_ = register_module(
        "categories", torch::nn::Embedding(options.category_capacity + 1, d));
    torch::nn::init::normal_(categories_->weight, 0.0, kEmbeddingInitStd);
  }
  if (options.brand_capacity > 0) {
    brands_ = register_module("brands", torch::nn::Embedding(options.brand_capacity + 1, d));
    torch::nn::init::normal_(brands_->weight, 0.0, kEmbeddingInitStd);
  }
  if (side) gen.set_state(saved);
}

torch::Tensor TwoTowerModelImpl::ItemTower(const torch::Tensor& item_rows,
                                           const torch::Tensor& category_rows,
                                           const torch::Tensor& brand_rows) {
  torch::Tensor x = item_ids_->forward(item_rows);
  const bool cat = categories_ && category_rows.defined();
  const bool brand = brands_ && brand_rows.defined();
  if (cat || brand) {
    auto present = [&](const torch::Tensor& rows) {
      return (rows > 0).to(x.scalar_type()).unsqueeze(-1);
    };
    x = x * present(item_rows);
    if (cat) x = x + categories_->forward(category_rows) * present(category_rows);
    if (brand) x = x + brands_->forward(brand_rows) * present(brand_rows);
  }
  x = item_mlp_->forward(x);
  return torch::nn::functional::normalize(
      x, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1).eps(1e-8));
}

torch::Tensor TwoTowerModelImpl::PoolHistory(const UserFeatures& f) {
  const int64_t b = f.history_rows.size(0);
  const int64_t l = f.history_rows.size(1);
  if (l == 0) {
    return torch::zeros({b, options_.embedding_dim}, item_ids_->weight.options());
  }
  torch::Tensor emb = item_ids_->forward(f.history_rows);  // [B, L, D]
  torch::Tensor mask = (f.history_rows > 0).to(emb.scalar_type());  // [B, L]
  if (!gru_) {
    torch::Tensor sum = (emb * mask.unsqueeze(-1)).sum(1);
    torch::Tensor count = mask.sum(1, /*keepdim=*/true).clamp_min(1.0);
    return sum / count;
  }
  // GRU over the right-padded sequence; take the output at the last real position.
  torch::Tensor in = emb * mask.unsqueeze(-1);
  if (options_.history_encoder == HistoryEncoder::kWrnn) {
    TORCH_CHECK(f.history_time.defined() && f.history_time.size(0) == b &&
                    f.history_time.size(1) == l,
                "W-RNN user tower: history_time missing or of another shape");
    in = torch::cat({in, f.history_time.to(emb.scalar_type())}, 2);
  }
  auto out = std::get<0>(gru_->forward(in));  // [B, L, D]
  torch::Tensor last = (f.history_len - 1).clamp_min(0);
  torch::Tensor idx = last.view({b, 1, 1}).expand({b, 1, out.size(2)});
  torch::Tensor state = out.gather(1, idx).squeeze(1);
  torch::Tensor has = (f.history_len > 0).to(state.scalar_type()).unsqueeze(-1);
  return state * has;
}

torch::Tensor TwoTowerModelImpl::UserTower(const UserFeatures& f) {
  torch::Tensor x = PoolHistory(f);
  if (user_ids_) {
    torch::Tensor u = user_ids_->forward(f.user_rows);
    u = u * (f.user_rows > 0).to(u.scalar_type()).unsqueeze(-1);  // unknown user: zeros
    x = torch::cat({u, x}, 1);
  }
  x = user_mlp_->forward(x);
  return torch::nn::functional::normalize(
      x, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1).eps(1e-8));
}

namespace {

void RedrawRows(torch::Tensor& weight, const std::vector<int64_t>& rows) {
  if (rows.empty()) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor index = torch::tensor(rows, torch::kInt64).to(weight.device());
  const torch::Tensor fresh =
      torch::empty({static_cast<int64_t>(rows.size()), weight.size(1)}, weight.options())
          .normal_(0.0, kEmbeddingInitStd);
  weight.index_copy_(0, index, fresh);
}

}  // namespace

void TwoTowerModelImpl::ResetItemRows(const std::vector<int64_t>& rows) {
  RedrawRows(item_ids_->weight, rows);
}

void TwoTowerModelImpl::ResetUserRows(const std::vector<int64_t>& rows) {
  if (user_ids_) RedrawRows(user_ids_->weight, rows);
}

std::vector<torch::Tensor> TwoTowerModelImpl::EmbeddingWeights() const {
  std::vector<torch::Tensor> out = {item_ids_->weight};
  if (user_ids_) out.push_back(user_ids_->weight);
  if (categories_) out.push_back(categories_->weight);
  if (brands_) out.push_back(brands_->weight);
  return out;
}

std::vector<torch::Tensor> TwoTowerModelImpl::DenseParameters() {
  const std::vector<torch::Tensor> tables = EmbeddingWeights();
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters()) {
    bool table = false;
    for (const auto& t : tables) table = table || p.is_same(t);
    if (!table) out.push_back(p);
  }
  return out;
}

void TwoTowerModelImpl::SetSparseGradients(bool sparse) {
  item_ids_->options.sparse(sparse);
  if (user_ids_) user_ids_->options.sparse(sparse);
  if (categories_) categories_->options.sparse(sparse);
  if (brands_) brands_->options.sparse(sparse);
}

std::vector<float> HistoryTimeFeatures(const std::vector<int64_t>& ts_ms) {
  const size_t n = ts_ms.size();
  std::vector<float> out(n * kHistoryTimeFeatures, 0.0f);
  if (n == 0) return out;
  auto feature = [](int64_t from_ms, int64_t to_ms) {
    const double s = static_cast<double>(std::max<int64_t>(to_ms - from_ms, 0)) / 1000.0;
    return static_cast<float>(std::log1p(s) * kHistoryTimeScale);
  };
  const int64_t newest = ts_ms.back();
  for (size_t j = 0; j < n; ++j) {
    out[j * kHistoryTimeFeatures] = j == 0 ? 0.0f : feature(ts_ms[j - 1], ts_ms[j]);
    out[j * kHistoryTimeFeatures + 1] = feature(ts_ms[j], newest);
  }
  return out;
}

UserFeatures BuildUserFeatures(const std::vector<int64_t>& user_rows,
                               const std::vector<std::vector<int64_t>>& history_rows,
                               const std::vector<std::vector<int64_t>>& history_ts_ms,
                               const std::vector<int64_t>& now_ms, const TwoTowerOptions& opt) {
  const int64_t b = static_cast<int64_t>(user_rows.size());
  std::vector<std::pair<size_t, size_t>> ranges(b);  // [begin, end) kept per row
  int64_t max_len = 0;
  for (int64_t i = 0; i < b; ++i) {
    const auto& rows = history_rows[i];
    const auto& ts = history_ts_ms[i];
    size_t end = rows.size();
    size_t begin = 0;
    if (opt.history_window_s > 0 && ts.size() == rows.size()) {
      const int64_t cutoff = now_ms[i] - opt.history_window_s * 1000;
      while (begin < end && ts[begin] < cutoff) ++begin;
    }
    if (opt.max_history > 0 && end - begin > static_cast<size_t>(opt.max_history)) {
      begin = end - static_cast<size_t>(opt.max_history);
    }
    ranges[i] = {begin, end};
    max_len = std::max<int64_t>(max_len, static_cast<int64_t>(end - begin));
  }
  UserFeatures f;
  f.user_rows = torch::tensor(user_rows, torch::kInt64);
  f.history_rows = torch::zeros({b, max_len}, torch::kInt64);
  f.history_len = torch::zeros({b}, torch::kInt64);
  const bool time = opt.history_encoder == HistoryEncoder::kWrnn;
  if (time) f.history_time = torch::zeros({b, max_len, kHistoryTimeFeatures}, torch::kFloat32);
  auto h = f.history_rows.accessor<int64_t, 2>();
  auto len = f.history_len.accessor<int64_t, 1>();
  std::vector<int64_t> kept_ts;
  for (int64_t i = 0; i < b; ++i) {
    int64_t j = 0;
    kept_ts.clear();
    const bool has_ts = history_ts_ms[i].size() == history_rows[i].size();
    for (size_t k = ranges[i].first; k < ranges[i].second; ++k) {
      // Unknown items (row 0) are dropped so the real entries stay contiguous.
      if (history_rows[i][k] > 0) {
        h[i][j++] = history_rows[i][k];
        // Without timestamps every entry is at now (all gaps 0).
        if (time) kept_ts.push_back(has_ts ? history_ts_ms[i][k] : now_ms[i]);
      }
    }
    len[i] = j;
    if (time && j > 0) {
      const std::vector<float> tf = HistoryTimeFeatures(kept_ts);
      auto t = f.history_time.accessor<float, 3>();
      for (int64_t s = 0; s < j; ++s) {
        for (int64_t c = 0; c < kHistoryTimeFeatures; ++c) {
          t[i][s][c] = tf[static_cast<size_t>(s * kHistoryTimeFeatures + c)];
        }
      }
    }
  }
  return f;
}

}  // namespace streamrec::training
