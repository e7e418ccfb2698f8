#include "serving/rec_json.h"

#include <cmath>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/json_writer.h"

namespace streamrec::serving {
namespace {

TEST(JsonWriterTest, EscapesAndSeparates) {
  JsonWriter w;
  w.BeginObject().Key("a").String("q\"\\\n\x01").Key("b").BeginArray().Int(1).Double(0.5).Bool(true)
      .Null().Double(std::nan("")).EndArray().EndObject();
  EXPECT_EQ(w.str(), R"({"a":"q\"\\\n\u0001","b":[1,0.5,true,null,null]})");
}

TEST(ParseRecRequestTest, ParsesAndDefaults) {
  RecRequestLimits limits;
  auto r = ParseRecRequest(R"({"request_id":"r1","user_id":"u1","k":5,"extra":[1]})", limits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->request_id, "r1");
  EXPECT_EQ(r->user_id, "u1");
  EXPECT_EQ(r->k, 5);
  r = ParseRecRequest(R"({"request_id":42,"user_id":"u1"})", limits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->request_id, "42");
  EXPECT_EQ(r->k, 20);
}

TEST(ParseRecRequestTest, ClearErrors) {
  RecRequestLimits limits;
  limits.max_k = 100;
  auto msg = [&](const std::string& json) { return ParseRecRequest(json, limits).status().message(); };
  EXPECT_EQ(msg("{nope"), "request is not valid JSON");
  EXPECT_EQ(msg("[]"), "request is not a JSON object");
  EXPECT_EQ(msg(R"({"k":3})"), "request has no user_id");
  EXPECT_EQ(msg(R"({"user_id":3})"), "user_id must be a string");
  EXPECT_EQ(msg(R"({"user_id":""})"), "user_id is empty");
  EXPECT_EQ(msg(R"({"user_id":"u","k":0})"), "k must be positive, got 0");
  EXPECT_EQ(msg(R"({"user_id":"u","k":-4})"), "k must be positive, got -4");
  EXPECT_EQ(msg(R"({"user_id":"u","k":101})"), "k is 101, the limit is 100");
  EXPECT_EQ(msg(R"({"user_id":"u","k":18446744073709551615})"),
            "k is 18446744073709551615, the limit is 100");
  EXPECT_EQ(msg(R"({"user_id":"u","k":2.5})"), "k must be an integer");
  EXPECT_EQ(msg(R"({"user_id":"u","k":"5"})"), "k must be an integer");
  EXPECT_EQ(ParseRecRequest(R"({"user_id":"u"})", limits).status().code(), Status::Code::kOk);
  // What was read before the error names the request in the error answer.
  RecRequest partial;
  EXPECT_FALSE(ParseRecRequest(R"({"request_id":"r7","user_id":"u2","k":0})", limits, &partial).ok());
  EXPECT_EQ(partial.request_id, "r7");
  EXPECT_EQ(partial.user_id, "u2");
}

TEST(ParseKTest, TextForms) {
  RecRequestLimits limits;
  EXPECT_EQ(*ParseK("", limits), 20);
  EXPECT_EQ(*ParseK("7", limits), 7);
  EXPECT_EQ(ParseK("0", limits).status().message(), "k must be positive, got 0");
  EXPECT_EQ(ParseK("abc", limits).status().message(), "k must be an integer, got 'abc'");
  EXPECT_EQ(ParseK("5x", limits).status().message(), "k must be an integer, got '5x'");
  EXPECT_EQ(ParseK("1001", limits).status().message(), "k is 1001, the limit is 1000");
  EXPECT_EQ(ParseK("99999999999999999999", limits).status().message(),
            "k is out of range: '99999999999999999999'");
}

TEST(RecResponseTest, EncodesAndDecodes) {
  RecResponse r;
  r.request_id = "r1";
  r.user_id = "u1";
  r.model_version = 3;
  r.items.push_back({HashId("b"), "b", 1.25, kChannelCooc | kChannelTwoTower});
  r.items.push_back({HashId("f"), "f", 0.1, kChannelPopular});
  const std::string json = EncodeRecResponse(r);
  EXPECT_EQ(json,
            R"({"request_id":"r1","user_id":"u1","model_version":3,"cold_start":false,"items":[)"
            R"({"item_id":"b","score":1.25,"sources":["cooc","two_tower"]},)"
            R"({"item_id":"f","score":0.1,"sources":["popular"]}]})");
  auto decoded = DecodeRecResponse(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->response.request_id, "r1");
  EXPECT_EQ(decoded->response.model_version, 3);
  EXPECT_EQ(decoded->response.items, r.items);
  EXPECT_EQ(decoded->sources[0], (std::vector<std::string>{"cooc", "two_tower"}));
}

TEST(RecResponseTest, ErrorObject) {
  EXPECT_EQ(EncodeErrorResponse(Status::InvalidArgument("k must be positive, got 0"), "r9", "u1"),
            R"({"request_id":"r9","user_id":"u1","error":{"code":"invalid_argument",)"
            R"("message":"k must be positive, got 0"}})");
  EXPECT_EQ(EncodeErrorResponse(Status::NotFound("x")),
            R"({"error":{"code":"not_found","message":"x"}})");
  EXPECT_EQ(ErrorCodeName(Status::Code::kFailedPrecondition), "failed_precondition");
  EXPECT_FALSE(DecodeRecResponse(EncodeErrorResponse(Status::NotFound("x"))).ok());
}

}  // namespace
}  // namespace streamrec::serving
