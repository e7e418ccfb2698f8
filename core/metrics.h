#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
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

// The registry's current contents in Prometheus text exposition format (/metrics of
// http/metrics_server.h and of the serving HTTP API).
std::string SerializeMetrics();

// Default latency buckets in seconds, from 100 µs to 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// One owner's share of a gauge that several owners of the process add to (e.g. each
// task's or table's bytes in a process-wide bytes gauge): Set() moves the share, the
// destructor takes it back. Used by one thread at a time (the owner's).
class GaugeShare {
 public:
  explicit GaugeShare(prometheus::Gauge* gauge) : gauge_(gauge) {}
  ~GaugeShare() { gauge_->Decrement(reported_); }
  GaugeShare(const GaugeShare&) = delete;
  GaugeShare& operator=(const GaugeShare&) = delete;

  void Set(double value) {
    gauge_->Increment(value - reported_);
    reported_ = value;
  }

 private:
  prometheus::Gauge* gauge_;
  double reported_ = 0;
};

}  // namespace streamrec
