#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/status.h"


namespace streamrec {

// The process-wide Prometheus registry every component registers its metric families in
// (names follow DESIGN §8: streamrec_<subsystem>_<what>_<unit>). prometheus-cpp metric
// objects are thread-safe; families are created at start-up.
std::shared_ptr<prometheus::Registry> MetricsRegistry();

// The registry's current contents in Prometheus text exposition format (for /metrics
// served by our own HTTP API).
std::string SerializeMetrics();

// Serves the registry on http://`bind_address`/metrics (e.g. "127.0.0.1:9464", port 0
// picks a free one) until the returned Exposer is destroyed. `bound_port` receives the
// port actually bound.
Result<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(const std::string& bind_address,
                                                                 int* bound_port);

// Default latency buckets in seconds, from 100 µs to 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

}  // namespace streamrec
