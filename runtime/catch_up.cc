#include "runtime/catch_up.h"

#include <algorithm>

namespace streamrec::runtime {

void CatchUpTracker::Expect(const std::string& topic, int32_t partition, int64_t position, int64_t low,
                            int64_t end) {
  MutexLock lock(&mu_);
  const auto key = std::make_pair(topic, partition);
  // An empty partition (or one whose records retention removed) has nothing to read; a
  // known position at or beyond the end has read it all.
  if (end <= low || (position >= 0 && position >= end)) {
    behind_.erase(key);
  } else {
    behind_[key] = Progress{position >= 0 ? position : -1, end};
  }
  UpdateCount();
}

void CatchUpTracker::Forget(const std::string& topic, int32_t partition) {
  MutexLock lock(&mu_);
  behind_.erase({topic, partition});
  UpdateCount();
}

void CatchUpTracker::OnRecords(const std::vector<Record>& records, size_t from) {
  if (behind_count_.load() == 0) return;
  MutexLock lock(&mu_);
  for (size_t i = from; i < records.size() && !behind_.empty(); ++i) {
    const Record& r = records[i];
    auto it = behind_.find({r.topic, r.partition});
    if (it == behind_.end()) continue;
    if (r.offset + 1 >= it->second.end) {
      behind_.erase(it);
    } else {
      it->second.position = std::max(it->second.position, r.offset + 1);
    }
  }
  UpdateCount();
}

void CatchUpTracker::OnPosition(const std::string& topic, int32_t partition, int64_t position) {
  if (position < 0 || behind_count_.load() == 0) return;
  MutexLock lock(&mu_);
  auto it = behind_.find({topic, partition});
  if (it == behind_.end()) return;
  if (position >= it->second.end) {
    behind_.erase(it);
  } else {
    it->second.position = std::max(it->second.position, position);
  }
  UpdateCount();
}

std::vector<TopicPartitionOffset> CatchUpTracker::Behind() const {
  MutexLock lock(&mu_);
  std::vector<TopicPartitionOffset> out;
  out.reserve(behind_.size());
  for (const auto& [tp, progress] : behind_) out.push_back({tp.first, tp.second, progress.end});
  return out;
}

Status CatchUpTracker::Readiness() const {
  if (!started_.load()) return Status::Unavailable(name_ + ": not started (waiting for its topics or a first partition assignment)");
  MutexLock lock(&mu_);
  if (behind_.empty()) return Status::Ok();
  std::string why = name_ + ": " + std::to_string(behind_.size()) +
                    " partition(s) not yet read to their end offsets as of start or assignment:";
  size_t listed = 0;
  for (const auto& [tp, progress] : behind_) {
    if (listed++ == 3) {
      why += ", ...";
      break;
    }
    why += (listed > 1 ? ", " : " ") + tp.first + ":" + std::to_string(tp.second) + " at " +
           (progress.position >= 0 ? std::to_string(progress.position) : std::string("?")) + " of " +
           std::to_string(progress.end);
  }
  return Status::Unavailable(why);
}

}  // namespace streamrec::runtime
