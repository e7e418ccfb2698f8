#include "streams/rdkafka_log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

namespace streamrec::internal {
namespace {

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  LogRdKafkaLine(level, rk != nullptr ? rd_kafka_name(rk) : "rdkafka", facility != nullptr ? facility : "",
                 message != nullptr ? message : "");
}

}  // namespace

void LogRdKafkaLine(int syslog_level, std::string_view client, std::string_view facility,
                    std::string_view message) noexcept {
  try {
    spdlog::level::level_enum level = spdlog::level::trace;
    if (syslog_level <= 3) {
      level = spdlog::level::warn;
    } else if (syslog_level == 4) {
      level = spdlog::level::info;
    } else if (syslog_level <= 6) {
      level = spdlog::level::debug;
    }
    spdlog::log(level, "[kafka {}] {}: {}", client, facility, message);
  } catch (...) {
    // Logging must never throw into librdkafka.
  }
}

void RouteRdKafkaLogs(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, LogCallback); }

}  // namespace streamrec::internal
