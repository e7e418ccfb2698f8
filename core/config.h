#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec {

// The process configuration: one YAML document, overridable by `key.path=value` flags.
// Keys are dotted paths ("operators.window.size"). Component Options structs are built
// from it once at start-up; the Config itself is not consulted on hot paths.
// Thread-compatible (build it on one thread, then share it const).
class Config {
 public:
  Config();
  ~Config();
  Config(const Config&);
  Config& operator=(const Config&);

  // Parses YAML text. The top level must be a mapping (or empty).
  static Result<Config> FromYamlString(std::string_view yaml);
  // Reads and parses a YAML file; the error names the file.
  static Result<Config> FromFile(const std::string& path);

  // Sets `dotted.key` to a scalar (YAML-typed: "3" reads back as int, "true" as bool).
  Status Set(std::string_view dotted_key, std::string_view value);
  // Applies "key=value" overrides in order; the first malformed one is an error.
  Status ApplyOverrides(const std::vector<std::string>& overrides);

  bool Has(std::string_view dotted_key) const;

  // Typed getters: the default when the key is absent; an error when present but of the
  // wrong type (for example a string where a number is expected).
  Result<std::string> GetString(std::string_view key, std::string_view def) const;
  Result<int64_t> GetInt(std::string_view key, int64_t def) const;
  Result<double> GetDouble(std::string_view key, double def) const;
  Result<bool> GetBool(std::string_view key, bool def) const;

  // Every scalar under the mapping at `prefix`, flattened to "a.b.c" -> "value" (keys
  // relative to the prefix). Used for librdkafka properties under `kafka:` which pass
  // through verbatim ("kafka.security.protocol: SASL_SSL").
  std::map<std::string, std::string> Flatten(std::string_view prefix) const;

  // The whole tree as YAML, for `--print-config`.
  std::string ToYaml() const;

 private:
  struct Rep;
  Rep* rep_;
};

}  // namespace streamrec
