#include "apps/stop_signal.h"

#include <csignal>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/shutdown_steps.h"

namespace streamrec::apps {
namespace {

std::atomic<int> g_signals{0};

// The last resort of the shutdown bound (kShutdownBoundSeconds, in the message below):
// every stop path is bounded on its own (Kafka closes and flushes by
// StageRunnerOptions::shutdown_timeout_ms, 5 s), so this fires only
// when something still hangs (a peer paused mid-request, a stuck disk). State and offsets
// are then those of the last commit, as after a crash, which every stage recovers from.
extern "C" void OnShutdownBound(int) {
  static const char kMessage[] =
      "streamrec: the shutdown did not finish within 30 s of the stop signal; exiting now "
      "(exit 1; state and offsets are those of the last commit)\n";
  ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  // Which steps it was waiting for (core/shutdown_steps.h).
  static const char kSteps[] = "streamrec: still stopping: ";
  ignored = ::write(STDERR_FILENO, kSteps, sizeof(kSteps) - 1);
  if (WriteShutdownSteps(STDERR_FILENO) == 0) {
    static const char kNone[] = "(no step named)";
    ignored = ::write(STDERR_FILENO, kNone, sizeof(kNone) - 1);
  }
  ignored = ::write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  _exit(1);
}

extern "C" void OnStopSignal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);
  alarm(kShutdownBoundSeconds);  // async-signal-safe
}

}  // namespace

void InstallStopSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  struct sigaction bound {};
  bound.sa_handler = OnShutdownBound;
  sigemptyset(&bound.sa_mask);
  sigaction(SIGALRM, &bound, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_signals.load() > 0; }

void RequestStop() { g_signals.fetch_add(1); }

bool WaitForStop(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!StopRequested()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace streamrec::apps
