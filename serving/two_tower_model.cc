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

namespace {

// Whether `model` scores `pos` above `neg` for the user of `history`: 1 yes, 0 no, -1
// when it cannot score the pair (an item unknown, the window not encodable); an error
// when a score is not finite.
Result<int> ScorePair(const TwoTowerModel& model, const std::vector<HistoryEntry>& history,
                      uint64_t pos, uint64_t neg) {
  const ItemEmbeddings& items = model.items();
  const int64_t p = items.Find(pos);
  const int64_t n = items.Find(neg);
  if (p < 0 || n < 0) return -1;
  Result<std::vector<float>> user = model.user_encoder().Encode("", history);
  if (!user.ok()) return -1;
  for (float x : *user) {
    if (!std::isfinite(x)) return Status::Corruption("user embedding is not finite");
  }
  const float sp = items.Dot(user->data(), static_cast<size_t>(p));
  const float sn = items.Dot(user->data(), static_cast<size_t>(n));
  if (!std::isfinite(sp) || !std::isfinite(sn)) return Status::Corruption("score is not finite");
  return sp > sn ? 1 : 0;
}

}  // namespace

Status CheckModelSanity(const TwoTowerModel& model,
                        const std::vector<UserHistoryStore::RecentEvent>& events,
                        const SanityCheckOptions& options, SanityScore* score,
                        const TwoTowerModel* serving) {
  SanityScore local;
  SanityScore& s = score != nullptr ? *score : local;
  s = SanityScore();
  const ItemEmbeddings& items = model.items();
  if (options.max_events == 0 || items.size() < 2) return Status::Ok();
  size_t correct = 0;
  size_t compared_correct = 0;
  size_t serving_correct = 0;
  const size_t start = events.size() > options.max_events ? events.size() - options.max_events : 0;
  for (size_t i = start; i < events.size(); ++i) {
    const auto& event = events[i];
    if (event.history.empty()) continue;
    const int64_t pos = items.Find(event.item.item_key);
    if (pos < 0) continue;
    // A deterministic "other" item: a row derived from the event's keys.
    size_t neg = static_cast<size_t>((event.item.item_key * 0x9E3779B97F4A7C15ULL) ^ event.user_key) %
                 items.size();
    if (neg == static_cast<size_t>(pos)) neg = (neg + 1) % items.size();
    const uint64_t neg_key = items.key(neg);
    Result<int> mine = ScorePair(model, event.history, event.item.item_key, neg_key);
    if (!mine.ok()) return mine.status();
    if (*mine < 0) continue;
    ++s.events;
    correct += static_cast<size_t>(*mine);
    if (serving == nullptr) continue;
    Result<int> theirs = ScorePair(*serving, event.history, event.item.item_key, neg_key);
    if (!theirs.ok() || *theirs < 0) continue;  // the serving model's faults are not this one's
    ++s.compared;
    compared_correct += static_cast<size_t>(*mine);
    serving_correct += static_cast<size_t>(*theirs);
  }
  if (s.events == 0) return Status::Ok();
  s.accuracy = static_cast<double>(correct) / static_cast<double>(s.events);
  if (s.compared > 0) {
    s.compared_accuracy = static_cast<double>(compared_correct) / static_cast<double>(s.compared);
    s.serving_accuracy = static_cast<double>(serving_correct) / static_cast<double>(s.compared);
  }
  if (s.events >= options.min_events && s.accuracy < options.min_pairwise_accuracy) {
    return Status::FailedPrecondition("sanity score " + std::to_string(s.accuracy) + " on " +
                                      std::to_string(s.events) + " recent events is below " +
                                      std::to_string(options.min_pairwise_accuracy));
  }
  if (options.max_drop_vs_serving >= 0 && s.compared >= options.min_events &&
      s.compared_accuracy < s.serving_accuracy - options.max_drop_vs_serving) {
    return Status::FailedPrecondition(
        "sanity score " + std::to_string(s.compared_accuracy) + " on " +
        std::to_string(s.compared) + " recent events is more than " +
        std::to_string(options.max_drop_vs_serving) + " below the serving version " +
        std::to_string(serving->version()) + "'s " + std::to_string(s.serving_accuracy));
  }
  return Status::Ok();
}

Status CheckModelSanity(const TwoTowerModel& model,
                        const std::vector<UserHistoryStore::RecentEvent>& events,
                        const SanityCheckOptions& options, double* accuracy) {
  SanityScore score;
  Status st = CheckModelSanity(model, events, options, &score, nullptr);
  if (accuracy != nullptr) *accuracy = score.accuracy;
  return st;
}

}  // namespace streamrec::serving
