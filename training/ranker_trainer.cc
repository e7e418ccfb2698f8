#include "training/ranker_trainer.h"

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace streamrec::training {

struct RankerTrainer::Rep {
  RankerOptions options;
  RankerShape shape;
  torch::nn::Linear l1{nullptr}, l2{nullptr}, l3{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer;
  std::vector<RankingList> buffer;
  int64_t steps = 0;
  int64_t lists = 0;
  double last_loss = 0;

  std::vector<torch::Tensor> Params() const {
    return {l1->weight, l1->bias, l2->weight, l2->bias, l3->weight, l3->bias};
  }

  Status Step() {
    if (buffer.empty()) return Status::Ok();
    const auto f = shape.num_features;
    size_t max_n = 0;
    for (const RankingList& l : buffer) max_n = std::max(max_n, l.features.size() / f);
    const auto b = static_cast<int64_t>(buffer.size());
    const auto n = static_cast<int64_t>(max_n);
    std::vector<float> x(static_cast<size_t>(b * n * f), 0.0f);
    std::vector<uint8_t> valid(static_cast<size_t>(b * n), 0);
    std::vector<int64_t> target(buffer.size());
    for (size_t i = 0; i < buffer.size(); ++i) {
      const RankingList& l = buffer[i];
      std::copy(l.features.begin(), l.features.end(), x.begin() + static_cast<int64_t>(i) * n * f);
      std::fill_n(valid.begin() + static_cast<int64_t>(i) * n, l.features.size() / f, 1);
      target[i] = static_cast<int64_t>(l.positive);
    }
    try {
      torch::Tensor xt = torch::from_blob(x.data(), {b, n, f}, torch::kFloat32);
      torch::Tensor mask = torch::from_blob(valid.data(), {b, n}, torch::kUInt8).to(torch::kBool);
      torch::Tensor y = torch::tensor(target, torch::kInt64);
      optimizer->zero_grad();
      torch::Tensor logits =
          l3->forward(torch::relu(l2->forward(torch::relu(l1->forward(xt))))).squeeze(-1);
      if (shape.residual_feature >= 0) logits = logits + xt.select(2, shape.residual_feature);
      logits = logits.masked_fill(mask.logical_not(), -1e9);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      optimizer->step();
      last_loss = loss.item<double>();
    } catch (const c10::Error& e) {
      buffer.clear();
      return Status::Internal(std::string("ranker step: libtorch: ") + e.what_without_backtrace());
    }
    ++steps;
    lists += b;
    buffer.clear();
    return Status::Ok();
  }
};

RankerTrainer::RankerTrainer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
RankerTrainer::~RankerTrainer() = default;

Result<std::unique_ptr<RankerTrainer>> RankerTrainer::Create(const RankerOptions& options,
                                                             int64_t num_features) {
  if (num_features <= 0 || options.hidden1 <= 0 || options.hidden2 <= 0 ||
      options.batch_lists <= 0 || !(options.learning_rate > 0)) {
    return Status::InvalidArgument("ranker: bad options");
  }
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  if (options.residual_feature < -1 || options.residual_feature >= num_features) {
    return Status::InvalidArgument("ranker: residual_feature out of range");
  }
  rep->shape = {num_features, options.hidden1, options.hidden2, options.residual_feature};
  try {
    // The layers are drawn from the CPU generator seeded with options.seed, whose state
    // is then put back: creating the ranker must not change the two-tower trainer's
    // random stream (its new rows), so the two-tower model trains the same with the
    // ranking stage on or off.
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    const at::Tensor saved = gen.get_state();
    gen.set_current_seed(options.seed);
    rep->l1 = torch::nn::Linear(num_features, options.hidden1);
    rep->l2 = torch::nn::Linear(options.hidden1, options.hidden2);
    rep->l3 = torch::nn::Linear(options.hidden2, 1);
    gen.set_state(saved);
    rep->optimizer = std::make_unique<torch::optim::Adam>(
        rep->Params(), torch::optim::AdamOptions(options.learning_rate));
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("ranker: libtorch: ") + e.what_without_backtrace());
  }
  return std::unique_ptr<RankerTrainer>(new RankerTrainer(std::move(rep)));
}

Status RankerTrainer::Add(const RankingList& list) {
  const auto f = static_cast<size_t>(rep_->shape.num_features);
  if (list.features.size() % f != 0 || list.features.size() / f < 2 ||
      list.positive >= list.features.size() / f) {
    return Status::InvalidArgument("ranker: a list needs >= 2 candidates of " + std::to_string(f) +
                                   " features and a positive among them");
  }
  rep_->buffer.push_back(list);
  if (static_cast<int64_t>(rep_->buffer.size()) >= rep_->options.batch_lists) return rep_->Step();
  return Status::Ok();
}

Status RankerTrainer::Flush() { return rep_->Step(); }

Result<std::shared_ptr<const RankerModel>> RankerTrainer::Model() const {
  std::vector<float> params;
  params.reserve(RankerModel::NumParams(rep_->shape));
  try {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& t : rep_->Params()) {
      torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
      const float* p = c.data_ptr<float>();
      params.insert(params.end(), p, p + c.numel());
    }
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("ranker: libtorch: ") + e.what_without_backtrace());
  }
  return RankerModel::Create(rep_->shape, std::move(params));
}

Status RankerTrainer::LoadFrom(const RankerModel& model) {
  const RankerShape& s = model.shape();
  if (s.num_features != rep_->shape.num_features || s.hidden1 != rep_->shape.hidden1 ||
      s.hidden2 != rep_->shape.hidden2 || s.residual_feature != rep_->shape.residual_feature) {
    return Status::FailedPrecondition("ranker: the snapshot's ranker has another shape");
  }
  try {
    torch::NoGradGuard no_grad;
    size_t at = 0;
    for (torch::Tensor t : rep_->Params()) {
      const auto n = static_cast<size_t>(t.numel());
      std::vector<float> part(model.params().begin() + static_cast<int64_t>(at),
                              model.params().begin() + static_cast<int64_t>(at + n));
      t.copy_(torch::from_blob(part.data(), t.sizes(), torch::kFloat32));
      at += n;
    }
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("ranker: libtorch: ") + e.what_without_backtrace());
  }
  return Status::Ok();
}

int64_t RankerTrainer::num_features() const { return rep_->shape.num_features; }
int64_t RankerTrainer::steps() const { return rep_->steps; }
int64_t RankerTrainer::lists() const { return rep_->lists; }
double RankerTrainer::last_loss() const { return rep_->last_loss; }

}  // namespace streamrec::training
