#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "operators/cooccurrence.h"
#include "operators/user_window.h"
#include "streams/click_event.h"

namespace streamrec::operators {

// The batch layer's view of the co-occurrence state: what the user and item stages must
// hold after consuming the same events (the ground truth of the exactly-once tests, and
// the batch view of the lambda architecture).
struct BatchView {
  std::map<std::pair<uint64_t, uint64_t>, double> pair_counts;  // (a, b) -> c_ab
  std::map<uint64_t, double> item_counts;                       // weighted counts
  std::map<uint64_t, uint64_t> item_occurrences;                // number of events
  uint64_t events = 0;
};

// Recomputes the state from events given in time order (per user, the order the stream
// delivers them), with the same window and pair rules as the stream operators. Events
// of different users may interleave arbitrarily: only per-user order matters. Pure.
BatchView ComputeBatchView(const std::vector<ClickEvent>& events, const UserWindowOptions& window,
                           const CoocOptions& cooc);

}  // namespace streamrec::operators
