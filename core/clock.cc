#include "core/clock.h"

#include <chrono>

namespace streamrec {
namespace {

class RealClock : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

std::unique_ptr<Clock> NewSystemClock() { return std::make_unique<RealClock>(); }

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace streamrec
