#include "operators/batch_view.h"

#include <unordered_map>

namespace streamrec::operators {

BatchView ComputeBatchView(const std::vector<ClickEvent>& events, const UserWindowOptions& window,
                           const CoocOptions& cooc) {
  BatchView view;
  std::unordered_map<uint64_t, UserWindow> windows;
  for (const auto& e : events) {
    auto [it, inserted] = windows.try_emplace(e.user_key, window);
    UserWindow& w = it->second;
    w.EvictOlderThan(e.ts_ms);
    GeneratePairs(w.entries(), e.item_key, e.ts_ms, e.event, cooc,
                  [&view](uint64_t a, uint64_t b, double wt) { view.pair_counts[{a, b}] += wt; });
    view.item_counts[e.item_key] += cooc.weights.Of(e.event);
    view.item_occurrences[e.item_key] += 1;
    ++view.events;
    w.Add(e.item_key, e.item_id, e.ts_ms, e.event);
  }
  return view;
}

}  // namespace streamrec::operators
