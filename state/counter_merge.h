#pragma once

#include <string>
#include <string_view>

namespace streamrec::state {

// The arithmetic of the counter merge operator, separate from RocksDB for testing: a
// counter is a vector of little-endian doubles; merging adds element-wise (a shorter
// vector is padded with zeros). `existing` may be null (absent key). Returns false (and
// leaves `out` unspecified) when an operand is not a whole number of doubles. Never
// throws. Associative and commutative, so RocksDB may combine operands in any grouping.
bool AddCounters(const std::string_view* existing, std::string_view operand, std::string* out);

}  // namespace streamrec::state
