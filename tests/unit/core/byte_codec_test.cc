#include "core/byte_codec.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TEST(ByteCodecTest, RoundTripsScalarsStringsAndBytes) {
  ByteWriter w;
  w.Put<uint8_t>(7);
  w.Put<uint32_t>(0xdeadbeef);
  w.Put<int64_t>(-42);
  w.Put<double>(0.25);
  w.Put<float>(1.5f);
  w.PutString("hello");
  const char raw[3] = {'x', 'y', 'z'};
  w.PutBytes(raw, 3);
  EXPECT_EQ(w.size(), 1u + 4 + 8 + 8 + 4 + (4 + 5) + 3);

  const std::string bytes = w.Take();
  ByteReader r(bytes);
  uint8_t a = 0;
  uint32_t b = 0;
  int64_t c = 0;
  double d = 0;
  float e = 0;
  std::string s;
  char out[3];
  ASSERT_TRUE(r.Get(&a) && r.Get(&b) && r.Get(&c) && r.Get(&d) && r.Get(&e));
  ASSERT_TRUE(r.GetString(&s));
  ASSERT_TRUE(r.GetBytes(out, 3));
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 0xdeadbeef);
  EXPECT_EQ(c, -42);
  EXPECT_EQ(d, 0.25);
  EXPECT_EQ(e, 1.5f);
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(std::string(out, 3), "xyz");
}

TEST(ByteCodecTest, ShortInputFailsWithoutConsuming) {
  ByteWriter w;
  w.Put<uint32_t>(1000);  // a string length with no bytes behind it
  const std::string bytes = w.Take();
  ByteReader r(bytes);
  std::string s;
  EXPECT_FALSE(r.GetString(&s));
  EXPECT_EQ(r.remaining(), 4u);  // nothing consumed
  uint64_t big = 0;
  EXPECT_FALSE(r.Get(&big));
  uint32_t n = 0;
  EXPECT_TRUE(r.Get(&n));
  EXPECT_EQ(n, 1000u);
}

TEST(ByteCodecTest, StringLongerThanLimitIsRejected) {
  ByteWriter w;
  w.PutString(std::string(100, 'a'));
  const std::string bytes = w.Take();
  ByteReader r(bytes);
  std::string s;
  EXPECT_FALSE(r.GetString(&s, 99));
  EXPECT_TRUE(r.GetString(&s, 100));
  EXPECT_EQ(s.size(), 100u);
}

}  // namespace
}  // namespace streamrec
