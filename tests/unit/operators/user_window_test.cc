#include "operators/user_window.h"

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

std::vector<uint64_t> Keys(const UserWindow& w) {
  std::vector<uint64_t> out;
  for (const auto& e : w.entries()) out.push_back(e.item_key);
  return out;
}

TEST(UserWindowTest, KeepsLastNDistinctItemsOldestFirst) {
  UserWindow w(UserWindowOptions{3, 0});
  w.Add(1, "a", 100, EventType::kClick);
  w.Add(2, "b", 200, EventType::kClick);
  w.Add(3, "c", 300, EventType::kClick);
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{1, 2, 3}));
  w.Add(4, "d", 400, EventType::kView);
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{2, 3, 4}));
  // A repeat moves to the newest position without growing the window.
  w.Add(3, "c", 500, EventType::kPurchase);
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{2, 4, 3}));
  EXPECT_EQ(w.entries().back().ts_ms, 500);
  EXPECT_EQ(w.entries().back().event, EventType::kPurchase);
}

TEST(UserWindowTest, EvictsByEventTimeHorizon) {
  UserWindow w(UserWindowOptions{10, 1000});
  w.Add(1, "a", 0, EventType::kClick);
  w.Add(2, "b", 500, EventType::kClick);
  w.Add(3, "c", 1000, EventType::kClick);  // boundary: item at 0 is exactly 1000 old, stays
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{1, 2, 3}));
  w.Add(4, "d", 1001, EventType::kClick);  // item at 0 is now 1001 old
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{2, 3, 4}));
  w.EvictOlderThan(2000);  // cutoff 1000
  EXPECT_EQ(Keys(w), (std::vector<uint64_t>{3, 4}));
  w.EvictOlderThan(5000);
  EXPECT_TRUE(w.empty());
}

TEST(UserWindowTest, SerializeRoundTrips) {
  UserWindowOptions opt{5, 60000};
  UserWindow w(opt);
  w.Add(7, "sku-7", 10, EventType::kAddToCart);
  w.Add(9, "sku-9", 20, EventType::kView);
  auto parsed = UserWindow::Parse(w.Serialize(), opt);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->entries(), w.entries());
}

TEST(UserWindowTest, ParseRejectsCorruptBytes) {
  UserWindow w;
  w.Add(7, "sku-7", 10, EventType::kClick);
  std::string bytes = w.Serialize();
  EXPECT_FALSE(UserWindow::Parse(bytes.substr(0, bytes.size() - 1), {}).ok());
  EXPECT_FALSE(UserWindow::Parse(bytes + "x", {}).ok());
  EXPECT_FALSE(UserWindow::Parse("", {}).ok());
  bytes[0] = 9;
  EXPECT_FALSE(UserWindow::Parse(bytes, {}).ok());
}

}  // namespace
}  // namespace streamrec::operators
