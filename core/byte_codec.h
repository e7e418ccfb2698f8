#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace streamrec {

// The one binary value codec of the project: internal topic records (core/records.h),
// state store values (state/, operators/) and snapshot files (training/) are all written
// with ByteWriter and read back with ByteReader. Fixed-width values are little-endian
// (memcpy: every supported host is little-endian, asserted below); strings are a u32
// length followed by the bytes. Formats put a version byte or a magic first, so a reader
// rejects what it cannot understand. Thread-compatible.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "wire formats assume little-endian");

class ByteWriter {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  void PutBytes(const void* data, size_t n) { out_.append(static_cast<const char*>(data), n); }

  size_t size() const { return out_.size(); }
  std::string& buffer() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Bounds-checked reader: every getter returns false and consumes nothing when the input
// is too short (or a string is longer than `max_bytes`), so corrupt lengths never
// allocate or read past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  template <typename T>
  bool Get(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return GetBytes(v, sizeof(T));
  }
  bool GetString(std::string* s, uint32_t max_bytes = 1u << 20) {
    uint32_t n = 0;
    std::string_view rest = in_;
    if (!Get(&n) || n > max_bytes || in_.size() < n) {
      in_ = rest;
      return false;
    }
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool GetBytes(void* out, size_t n) {
    if (in_.size() < n) return false;
    std::memcpy(out, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }

  size_t remaining() const { return in_.size(); }
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace streamrec
