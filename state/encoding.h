#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace streamrec::state {

// Byte encodings shared by every store: little-endian fixed-width values, and
// big-endian integers in keys so that RocksDB's bytewise order equals numeric order
// (prefix scans over "item|neighbour" keys). The build targets little-endian hosts.
// Pure functions; thread-safe.

inline void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  out->append(buf, 8);
}
inline void PutFixed32(std::string* out, uint32_t v) {
  char buf[4];
  std::memcpy(buf, &v, 4);
  out->append(buf, 4);
}
inline void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutFixed64(out, bits);
}
inline void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
inline uint64_t DecodeBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline double DecodeDouble(const char* p) {
  double v;
  std::memcpy(&v, p, 8);
  return v;
}

// An 8-byte big-endian key for a 64-bit id.
inline std::string Key64(uint64_t id) {
  std::string k;
  k.reserve(8);
  PutBigEndian64(&k, id);
  return k;
}
// A 16-byte key (a, b): all keys of `a` are contiguous and sorted by b.
inline std::string Key64Pair(uint64_t a, uint64_t b) {
  std::string k;
  k.reserve(16);
  PutBigEndian64(&k, a);
  PutBigEndian64(&k, b);
  return k;
}

// Sequential writer of a value encoding. Thread-compatible.
class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { PutFixed32(&out_, v); }
  void U64(uint64_t v) { PutFixed64(&out_, v); }
  void I64(int64_t v) { PutFixed64(&out_, static_cast<uint64_t>(v)); }
  void F64(double v) { PutDouble(&out_, v); }
  void F32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    PutFixed32(&out_, bits);
  }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  size_t size() const { return out_.size(); }
  std::string& buffer() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Sequential reader; every getter returns false (and reads nothing) past the end.
// Thread-compatible.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool I64(int64_t* v) { return Raw(v, 8); }
  bool F64(double* v) { return Raw(v, 8); }
  bool F32(float* v) { return Raw(v, 4); }
  bool Str(std::string* s, uint32_t max_bytes = 1 << 20) {
    uint32_t n = 0;
    if (!U32(&n) || n > max_bytes || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return in_.size(); }
  bool done() const { return in_.empty(); }

 private:
  bool Raw(void* v, size_t n) {
    if (in_.size() < n) return false;
    std::memcpy(v, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view in_;
};

}  // namespace streamrec::state
