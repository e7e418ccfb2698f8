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

}  // namespace
}  // namespace streamrec
