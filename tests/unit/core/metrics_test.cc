#include "core/metrics.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TEST(MetricsTest, SerializesRegisteredFamilies) {
  auto& family = prometheus::BuildCounter()
                     .Name("streamrec_test_things_total")
                     .Help("things counted by the metrics test")
                     .Register(*MetricsRegistry());
  family.Add({{"reason", "x"}}).Increment(3);
  const std::string text = SerializeMetrics();
  EXPECT_NE(text.find("streamrec_test_things_total{reason=\"x\"} 3"), std::string::npos) << text;
}

TEST(MetricsTest, ExposerBindsLoopbackPort) {
  int port = 0;
  auto exposer = StartMetricsExposer("127.0.0.1:0", &port);
  ASSERT_TRUE(exposer.ok()) << exposer.status().ToString();
  EXPECT_GT(port, 0);
}

TEST(MetricsTest, ExposerReportsBadAddress) {
  auto exposer = StartMetricsExposer("256.1.1.1:notaport", nullptr);
  EXPECT_FALSE(exposer.ok());
}

}  // namespace
}  // namespace streamrec
