#include "operators/batch_view.h"

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

ClickEvent Ev(uint64_t user, uint64_t item, int64_t ts, EventType type = EventType::kClick) {
  ClickEvent e;
  e.user_key = user;
  e.user_id = "u" + std::to_string(user);
  e.item_key = item;
  e.item_id = "i" + std::to_string(item);
  e.ts_ms = ts;
  e.event = type;
  return e;
}

TEST(BatchViewTest, HandComputedCounts) {
  // Window of 2 items within 100 ms. User 1: 10, 11, 12 (purchase), 10; user 2: 10, 11
  // interleaved; user 1's last event is 150 ms after 12 so the window is empty.
  std::vector<ClickEvent> events = {Ev(1, 10, 0),   Ev(2, 10, 1),  Ev(1, 11, 10),
                                    Ev(2, 11, 20),  Ev(1, 12, 20, EventType::kPurchase),
                                    Ev(1, 10, 171)};
  auto view = ComputeBatchView(events, UserWindowOptions{2, 100}, CoocOptions{});
  std::map<std::pair<uint64_t, uint64_t>, double> want = {
      {{11, 10}, 2}, {{10, 11}, 2},  // user 1 then user 2, click weight 1
      {{12, 10}, 5}, {{10, 12}, 5},  // purchase with window {10, 11}
      {{12, 11}, 5}, {{11, 12}, 5}};
  EXPECT_EQ(view.pair_counts, want);
  EXPECT_EQ(view.item_counts, (std::map<uint64_t, double>{{10, 3}, {11, 2}, {12, 5}}));
  EXPECT_EQ(view.item_occurrences, (std::map<uint64_t, uint64_t>{{10, 3}, {11, 2}, {12, 1}}));
  EXPECT_EQ(view.events, 6u);
}

}  // namespace
}  // namespace streamrec::operators
