#include "serving/serving_members.h"

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

TEST(ServingMembers, Murmur2IsKafkasBitForBit) {
  // Kafka's own UtilsTest.testMurmur2 cases.
  EXPECT_EQ(KafkaMurmur2("21"), -973932308);
  EXPECT_EQ(KafkaMurmur2("foobar"), -790332482);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(KafkaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(KafkaMurmur2("abc"), 479470107);
  // Partition: the positive part modulo the count.
  EXPECT_EQ(PartitionForKey("21", 7), static_cast<int32_t>((static_cast<uint32_t>(-973932308) & 0x7fffffffu) % 7));
}

ServingMember Member(const std::string& id, std::vector<int32_t> partitions, int64_t ms, bool loaded = true) {
  ServingMember m;
  m.replica_id = id;
  m.http_address = "127.0.0.1:" + std::to_string(9000 + id.size());
  m.partitions = std::move(partitions);
  m.partition_count = 4;
  m.generation = 1;
  m.windows_loaded = loaded;
  m.announced_ms = ms;
  return m;
}

// A user id per partition of 4.
std::vector<std::string> UsersByPartition() {
  std::vector<std::string> users(4);
  for (int i = 0; users[0].empty() || users[1].empty() || users[2].empty() || users[3].empty(); ++i) {
    const std::string u = "u" + std::to_string(i);
    std::string& slot = users[static_cast<size_t>(PartitionForKey(u, 4))];
    if (slot.empty()) slot = u;
  }
  return users;
}

TEST(ServingMembers, AnnouncementRoundTrips) {
  const ServingMember m = Member("a", {3, 1}, 42);
  Result<ServingMember> back = DecodeServingMember(EncodeServingMember(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->replica_id, "a");
  EXPECT_EQ(back->http_address, m.http_address);
  EXPECT_EQ(back->partitions, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(back->partition_count, 4);
  EXPECT_EQ(back->announced_ms, 42);
  EXPECT_TRUE(back->windows_loaded);
  EXPECT_FALSE(DecodeServingMember("{\"replica\":\"a\"}").ok());
  EXPECT_FALSE(DecodeServingMember("not json").ok());
  ServingMember bad = m;
  bad.partitions = {4};  // outside [0, 4)
  EXPECT_FALSE(DecodeServingMember(EncodeServingMember(bad)).ok());
}

TEST(ServingMembers, RoutesEachUserToTheOwnerOfItsPartition) {
  const std::vector<std::string> users = UsersByPartition();
  ServingMembers members;
  // Nothing known: answered here, unowned.
  EXPECT_TRUE(members.RouteUser(users[0]).local);
  EXPECT_FALSE(members.RouteUser(users[0]).owned);
  members.SetSelf("a");
  ASSERT_TRUE(members.Apply("a", EncodeServingMember(Member("a", {0, 1}, 10))).ok());
  ASSERT_TRUE(members.Apply("bb", EncodeServingMember(Member("bb", {2, 3}, 10))).ok());
  for (int p = 0; p < 4; ++p) {
    const ServingRoute r = members.RouteUser(users[static_cast<size_t>(p)]);
    EXPECT_EQ(r.partition, p);
    EXPECT_TRUE(r.owned);
    EXPECT_EQ(r.local, p < 2) << p;
    EXPECT_EQ(r.owner_id, p < 2 ? "a" : "bb");
    EXPECT_EQ(r.owner_address, p < 2 ? "127.0.0.1:9001" : "127.0.0.1:9002");
  }
  // A key under another replica's name is refused.
  EXPECT_FALSE(members.Apply("c", EncodeServingMember(Member("a", {2}, 99))).ok());
  EXPECT_EQ(members.RouteUser(users[2]).owner_id, "bb");
}

TEST(ServingMembers, TheNewestClaimWinsAndALoadedOwnerBeatsOneStillRebuilding) {
  const std::vector<std::string> users = UsersByPartition();
  ServingMembers members;
  members.SetSelf("a");
  ASSERT_TRUE(members.Apply("a", EncodeServingMember(Member("a", {0, 1, 2, 3}, 10))).ok());
  // A joins first; "bb" joins and takes 2, 3 (its announcement is newer) while "a" has not
  // yet announced the revocation.
  ASSERT_TRUE(members.Apply("bb", EncodeServingMember(Member("bb", {2, 3}, 20))).ok());
  EXPECT_EQ(members.RouteUser(users[3]).owner_id, "bb");
  EXPECT_EQ(members.RouteUser(users[1]).owner_id, "a");
  // A newer claim whose windows are still being rebuilt loses to a loaded one.
  ASSERT_TRUE(members.Apply("ccc", EncodeServingMember(Member("ccc", {3}, 30, /*loaded=*/false))).ok());
  EXPECT_EQ(members.RouteUser(users[3]).owner_id, "bb");
  // ... and wins once it is the only claim.
  ASSERT_TRUE(members.Apply("bb", EncodeServingMember(Member("bb", {2}, 31))).ok());
  ASSERT_TRUE(members.Apply("a", EncodeServingMember(Member("a", {0, 1}, 31))).ok());
  EXPECT_EQ(members.RouteUser(users[3]).owner_id, "ccc");
  // A tombstone removes the member: its partitions are unowned until claimed again.
  ASSERT_TRUE(members.Apply("bb", std::nullopt).ok());
  EXPECT_FALSE(members.RouteUser(users[2]).owned);
  EXPECT_TRUE(members.RouteUser(users[2]).local);
  EXPECT_EQ(members.Members().size(), 2u);
}

}  // namespace
}  // namespace streamrec::serving
