#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streamrec {

// The one JSON writer of the project (HTTP answers, the `recommendations`, `clicks` and
// `items` values, snapshot manifests, reports). Output is always valid JSON and valid
// UTF-8: strings are escaped per RFC 8259 and any byte sequence that is not valid UTF-8
// is written as U+FFFD, so untrusted input echoed in an error cannot break a client's
// parser.

// Appends `s` as a JSON string literal, quotes included.
void AppendJsonString(std::string* out, std::string_view s);
// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

// Appends JSON text to a string, inserting commas between members and elements. The
// caller keeps Begin/End calls balanced and calls Key() before each value inside an
// object. Non-finite doubles are written as null. Thread-compatible.
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

}  // namespace streamrec
