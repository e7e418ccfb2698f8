#include "serving/recent_users.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

using Users = std::vector<std::string>;

TEST(RecentUsersTest, NewestFirstDistinctAndBounded) {
  RecentUsers users(3);
  EXPECT_EQ(users.Get(10), Users{});
  users.Add("a");
  users.Add("b");
  users.Add("a");  // moves to the front, not listed twice
  EXPECT_EQ(users.Get(10), (Users{"a", "b"}));
  users.Add("c");
  users.Add("d");  // evicts the least recent (b)
  EXPECT_EQ(users.Get(10), (Users{"d", "c", "a"}));
  EXPECT_EQ(users.Get(2), (Users{"d", "c"}));
  users.Add("");  // not a user
  EXPECT_EQ(users.Get(10), (Users{"d", "c", "a"}));
}

TEST(RecentUsersTest, ConcurrentAddsAndReadsStayDistinct) {
  RecentUsers users(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) users.Add("u" + std::to_string((i * 7 + t) % 20));
    });
  }
  for (int i = 0; i < 200; ++i) {
    const Users got = users.Get(8);
    EXPECT_LE(got.size(), 8u);
    for (size_t a = 0; a < got.size(); ++a) {
      for (size_t b = a + 1; b < got.size(); ++b) EXPECT_NE(got[a], got[b]);
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(users.Get(100).size(), 8u);
}

}  // namespace
}  // namespace streamrec::serving
