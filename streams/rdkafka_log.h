#pragma once

#include <string_view>

typedef struct rd_kafka_conf_s rd_kafka_conf_t;

namespace streamrec::internal {

// librdkafka's log lines through our logger (spdlog, our format) instead of its own
// "%3|<ts>|FAIL|rdkafka#producer-1| ..." lines on stderr. Levels are syslog's: 0-3
// (errors: a broker down, a connection refused) log as warn, 4 as info, 5-6 as debug,
// 7 as trace. Thread-safe; called from librdkafka's threads, never throws.
void LogRdKafkaLine(int syslog_level, std::string_view client, std::string_view facility,
                    std::string_view message) noexcept;

// Sets `conf`'s log callback to LogRdKafkaLine (C API handles: topic admin, the
// embedded broker). The C++ clients route EVENT_LOG from their event callbacks.
void RouteRdKafkaLogs(rd_kafka_conf_t* conf);

}  // namespace streamrec::internal
