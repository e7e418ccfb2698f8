#include "core/records.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TrainingExample SampleExample() {
  TrainingExample e;
  e.user_key = 11;
  e.user_id = "u1";
  e.item_key = 22;
  e.item_id = "sku-9";
  e.event = EventType::kAddToCart;
  e.weight = 2.5f;
  e.ts_ms = 1732270000123;
  e.history_keys = {1, 2, 3};
  e.history_ts_ms = {100, 200, 300};
  return e;
}

TEST(RecordsTest, TrainingExampleRoundTrip) {
  const TrainingExample e = SampleExample();
  auto decoded = DecodeTrainingExample(EncodeTrainingExample(e));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, e);
}

TEST(RecordsTest, TrainingExampleRejectsCorruptInput) {
  const std::string bytes = EncodeTrainingExample(SampleExample());
  EXPECT_FALSE(DecodeTrainingExample("").ok());
  EXPECT_FALSE(DecodeTrainingExample(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(DecodeTrainingExample(bytes + "x").ok());
  std::string wrong_format = bytes;
  wrong_format[0] = 9;
  EXPECT_FALSE(DecodeTrainingExample(wrong_format).ok());
  // Every truncation is an error, never a crash or a partial value.
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeTrainingExample(bytes.substr(0, n)).ok());
}

TEST(RecordsTest, ItemStatsRoundTrip) {
  ItemStats s{42, "sku-42", 10.0, 3.5, 0.0125, 1732270000123};
  auto decoded = DecodeItemStats(EncodeItemStats(s));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, s);
  EXPECT_FALSE(DecodeItemStats(EncodeItemStats(s).substr(3)).ok());
}

TEST(RecordsTest, ItemNeighborsRoundTrip) {
  ItemNeighbors n{7, "sku-7", 1732270000123, {{8, "sku-8", 0.5, 12}, {9, "sku-9", 0.25, 3}}};
  const std::string bytes = EncodeItemNeighbors(n);
  auto decoded = DecodeItemNeighbors(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, n);
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(DecodeItemNeighbors(bytes.substr(0, len)).ok());
  }
}

TEST(RecordsTest, EventTypeNames) {
  for (EventType t : {EventType::kView, EventType::kClick, EventType::kAddToCart,
                      EventType::kPurchase}) {
    EventType parsed;
    ASSERT_TRUE(ParseEventType(EventTypeName(t), &parsed));
    EXPECT_EQ(parsed, t);
  }
  EventType parsed;
  EXPECT_FALSE(ParseEventType("like", &parsed));
  EXPECT_FALSE(ParseEventType("", &parsed));
}

}  // namespace
}  // namespace streamrec
