#include "runtime/stored_offset_check.h"

namespace streamrec::runtime {

StoredOffsetVerdict CheckStoredOffset(const StoredOffsetCheck& c) {
  StoredOffsetVerdict v;
  const std::string where = c.topic + ":" + std::to_string(c.partition);
  if (c.stored > c.high) {
    std::string message = where + ": the stored position (next offset " +
                          std::to_string(c.stored) + (c.state.empty() ? "" : ", in " + c.state) +
                          ") is beyond the partition's end offset " + std::to_string(c.high) +
                          " on the broker: the topic was deleted and recreated, or the broker was "
                          "reset, after this state was written, so its offsets name other records. "
                          "Not starting (its new records would be skipped).";
    if (!c.start_over.empty()) message += " To start over from what the broker holds now: " + c.start_over + ".";
    v.error = Status::FailedPrecondition(message);
    return v;
  }
  if (c.stored < c.low) {
    v.warning = "[" + c.stage + "] " + where + ": the stored position (next offset " + std::to_string(c.stored) +
                ") is below the partition's log start offset " + std::to_string(c.low) + ": " +
                std::to_string(c.low - c.stored) +
                " records were deleted by retention before this stage read them; reading resumes at " +
                std::to_string(c.low);
  }
  return v;
}

}  // namespace streamrec::runtime
