#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace streamrec::training {

// A flat JSON object of scalars (string, number, bool): the shape of snapshot manifests
// and model announcements. Not a general JSON library: nesting is rejected.
// Thread-compatible.
class FlatJson {
 public:
  void SetString(const std::string& key, const std::string& value);
  void SetInt(const std::string& key, int64_t value);
  void SetDouble(const std::string& key, double value);
  void SetBool(const std::string& key, bool value);

  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  Result<std::string> GetString(const std::string& key) const;
  Result<int64_t> GetInt(const std::string& key) const;
  Result<double> GetDouble(const std::string& key) const;
  Result<bool> GetBool(const std::string& key) const;

  // One line, keys sorted.
  std::string Serialize() const;
  static Result<FlatJson> Parse(std::string_view text);

 private:
  struct Value {
    enum class Kind { kString, kNumber, kBool } kind;
    std::string text;  // the string's content, or the number / bool literal
  };
  std::map<std::string, Value> values_;
};

}  // namespace streamrec::training
