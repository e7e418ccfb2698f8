// Measures how much librdkafka's mock cluster (the embedded broker) keeps per partition:
// produces a multiple of the expected limit into one partition for several message sizes
// and reports the watermarks. Results: bench/RESULTS.md.
#include <cstdio>
#include <string>

#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"

int main() {
  using namespace streamrec;
  std::printf(
      "| value bytes | produced | low watermark | retained messages | retained value MB |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: |\n");
  for (int size : {35, 100, 210, 1000, 4000}) {
    EmbeddedBrokerOptions bo;
    bo.topics = {{"retention", 1, false}};
    auto broker = EmbeddedBroker::Start(bo);
    if (!broker.ok()) {
      std::fprintf(stderr, "%s\n", broker.status().ToString().c_str());
      return 1;
    }
    ProducerOptions po;
    po.brokers = (*broker)->bootstrap_servers();
    auto producer = KafkaProducer::Create(po);
    if (!producer.ok()) return 1;
    const int64_t n = (16LL << 20) / size;  // 16 MiB of values
    const std::string value(size, 'x');
    for (int64_t i = 0; i < n; ++i) {
      ProduceMessage m;
      m.topic = "retention";
      m.partition = 0;
      m.has_key = false;
      m.value = value;
      if (!(*producer)->Produce(m).ok()) return 1;
    }
    if (!(*producer)->Flush(120000).ok()) return 1;
    ConsumerOptions co;
    co.brokers = po.brokers;
    auto consumer = KafkaConsumer::Create(co);
    auto wm = (*consumer)->QueryWatermarks("retention", 0, 10000);
    if (!wm.ok()) return 1;
    const int64_t retained = wm->second - wm->first;
    std::printf("| %d | %lld | %lld | %lld | %.2f |\n", size, static_cast<long long>(n),
                static_cast<long long>(wm->first), static_cast<long long>(retained),
                retained * static_cast<double>(size) / (1 << 20));
    std::fflush(stdout);
  }
  return 0;
}
