#include "operators/batch_view.h"

#include "operators/training_example.h"

namespace streamrec::operators {

BatchViewBuilder::BatchViewBuilder(BatchViewOptions options)
    : options_(std::move(options)), estimator_(options_.estimator) {}

void BatchViewBuilder::Add(const ClickEvent& e) {
  auto [it, inserted] = windows_.try_emplace(e.user_key, options_.window);
  UserWindow& w = it->second;
  w.EvictOlderThan(e.ts_ms);
  GeneratePairs(w.entries(), e.item_key, e.ts_ms, e.event, options_.cooc,
                [this](uint64_t a, uint64_t b, double wt) { increments_.push_back({a, b, wt}); });
  pairs_.AddAll(increments_);
  increments_.clear();
  const double weight = options_.cooc.weights.Of(e.event);
  if (example_sink_) example_sink_(MakeTrainingExample(e, w, weight));
  BatchItem& item = items_[e.item_key];
  if (item.item_id.empty()) item.item_id = e.item_id;
  item.weight += weight;
  item.occurrences += 1;
  item.popularity.Add(weight, e.ts_ms, options_.popularity_half_life_ms);
  estimator_.Observe(e.item_key);
  total_weight_ += weight;
  max_ts_ms_ = std::max(max_ts_ms_, e.ts_ms);
  ++events_;
  w.Add(e.item_key, e.item_id, e.ts_ms, e.event);
}

std::vector<Neighbor> BatchViewBuilder::TopNeighbors(uint64_t a) const {
  auto item_a = items_.find(a);
  if (item_a == items_.end() || options_.top_k == 0) return {};
  std::vector<std::pair<uint64_t, double>> entries = pairs_.Row(a);
  if (entries.empty()) return {};
  // The item stage's scoring, ranking and cut (ExactTopK, also its rebuild after a re-base).
  auto top = ExactTopK(options_.similarity, options_.top_k, item_a->second.weight, total_weight_, entries,
                       [this](uint64_t b) -> Result<double> {
                         auto item_b = items_.find(b);
                         return item_b == items_.end() ? 0.0 : item_b->second.weight;
                       });
  return top.ok() ? std::move(top).value() : std::vector<Neighbor>{};
}

BatchView BatchViewBuilder::ToBatchView() const {
  BatchView view;
  pairs_.ForEach([&view](uint64_t a, uint64_t b, double c) { view.pair_counts[{a, b}] = c; });
  for (const auto& [key, item] : items_) {
    view.item_counts[key] = item.weight;
    view.item_occurrences[key] = item.occurrences;
    if (options_.top_k > 0) {
      std::vector<Neighbor> top = TopNeighbors(key);
      if (!top.empty()) view.top_neighbors[key] = std::move(top);
    }
  }
  view.events = events_;
  return view;
}

BatchView ComputeBatchView(const std::vector<ClickEvent>& events, const UserWindowOptions& window,
                           const CoocOptions& cooc) {
  BatchViewOptions options;
  options.window = window;
  options.cooc = cooc;
  options.top_k = 0;
  BatchViewBuilder builder(options);
  for (const auto& e : events) builder.Add(e);
  return builder.ToBatchView();
}

}  // namespace streamrec::operators
