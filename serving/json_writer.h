#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec::serving {

// Appends JSON text to a string, inserting commas between members and elements. The
// caller is responsible for balanced Begin/End calls and for calling Key() before each
// value inside an object. Non-finite doubles are written as null. Thread-compatible.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open container: true while it has no member/element yet.
  std::vector<bool> first_;
  bool after_key_ = false;
};

// `value` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view value);

}  // namespace streamrec::serving
