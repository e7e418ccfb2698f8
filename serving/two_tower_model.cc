#include "serving/two_tower_model.h"

#include <cmath>

namespace streamrec::serving {
namespace {

class MeanPoolingUserEncoder : public UserEncoder {
 public:
  explicit MeanPoolingUserEncoder(std::shared_ptr<const ItemEmbeddings> items)
      : items_(std::move(items)) {}

  Result<std::vector<float>> Encode(std::string_view,
                                    const std::vector<HistoryEntry>& history) const override {
    const int d = items_->dim();
    std::vector<float> sum(static_cast<size_t>(d), 0.0f);
    size_t used = 0;
    for (const HistoryEntry& h : history) {
      const int64_t r = items_->Find(h.item_key);
      if (r < 0) continue;
      const float* v = items_->row(static_cast<size_t>(r));
      for (int i = 0; i < d; ++i) sum[i] += v[i];
      ++used;
    }
    if (used == 0) return Status::NotFound("no item of the window is known to the model");
    double norm = 0;
    for (float x : sum) norm += static_cast<double>(x) * x;
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (float& x : sum) x = static_cast<float>(x / norm);
    }
    return sum;
  }

 private:
  std::shared_ptr<const ItemEmbeddings> items_;
};

}  // namespace

std::unique_ptr<UserEncoder> NewMeanPoolingUserEncoder(std::shared_ptr<const ItemEmbeddings> items) {
  return std::make_unique<MeanPoolingUserEncoder>(std::move(items));
}

Status CheckModelSanity(const TwoTowerModel& model,
                        const std::vector<UserHistoryStore::RecentEvent>& events,
                        const SanityCheckOptions& options, double* accuracy) {
  if (accuracy != nullptr) *accuracy = 0;
  const ItemEmbeddings& items = model.items();
  if (options.max_events == 0 || items.size() < 2) return Status::Ok();
  size_t scored = 0;
  size_t correct = 0;
  const size_t start = events.size() > options.max_events ? events.size() - options.max_events : 0;
  for (size_t i = start; i < events.size(); ++i) {
    const auto& event = events[i];
    if (event.history.empty()) continue;
    const int64_t pos = items.Find(event.item.item_key);
    if (pos < 0) continue;
    Result<std::vector<float>> user = model.user_encoder().Encode("", event.history);
    if (!user.ok()) continue;
    for (float x : *user) {
      if (!std::isfinite(x)) return Status::Corruption("user embedding is not finite");
    }
    // A deterministic "other" item: a row derived from the event's keys.
    size_t neg = static_cast<size_t>((event.item.item_key * 0x9E3779B97F4A7C15ULL) ^ event.user_key) %
                 items.size();
    if (neg == static_cast<size_t>(pos)) neg = (neg + 1) % items.size();
    const float sp = items.Dot(user->data(), static_cast<size_t>(pos));
    const float sn = items.Dot(user->data(), neg);
    if (!std::isfinite(sp) || !std::isfinite(sn)) return Status::Corruption("score is not finite");
    ++scored;
    if (sp > sn) ++correct;
  }
  if (scored == 0) return Status::Ok();
  const double acc = static_cast<double>(correct) / static_cast<double>(scored);
  if (accuracy != nullptr) *accuracy = acc;
  if (scored >= options.min_events && acc < options.min_pairwise_accuracy) {
    return Status::FailedPrecondition("sanity score " + std::to_string(acc) + " on " +
                                      std::to_string(scored) + " recent events is below " +
                                      std::to_string(options.min_pairwise_accuracy));
  }
  return Status::Ok();
}

}  // namespace streamrec::serving
