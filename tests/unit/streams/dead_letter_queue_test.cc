#include "streams/dead_letter_queue.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "streams/topics.h"

namespace streamrec {
namespace {

size_t Bytes(const std::string& key, const std::string& value, const KafkaHeaders& headers) {
  size_t n = key.size() + value.size();
  for (const auto& h : headers) n += h.key.size() + h.value.size() + 16;
  return n;
}

std::string HeaderOr(const KafkaHeaders& headers, const std::string& name) {
  for (const auto& h : headers) {
    if (h.key == name) return h.value;
  }
  return "";
}

KafkaHeaders RejectHeaders() {
  return {{kRejectReasonHeader, "message_too_large"}, {kRejectDetailHeader, "message is big"}};
}

TEST(FitDeadLetterTest, WhatFitsIsKeptAsItIs) {
  std::string key = "u1", value(500'000, 'x');
  KafkaHeaders headers = RejectHeaders();
  EXPECT_FALSE(FitDeadLetter(&key, &value, &headers));
  EXPECT_EQ(value.size(), 500'000u);
  EXPECT_EQ(headers.size(), 2u);
}

TEST(FitDeadLetterTest, AnOversizeValueIsCutWithItsSizeAndDigest) {
  std::string original(2'000'000, 'a');
  original[1'999'999] = 'b';  // differs from the other one only past the cut
  std::string other(2'000'000, 'a');
  std::string digests[2];
  for (int i = 0; i < 2; ++i) {
    std::string key = "u1";
    std::string value = i == 0 ? original : other;
    KafkaHeaders headers = RejectHeaders();
    EXPECT_TRUE(FitDeadLetter(&key, &value, &headers));
    EXPECT_LE(Bytes(key, value, headers), kDeadLetterMaxBytes);
    EXPECT_GT(value.size(), 900'000u) << "as much as fits is kept";
    EXPECT_EQ(value, original.substr(0, value.size()));
    EXPECT_EQ(key, "u1");
    EXPECT_EQ(HeaderOr(headers, kRejectReasonHeader), "message_too_large");
    EXPECT_EQ(HeaderOr(headers, kRejectOriginalBytesHeader), "2000000");
    digests[i] = HeaderOr(headers, kRejectDigestHeader);
    EXPECT_TRUE(std::regex_match(digests[i], std::regex("xxh3-64:[0-9a-f]{16}"))) << digests[i];
  }
  EXPECT_NE(digests[0], digests[1]) << "the digest covers the whole original value";
}

TEST(FitDeadLetterTest, HugeHeadersAndKeysAreCutToo) {
  std::string key(100'000, 'k');
  std::string value(10, 'v');
  KafkaHeaders headers;
  for (int i = 0; i < 20; ++i) headers.push_back({"h" + std::to_string(i), std::string(50'000, 'h')});
  for (const auto& h : RejectHeaders()) headers.push_back(h);
  EXPECT_TRUE(FitDeadLetter(&key, &value, &headers));
  EXPECT_LE(Bytes(key, value, headers), kDeadLetterMaxBytes);
  EXPECT_EQ(key.size(), 16u * 1024);
  EXPECT_EQ(value, std::string(10, 'v')) << "a small value stays whole";
  EXPECT_EQ(HeaderOr(headers, kRejectReasonHeader), "message_too_large");
  EXPECT_EQ(HeaderOr(headers, "streamrec.reject.headers_dropped"), "20");
  EXPECT_EQ(HeaderOr(headers, "h0"), "");
}

}  // namespace
}  // namespace streamrec
