#pragma once

#include <map>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace streamrec {

// librdkafka client properties ("bootstrap.servers", "security.protocol", ...), passed
// verbatim to librdkafka so SASL/SSL and every tuning knob work as users expect.
using KafkaProperties = std::map<std::string, std::string>;

// Every scalar under `kafka:` in the config (Config::Flatten("kafka")).
KafkaProperties KafkaPropertiesFromConfig(const Config& config);

// The bootstrap servers to use: `brokers_flag` when non-empty, else
// `kafka.bootstrap.servers` from the config, else "" (the caller decides).
std::string ResolveBrokers(const Config& config, const std::string& brokers_flag);

// Writes `servers` and a newline to `path` atomically (temp file + rename), so a reader
// polling for the file never sees half an address.
Status WriteBootstrapFile(const std::string& path, const std::string& servers);
// Reads the first line of a file written by WriteBootstrapFile (`streamrec broker
// --bootstrap-file`); an error names the file.
Result<std::string> ReadBootstrapFile(const std::string& path);

// The bootstrap servers a command-line tool must have: ResolveBrokers(), else the
// address in `bootstrap_file` when given; InvalidArgument naming every way to pass them
// when there is none.
Result<std::string> RequireBrokers(const Config& config, const std::string& brokers_flag,
                                   const std::string& bootstrap_file);

}  // namespace streamrec
