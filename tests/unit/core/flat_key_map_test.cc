#include "core/flat_key_map.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace streamrec {
namespace {

TEST(FlatKeyMapTest, EmptyMapFindsNothing) {
  const FlatKeyMap<int> map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.find(0), nullptr);
  EXPECT_FALSE(map.contains(42));
  EXPECT_EQ(map.begin(), map.end());
}

TEST(FlatKeyMapTest, InsertsValueInitialisedAndKeepsInsertionOrder) {
  FlatKeyMap<int> map;
  map[7] += 1;
  map[0] += 2;  // key 0 is an ordinary key
  map[7] += 3;
  map[~0ULL] = 5;
  ASSERT_EQ(map.size(), 3u);
  std::vector<std::pair<uint64_t, int>> in_order(map.begin(), map.end());
  const std::vector<std::pair<uint64_t, int>> want = {{7, 4}, {0, 2}, {~0ULL, 5}};
  EXPECT_EQ(in_order, want);
  ASSERT_NE(map.find(0), nullptr);
  EXPECT_EQ(*map.find(0), 2);
  EXPECT_EQ(map.find(8), nullptr);
}

// Against std::unordered_map over many keys: random 64-bit ones, small consecutive
// integers, and keys that share their low or high bits (the index's slot and tag come
// from a mix of the whole key, so neither pattern may cluster into wrong answers).
TEST(FlatKeyMapTest, AgreesWithUnorderedMapThroughGrowth) {
  std::mt19937_64 rng(5);
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 3000; ++i) keys.push_back(i);
  for (uint64_t i = 0; i < 3000; ++i) keys.push_back(i << 40);
  for (uint64_t i = 0; i < 3000; ++i) keys.push_back((i << 32) | 0xabcdefULL);
  for (int i = 0; i < 20000; ++i) keys.push_back(rng());
  FlatKeyMap<uint64_t> flat;  // grows from empty: every rehash on the way is exercised
  std::unordered_map<uint64_t, uint64_t> ref;
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t key = keys[rng() % keys.size()];
    flat[key] += i;
    ref[key] += i;
  }
  ASSERT_EQ(flat.size(), ref.size());
  for (const auto& [key, value] : ref) {
    const uint64_t* found = flat.find(key);
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(*found, value) << key;
  }
  size_t absent = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t key = rng();
    if (ref.count(key) == 0) {
      EXPECT_FALSE(flat.contains(key)) << key;
      ++absent;
    }
  }
  EXPECT_GT(absent, 0u);
  for (const auto& [key, value] : flat) EXPECT_EQ(ref.at(key), value);
}

// Erase keeps every other key reachable (linear probing's backward shift, wrapping
// around the end of the index) and moves the last entry into the hole.
TEST(FlatKeyMapTest, EraseAgreesWithUnorderedMapUnderChurn) {
  std::mt19937_64 rng(9);
  FlatKeyMap<uint64_t> flat;
  std::unordered_map<uint64_t, uint64_t> ref;
  for (int step = 0; step < 200000; ++step) {
    // A small key space, so runs of occupied slots form and are broken up often.
    const uint64_t key = (step % 3 == 0) ? rng() % 64 : (rng() % 2000) << 50;
    if (rng() % 3 == 0) {
      EXPECT_EQ(flat.erase(key), ref.erase(key) == 1) << key;
    } else {
      flat[key] = static_cast<uint64_t>(step);
      ref[key] = static_cast<uint64_t>(step);
    }
    if (step % 10000 == 0 || step == 199999) {
      ASSERT_EQ(flat.size(), ref.size());
      for (const auto& [k, v] : ref) {
        const uint64_t* found = flat.find(k);
        ASSERT_NE(found, nullptr) << k;
        EXPECT_EQ(*found, v);
      }
      for (const auto& [k, v] : flat) EXPECT_EQ(ref.at(k), v);
    }
  }
  EXPECT_FALSE(flat.erase(12345));
  for (const auto& [k, v] : ref) EXPECT_TRUE(flat.erase(k));
  EXPECT_TRUE(flat.empty());
  EXPECT_FALSE(flat.contains(0));
}

TEST(FlatKeyMapTest, ReserveKeepsContents) {
  FlatKeyMap<std::string> map(4);
  map[1] = "a";
  map[2] = "b";
  map.reserve(1000);
  map[3] = "c";
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(*map.find(1), "a");
  EXPECT_EQ(*map.find(2), "b");
  EXPECT_EQ(*map.find(3), "c");
}

TEST(FlatKeyMapTest, ClearEmptiesTheMapAndItFillsAgain) {
  FlatKeyMap<int> map;
  for (uint64_t k = 0; k < 100; ++k) map[k * 7919] = static_cast<int>(k);
  map.clear();
  EXPECT_TRUE(map.empty());
  for (uint64_t k = 0; k < 100; ++k) EXPECT_EQ(map.find(k * 7919), nullptr);
  for (uint64_t k = 0; k < 300; ++k) map[k] = static_cast<int>(k) + 1;
  ASSERT_EQ(map.size(), 300u);
  for (uint64_t k = 0; k < 300; ++k) EXPECT_EQ(*map.find(k), static_cast<int>(k) + 1);
}

}  // namespace
}  // namespace streamrec
