#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

namespace streamrec {

// Metric families of streams/ (DESIGN §8), registered once in MetricsRegistry().
// prometheus-cpp metrics are thread-safe; callers cache the returned references.

// streamrec_events_consumed_total{stage,topic}: messages handed to the application.
prometheus::Family<prometheus::Counter>& EventsConsumedFamily();
// streamrec_events_produced_total{topic}: messages whose delivery the broker confirmed.
prometheus::Family<prometheus::Counter>& EventsProducedFamily();
// streamrec_produce_errors_total{topic}: messages whose delivery failed for good.
prometheus::Family<prometheus::Counter>& ProduceErrorsFamily();
// streamrec_consumer_lag{stage,topic,partition}: high watermark minus the next offset to
// read, after each fetch and every second (ConsumerOptions::lag_refresh_ms).
prometheus::Family<prometheus::Gauge>& ConsumerLagFamily();
// streamrec_consumer_behind_seconds{stage,topic,partition}: seconds since the partition's
// lag was last 0 (0 while caught up): every message appended that long ago has been
// read. The serving stage's is the freshness of its answers.
prometheus::Family<prometheus::Gauge>& ConsumerBehindSecondsFamily();
// streamrec_events_rejected_total{reason}: `clicks` messages that failed validation.
prometheus::Family<prometheus::Counter>& EventsRejectedFamily();
// streamrec_consumer_rebalances_total{stage,kind}: kind is assigned|revoked|lost.
prometheus::Family<prometheus::Counter>& ConsumerRebalancesFamily();

}  // namespace streamrec
