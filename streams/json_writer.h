#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace streamrec {

// Appends `s` as a JSON string literal (quoted, escaped per RFC 8259; bytes >= 0x80 are
// copied as they are, so valid UTF-8 stays valid). Thread-safe (pure function).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace streamrec
