#include "apps/kafka_check.h"

#include <cstdio>

#include "apps/stop_signal.h"
#include "streams/broker_check.h"
#include "streams/kafka_properties.h"

namespace streamrec::apps {

int RequireKafka(const std::string& command, const Config& config, const std::string& brokers) {
  BrokerCheckOptions options;
  options.brokers = brokers;
  options.properties = KafkaPropertiesFromConfig(config);
  options.stop = [] { return StopRequested(); };
  std::string shown = brokers;
  if (shown.empty()) {
    auto it = options.properties.find("bootstrap.servers");
    if (it != options.properties.end()) shown = it->second;
  }
  options.on_slow = [&] {
    std::fprintf(stderr, "streamrec %s: waiting for Kafka at %s (up to %d s; Ctrl-C stops)\n",
                 command.c_str(), shown.c_str(), options.timeout_ms / 1000);
    std::fflush(stderr);
  };
  const Status st = WaitForBrokers(options);
  if (st.ok()) return 0;
  std::fprintf(stderr, "streamrec %s: %s\n", command.c_str(), st.message().c_str());
  if (StopRequested()) return kInterruptedExitCode;
  return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

}  // namespace streamrec::apps
