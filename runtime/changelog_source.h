#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "core/status.h"
#include "state/changelog.h"

namespace streamrec::runtime {

// Read access to one stage's changelog topic (state/changelog.h), by partition: what a
// StreamTask needs to restore or check its store. The StageRunner's implementation reads
// Kafka (a group-less consumer); tests may use an in-memory log. Task thread only.
class ChangelogSource {
 public:
  virtual ~ChangelogSource() = default;
  // The changelog topic, for messages.
  virtual const std::string& topic() const = 0;
  // Low and high watermarks of the partition.
  virtual Result<std::pair<int64_t, int64_t>> Watermarks(int32_t partition) = 0;
  // Calls `fn` for every record of [from, to), in offset order; the first non-OK Status
  // (of `fn` or of the read) ends the read and is returned.
  virtual Status Read(int32_t partition, int64_t from, int64_t to,
                      const std::function<Status(const state::ChangelogEntry&)>& fn) = 0;
};

}  // namespace streamrec::runtime
