#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "runtime/processor.h"

namespace streamrec::runtime {

// The punctuations a processor scheduled (ProcessorContext::Schedule), and when each is
// due: wall-clock ones by the clock's time, stream-time ones by the largest record
// timestamp seen. Shared by StreamTask and the runner's processor-managed context. Used
// by one processing thread.
class PunctuationSchedule {
 public:
  // `name` prefixes the context of a punctuator's error.
  explicit PunctuationSchedule(std::string name) : name_(std::move(name)) {}

  void Add(int64_t interval_ms, PunctuationType type, Punctuator punctuator) {
    entries_.push_back(Entry{interval_ms < 1 ? 1 : interval_ms, type, std::move(punctuator), -1});
  }

  // A record with this timestamp was processed: runs the stream-time punctuations it
  // made due, each at its own due time.
  Status OnRecordTime(int64_t timestamp_ms) {
    if (timestamp_ms <= stream_time_ms_) return Status::Ok();
    stream_time_ms_ = timestamp_ms;
    for (auto& e : entries_) {
      if (e.type != PunctuationType::kStreamTime) continue;
      if (e.next_ms < 0) e.next_ms = stream_time_ms_ + e.interval_ms;
      while (e.next_ms <= stream_time_ms_) {
        STREAMREC_RETURN_IF_ERROR(e.punctuator(e.next_ms).WithContext(name_ + " punctuation"));
        e.next_ms += e.interval_ms;
      }
    }
    return Status::Ok();
  }

  // Runs the wall-clock punctuations due at `now_ms` (the first is due one interval after
  // the first call).
  Status OnWallClock(int64_t now_ms) {
    for (auto& e : entries_) {
      if (e.type != PunctuationType::kWallClock) continue;
      if (e.next_ms < 0) e.next_ms = now_ms + e.interval_ms;
      if (now_ms >= e.next_ms) {
        e.next_ms = now_ms + e.interval_ms;
        STREAMREC_RETURN_IF_ERROR(e.punctuator(now_ms).WithContext(name_ + " punctuation"));
      }
    }
    return Status::Ok();
  }

 private:
  struct Entry {
    int64_t interval_ms;
    PunctuationType type;
    Punctuator punctuator;
    int64_t next_ms;  // -1: not started (stream time starts with the first record)
  };
  const std::string name_;
  std::vector<Entry> entries_;
  int64_t stream_time_ms_ = -1;
};

}  // namespace streamrec::runtime
