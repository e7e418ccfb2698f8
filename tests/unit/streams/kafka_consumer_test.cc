#include "streams/kafka_consumer.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

// A consumer's prefetch is bounded unless the user's `kafka:` properties say otherwise
// (librdkafka's own 64 MiB a partition let a lagging trainer's memory grow with its lag);
// what the consumer always sets cannot be overridden.
TEST(ConsumerPropertiesTest, BoundsThePrefetchUnlessTheUserSetsIt) {
  ConsumerOptions options;
  options.brokers = "127.0.0.1:9092";
  KafkaProperties props = ConsumerProperties(options, "g");
  EXPECT_EQ(props.at("queued.max.messages.kbytes"), "16384");
  EXPECT_EQ(props.at("queued.min.messages"), "20000");
  EXPECT_EQ(props.at("bootstrap.servers"), "127.0.0.1:9092");
  EXPECT_EQ(props.at("group.id"), "g");

  options.properties = {{"queued.max.messages.kbytes", "65536"},
                        {"enable.auto.commit", "true"},
                        {"group.id", "theirs"}};
  props = ConsumerProperties(options, "g");
  EXPECT_EQ(props.at("queued.max.messages.kbytes"), "65536");
  EXPECT_EQ(props.at("queued.min.messages"), "20000");
  EXPECT_EQ(props.at("enable.auto.commit"), "false");
  EXPECT_EQ(props.at("group.id"), "g");

  options.properties.clear();
  options.prefetch_kbytes = 0;
  options.prefetch_messages = 0;
  props = ConsumerProperties(options, "g");
  EXPECT_EQ(props.count("queued.max.messages.kbytes"), 0u);  // librdkafka's default
  EXPECT_EQ(props.count("queued.min.messages"), 0u);
}

}  // namespace
}  // namespace streamrec
