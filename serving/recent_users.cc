#include "serving/recent_users.h"

#include <algorithm>

namespace streamrec::serving {

void RecentUsers::Add(std::string_view user_id) {
  if (capacity_ == 0 || user_id.empty()) return;
  MutexLock lock(&mu_);
  if (!users_.empty() && users_.front() == user_id) return;  // a session's next click
  auto it = std::find(users_.begin(), users_.end(), user_id);
  if (it != users_.end()) users_.erase(it);
  users_.emplace_front(user_id);
  if (users_.size() > capacity_) users_.pop_back();
}

std::vector<std::string> RecentUsers::Get(size_t max) const {
  MutexLock lock(&mu_);
  const size_t n = std::min(max, users_.size());
  return std::vector<std::string>(users_.begin(), users_.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace streamrec::serving
