#include "core/status.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status st = Status::InvalidArgument("bad k");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.ToString(), "InvalidArgument: bad k");
  EXPECT_EQ(st.WithContext("parsing").message(), "parsing: bad k");
  EXPECT_EQ(Status::Ok().WithContext("x").ToString(), "OK");
}

Status FailsThenNot(bool fail) {
  STREAMREC_RETURN_IF_ERROR(fail ? Status::NotFound("gone") : Status::Ok());
  return Status::AlreadyExists("reached");
}

TEST(StatusTest, ReturnIfError) {
  EXPECT_EQ(FailsThenNot(true).code(), Status::Code::kNotFound);
  EXPECT_EQ(FailsThenNot(false).code(), Status::Code::kAlreadyExists);
}

TEST(ResultTest, ValueOrStatus) {
  Result<int> r = 7;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
  Result<int> e = Status::Corruption("crc");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Status::Code::kCorruption);
  // An OK status is not a value: it becomes an internal error rather than a silent success.
  Result<int> bad = Status::Ok();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInternal);
}

}  // namespace
}  // namespace streamrec
