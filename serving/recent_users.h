#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_annotations.h"

namespace streamrec::serving {

// The distinct users whose clicks serving applied most recently, newest first: the
// storefront's user picker (GET /v1/users/recent) offers them. Bounded; an Add is a lock
// and at most `capacity` comparisons. Thread-safe: the request stage adds, HTTP workers
// read.
class RecentUsers {
 public:
  explicit RecentUsers(size_t capacity = 32) : capacity_(capacity) {}

  void Add(std::string_view user_id);
  // At most `max` ids, newest first.
  std::vector<std::string> Get(size_t max) const;

 private:
  const size_t capacity_;
  mutable Mutex mu_;
  std::deque<std::string> users_ GUARDED_BY(mu_);  // newest first, distinct
};

}  // namespace streamrec::serving
