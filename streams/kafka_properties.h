#pragma once

#include <map>
#include <string>

#include "core/config.h"

namespace streamrec {

// librdkafka client properties ("bootstrap.servers", "security.protocol", ...), passed
// verbatim to librdkafka so SASL/SSL and every tuning knob work as users expect.
using KafkaProperties = std::map<std::string, std::string>;

// Every scalar under `kafka:` in the config (Config::Flatten("kafka")).
KafkaProperties KafkaPropertiesFromConfig(const Config& config);

// The bootstrap servers to use: `brokers_flag` when non-empty, else
// `kafka.bootstrap.servers` from the config, else "" (the caller decides).
std::string ResolveBrokers(const Config& config, const std::string& brokers_flag);

}  // namespace streamrec
