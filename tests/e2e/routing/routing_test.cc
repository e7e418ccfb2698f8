// Requests reach their owner (issue 10 items 2, 3), with the `streamrec` binary as a user
// runs it: `streamrec broker` (embedded broker), one user and one item stage, and three
// serving replicas (`streamrec stage serving`, each its own process and HTTP port) behind
// a round-robin client standing in for the load balancer.
// - ThreeReplicas...: for every user with history, a request sent to each replica in turn
//   is answered with that user's history (no cold start), seen items filtered, by the
//   replica that owns the user's clicks partition (as the replicas' own logs say), with
//   the same items as the owner answers when asked directly.
// - AReplicaLeavesAndJoinsUnderLoad...: under a steady request load across the live
//   replicas, one leaves (SIGTERM, taken out of the client's list first, as a load balancer
//   does) and a new one joins (added once ready): not one request fails, and afterwards
//   every answer again comes from the owner.
#include <atomic>
#include <mutex>
#include <random>

#include "serving/serving_members.h"
#include "tests/e2e/routing/routing_cluster.h"

namespace streamrec::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kUsers = 120;

struct RoundStats {
  int requests = 0, forwarded = 0, local = 0;
};

// One round: every user asked of the replicas in turn, and of its owner directly before
// and after. Returns false (and says why in *why) when the cluster is not settled yet
// (owners unknown, state still changing, answers empty): the caller retries. Once
// settled, asserts what must hold of every answer.
bool CheckRound(RoutingCluster& cluster, const std::vector<std::string>& replicas, RoundStats* stats,
                std::string* why) {
  const auto history = RoutingCluster::History(kUsers);
  const std::map<int32_t, std::string> owners = cluster.OwnersFromLogs(replicas);
  if (owners.size() != static_cast<size_t>(kRoutingPartitions)) {
    *why = "owners known for " + std::to_string(owners.size()) + " partitions";
    return false;
  }
  std::map<std::string, Answer> before;
  for (const auto& [user, items] : history) {
    const std::string& owner = owners.at(serving::PartitionForKey(user, kRoutingPartitions));
    before[user] = GetRecommendations(owner, user, /*force_local=*/true);
    if (before[user].status != 200 || before[user].items.empty() || before[user].cold_start) {
      *why = "the owner's answer for " + user + ": " + std::to_string(before[user].status) + " " + before[user].body;
      return false;
    }
  }
  std::map<std::string, Answer> routed;
  size_t next = 0;
  for (const auto& [user, items] : history) {
    routed[user] = GetRecommendations(cluster.address(replicas[next++ % replicas.size()]), user);
  }
  for (const auto& [user, items] : history) {
    const std::string& owner = owners.at(serving::PartitionForKey(user, kRoutingPartitions));
    const Answer again = GetRecommendations(owner, user, /*force_local=*/true);
    if (again.items != before[user].items) {
      *why = "the owner's answer for " + user + " changed during the round";
      return false;
    }
    if (routed[user].route == "fallback" || routed[user].route == "unowned" || routed[user].served_by != owner) {
      // Announcements still on their way (a replica that just loaded its windows).
      *why = user + " answered by " + routed[user].served_by + " as " + routed[user].route + ", its owner is " + owner;
      return false;
    }
  }
  // Settled: everything must hold.
  size_t i = 0;
  for (const auto& [user, items] : history) {
    const std::string& asked = cluster.address(replicas[i++ % replicas.size()]);
    const std::string& owner = owners.at(serving::PartitionForKey(user, kRoutingPartitions));
    const Answer& a = routed[user];
    EXPECT_EQ(a.status, 200) << user << " at " << asked << ": " << a.body;
    EXPECT_FALSE(a.cold_start) << user << " at " << asked << ": " << a.body;
    EXPECT_FALSE(a.items.empty()) << user << " at " << asked;
    for (const std::string& item : a.items) {
      EXPECT_EQ(items.count(item), 0u) << user << " was recommended " << item << ", which they clicked";
    }
    EXPECT_EQ(a.served_by, owner) << user << " asked at " << asked;
    EXPECT_EQ(a.route, asked == owner ? "local" : "forwarded") << user << " asked at " << asked;
    EXPECT_EQ(a.items, before[user].items) << user << " asked at " << asked << " (owner " << owner << ")";
    ++stats->requests;
    if (a.route == "forwarded") ++stats->forwarded;
    if (a.route == "local") ++stats->local;
  }
  return true;
}

// Rounds until one finds the cluster settled (bounded).
RoundStats SettledRound(RoutingCluster& cluster, const std::vector<std::string>& replicas) {
  RoundStats stats;
  std::string why;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    if (CheckRound(cluster, replicas, &stats, &why)) return stats;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ADD_FAILURE() << "the cluster did not settle: " << why;
  return stats;
}

TEST(RoutingTest, ThreeReplicasAnswerEveryUserWithItsHistoryFromTheOwner) {
#ifdef STREAMREC_NO_BINARY
  GTEST_SKIP() << "streamrec binary not built";
#endif
  RoutingCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartBrokerAndStages(kUsers));
  const std::vector<std::string> replicas = {"serving0", "serving1", "serving2"};
  for (const auto& r : replicas) ASSERT_FALSE(cluster.StartServing(r).empty()) << r << " did not start";
  ASSERT_TRUE(cluster.WaitReady(replicas, std::chrono::seconds(120)));
  const RoundStats stats = SettledRound(cluster, replicas);
  std::printf("round robin over 3 replicas: %d requests, %d answered locally, %d forwarded to the owner\n",
              stats.requests, stats.local, stats.forwarded);
  EXPECT_EQ(stats.requests, kUsers);
  // With 4 partitions over 3 replicas, about two thirds of the requests are forwarded.
  EXPECT_GT(stats.forwarded, 0);
  EXPECT_GT(stats.local, 0);
  for (const auto& r : replicas) EXPECT_EQ(cluster.StopServing(r), 0) << r;
}

TEST(RoutingTest, AReplicaLeavesAndJoinsUnderLoadWithoutAFailedRequest) {
#ifdef STREAMREC_NO_BINARY
  GTEST_SKIP() << "streamrec binary not built";
#endif
  RoutingCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartBrokerAndStages(kUsers));
  for (const char* r : {"serving0", "serving1", "serving2"}) {
    ASSERT_FALSE(cluster.StartServing(r).empty()) << r << " did not start";
  }
  ASSERT_TRUE(cluster.WaitReady({"serving0", "serving1", "serving2"}, std::chrono::seconds(120)));
  SettledRound(cluster, {"serving0", "serving1", "serving2"});

  // The load balancer: the replicas it sends to (changed by the main thread).
  std::mutex mu;
  std::vector<std::string> live = {cluster.address("serving0"), cluster.address("serving1"),
                                   cluster.address("serving2")};
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0}, failed{0}, cold{0}, fallbacks{0};
  std::string first_failure;
  std::map<std::string, int> routes, cold_by_route;  // under mu
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c + 1));
      size_t next = static_cast<size_t>(c);
      while (!stop.load()) {
        std::string address;
        {
          std::lock_guard<std::mutex> lock(mu);
          address = live[next++ % live.size()];
        }
        const std::string user = "user-" + std::to_string(rng() % kUsers);
        const Answer a = GetRecommendations(address, user);
        ++requests;
        if (a.status != 200) {
          if (failed.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first_failure = user + " at " + address + ": " + std::to_string(a.status) + " " + a.body;
          }
        }
        if (a.cold_start) ++cold;
        if (a.route == "fallback") ++fallbacks;
        {
          std::lock_guard<std::mutex> lock(mu);
          ++routes[a.route];
          if (a.cold_start) ++cold_by_route[a.route];
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // serving2 leaves: out of the balancer's list first, then SIGTERM.
  {
    std::lock_guard<std::mutex> lock(mu);
    live = {cluster.address("serving0"), cluster.address("serving1")};
  }
  EXPECT_EQ(cluster.StopServing("serving2"), 0);
  std::this_thread::sleep_for(std::chrono::seconds(5));
  // serving3 joins: into the list once ready.
  ASSERT_FALSE(cluster.StartServing("serving3").empty());
  EXPECT_TRUE(cluster.WaitReady({"serving3"}, std::chrono::seconds(120)));
  {
    std::lock_guard<std::mutex> lock(mu);
    live.push_back(cluster.address("serving3"));
  }
  std::this_thread::sleep_for(std::chrono::seconds(5));
  stop = true;
  for (auto& t : clients) t.join();
  std::printf("under load: %d requests, %d failed, %d cold starts, %d answered by fallback\n", requests.load(),
              failed.load(), cold.load(), fallbacks.load());
  for (const auto& [route, n] : routes) {
    std::printf("  route %s: %d requests, %d cold starts\n", route.c_str(), n, cold_by_route[route]);
  }
  EXPECT_GT(requests.load(), 100);
  EXPECT_EQ(failed.load(), 0) << first_failure;

  // Routing followed the rebalances: every answer comes from the owner again.
  const RoundStats after = SettledRound(cluster, {"serving0", "serving1", "serving3"});
  EXPECT_EQ(after.requests, kUsers);
  EXPECT_GT(after.forwarded, 0);
  for (const char* r : {"serving0", "serving1", "serving3"}) EXPECT_EQ(cluster.StopServing(r), 0) << r;
}

}  // namespace
}  // namespace streamrec::testing
