#include "runtime/stored_offset_check.h"

#include "core/id_hash.h"

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

state::RecordIdentity IdentifyRecord(const Record& record) {
  state::RecordIdentity id;
  id.offset = record.offset;
  id.timestamp_ms = record.timestamp_ms;
  // A null key and an empty one hash alike: the offset and timestamp are compared too.
  id.digest = HashId(record.key) ^ (HashId(record.value) * 0x9e3779b97f4a7c15ULL);
  return id;
}

StoredOffsetVerdict CheckLastRecord(const StoredOffsetCheck& c, const state::RecordIdentity& last,
                                    const std::optional<state::RecordIdentity>& found) {
  StoredOffsetVerdict v;
  const std::string where = c.topic + ":" + std::to_string(c.partition);
  const std::string at = where + "@" + std::to_string(last.offset);
  if (!found) {
    v.warning = "[" + c.stage + "] " + at + ": the last record the stored state applied could not be read back, so "
                "whether the topic was recreated is not checked";
    return v;
  }
  if (found->offset != last.offset) {
    v.warning = "[" + c.stage + "] " + at + ": the last record the stored state applied is no longer in the log "
                "(compaction or retention removed it; the next one is at offset " + std::to_string(found->offset) +
                "), so whether the topic was recreated is not checked";
    return v;
  }
  if (found->timestamp_ms == last.timestamp_ms && found->digest == last.digest) return v;
  std::string differs;
  if (found->timestamp_ms != last.timestamp_ms) {
    differs = "timestamp " + std::to_string(found->timestamp_ms) + " where it applied " +
              std::to_string(last.timestamp_ms);
  }
  if (found->digest != last.digest) differs += std::string(differs.empty() ? "" : ", ") + "another key or value";
  std::string message = where + ": the stored position (next offset " + std::to_string(c.stored) +
                        (c.state.empty() ? "" : ", in " + c.state) + ") is within the partition's log (end offset " +
                        std::to_string(c.high) + "), but the record at offset " + std::to_string(last.offset) +
                        " is not the one this state applied last (" + differs +
                        "): the topic was deleted and recreated, or the broker was reset, after this state was "
                        "written, so its offsets name other records. Not starting (the new records up to offset " +
                        std::to_string(c.stored) + " would be skipped).";
  if (!c.start_over.empty()) message += " To start over from what the broker holds now: " + c.start_over + ".";
  v.error = Status::FailedPrecondition(message);
  return v;
}

}  // namespace streamrec::runtime
