#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace streamrec {

// Source of wall-clock time in epoch milliseconds. Event-time logic never uses it; it
// drives flush intervals, punctuation and timeouts. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() const = 0;
};

// The system's real-time clock.
std::unique_ptr<Clock> NewSystemClock();
// A process-wide system clock, for code that has no Clock injected.
const Clock& SystemClock();

// A clock that moves only when told; for tests and test drivers.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_millis = 0) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t millis) { now_.fetch_add(millis); }
  void Set(int64_t millis) { now_.store(millis); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace streamrec
