#include "core/metrics.h"

#include <prometheus/text_serializer.h>

#include "core/heap_settings.h"

namespace streamrec {

std::shared_ptr<prometheus::Registry> MetricsRegistry() {
  static const auto registry = std::make_shared<prometheus::Registry>();
  return registry;
}

std::string SerializeMetrics() {
  RefreshHeapGauges();
  return prometheus::TextSerializer().Serialize(MetricsRegistry()->Collect());
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,   10.0};
}

}  // namespace streamrec
