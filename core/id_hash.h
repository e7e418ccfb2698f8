#pragma once

#include <cstdint>
#include <string_view>

namespace streamrec {

// Stable 64-bit key of an external id (user, item, session): XXH3-64 of the UTF-8 bytes
// with a fixed seed, so the same id maps to the same key on every machine, build and run.
// Keys are used for partitioning-independent state keys; the original string is always
// kept beside the key for output. Thread-safe.
uint64_t HashId(std::string_view id);

// The seed is part of the on-disk format: changing it invalidates every store.
inline constexpr uint64_t kIdHashSeed = 0x5354524d52454331ULL;  // "STRMREC1"

}  // namespace streamrec
