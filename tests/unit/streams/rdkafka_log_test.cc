// librdkafka's log lines go through spdlog in our format, at levels mapped from syslog's.
#include "streams/rdkafka_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

namespace streamrec::internal {
namespace {

class RdKafkaLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(RdKafkaLogTest, ErrorsAreWarningsInOurFormatAndChatterIsDebug) {
  LogRdKafkaLine(3, "rdkafka#producer-1", "FAIL", "127.0.0.1:1/bootstrap: Connect failed: Connection refused");
  LogRdKafkaLine(4, "producer", "CONFWARN", "property ignored");
  LogRdKafkaLine(7, "producer", "METADATA", "chatter");
  LogRdKafkaLine(6, "producer", "INFO", "more chatter");
  const std::string text = out_.str();
  EXPECT_NE(text.find("warning [kafka rdkafka#producer-1] FAIL: 127.0.0.1:1/bootstrap: Connect failed"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("info [kafka producer] CONFWARN: property ignored"), std::string::npos) << text;
  EXPECT_EQ(text.find("chatter"), std::string::npos) << "debug and trace are below the logger's level: " << text;
  EXPECT_EQ(text.find("%3|"), std::string::npos) << "not librdkafka's own format";
}

}  // namespace
}  // namespace streamrec::internal
