#include "core/id_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace streamrec {
namespace {

// Golden values pin the on-disk format: they must never change between builds,
// machines or releases (state keys are these hashes).
TEST(IdHashTest, StableGoldenValues) {
  EXPECT_EQ(HashId(""), 0x67ac58695980178fULL);
  EXPECT_EQ(HashId("u1"), 0x0cd670506a30be39ULL);
  EXPECT_EQ(HashId("sku-9"), 0x508c71b9b5c4773aULL);
  EXPECT_EQ(HashId("\xc3\xbcn\xc3\xaf" "code"), 0x53284803715d31acULL);  // "ünïcode" as UTF-8
  EXPECT_EQ(HashId(std::string("u1")), HashId("u1"));
  EXPECT_NE(HashId("u1"), HashId("u2"));
}

TEST(IdHashTest, NoCollisionsOnManyIds) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 200000; ++i) seen.insert(HashId("sku-" + std::to_string(i)));
  EXPECT_EQ(seen.size(), 200000u);
}

}  // namespace
}  // namespace streamrec
