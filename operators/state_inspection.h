#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "operators/batch_view.h"

namespace streamrec::operators {

// Reads the co-occurrence state of a STOPPED item stage: opens <state_dir>/item-<p> for
// p in [0, num_partitions) read-only and collects every pair count (each pair lives in
// the partition of its first item) and the item counts of the items each partition owns
// (every partition holds all counts; the owner's are the ones compared). The result has
// the shape of ComputeBatchView's, for exact comparison. A partition directory that does
// not exist counts as empty. Top-K lists are read too (those of owned items).
Result<BatchView> ReadItemStageState(const std::string& state_dir, int32_t num_partitions);

}  // namespace streamrec::operators
