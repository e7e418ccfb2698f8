#pragma once

#include <string_view>

namespace streamrec {

// Names the steps of a process's shutdown that are running, so that a shutdown cut
// short (apps/stop_signal.h: 30 s after the stop signal) can say which step it was
// waiting for ("still stopping: stage trainer"). Without it, an intermittent hang of
// `streamrec run` with its broker gone left nothing to tell the stages apart.
//
// A ShutdownStep marks its step as running for its lifetime (RAII). Up to
// kMaxShutdownSteps run at once are named (further ones are not); a name is cut to
// kMaxShutdownStepName bytes. Thread-safe: any thread may create and destroy steps.
class ShutdownStep {
 public:
  static constexpr int kMaxShutdownSteps = 16;
  static constexpr int kMaxShutdownStepName = 47;

  explicit ShutdownStep(std::string_view name);
  ~ShutdownStep();
  ShutdownStep(const ShutdownStep&) = delete;
  ShutdownStep& operator=(const ShutdownStep&) = delete;

 private:
  int slot_ = -1;  // -1: every slot was taken, not named
};

// Writes the names of the running steps to `fd`, separated by ", ", and returns how
// many. Async-signal-safe (only atomics and write(2)): for a signal handler.
int WriteShutdownSteps(int fd);

}  // namespace streamrec
