#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace streamrec::state {

// Key encodings of the stores (values use core/byte_codec.h): big-endian integers in keys so that RocksDB's bytewise order equals numeric order
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

}  // namespace streamrec::state
