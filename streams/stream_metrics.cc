#include "streams/stream_metrics.h"

#include "core/metrics.h"

namespace streamrec {

prometheus::Family<prometheus::Counter>& EventsConsumedFamily() {
  static auto& family = prometheus::BuildCounter()
                            .Name("streamrec_events_consumed_total")
                            .Help("Kafka messages consumed, by stage and topic")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Counter>& EventsProducedFamily() {
  static auto& family = prometheus::BuildCounter()
                            .Name("streamrec_events_produced_total")
                            .Help("Kafka messages delivered (acknowledged by the broker), by topic")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Counter>& ProduceErrorsFamily() {
  static auto& family = prometheus::BuildCounter()
                            .Name("streamrec_produce_errors_total")
                            .Help("Kafka messages whose delivery failed permanently, by topic")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Gauge>& ConsumerLagFamily() {
  static auto& family = prometheus::BuildGauge()
                            .Name("streamrec_consumer_lag")
                            .Help("High watermark minus the next offset to consume")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Gauge>& ConsumerBehindSecondsFamily() {
  static auto& family = prometheus::BuildGauge()
                            .Name("streamrec_consumer_behind_seconds")
                            .Help("Seconds since the partition's consumer lag was last 0 (0 while "
                                  "caught up)")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Counter>& EventsRejectedFamily() {
  static auto& family = prometheus::BuildCounter()
                            .Name("streamrec_events_rejected_total")
                            .Help("Input events rejected by validation, by reason")
                            .Register(*MetricsRegistry());
  return family;
}

prometheus::Family<prometheus::Counter>& ConsumerRebalancesFamily() {
  static auto& family = prometheus::BuildCounter()
                            .Name("streamrec_consumer_rebalances_total")
                            .Help("Partition assignment changes seen by a consumer")
                            .Register(*MetricsRegistry());
  return family;
}

}  // namespace streamrec
