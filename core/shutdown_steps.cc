#include "core/shutdown_steps.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace streamrec {
namespace {

// A slot is free (0), being written or cleared (1), or names a running step (2). A
// reader (the signal handler) only reads names of slots in state 2.
enum SlotState : int { kFree = 0, kBusy = 1, kNamed = 2 };

struct StepSlot {
  std::atomic<int> state{kFree};
  char name[ShutdownStep::kMaxShutdownStepName + 1] = {};
};

StepSlot g_slots[ShutdownStep::kMaxShutdownSteps];

}  // namespace

ShutdownStep::ShutdownStep(std::string_view name) {
  for (int i = 0; i < kMaxShutdownSteps; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kBusy)) continue;
    const size_t n = std::min<size_t>(name.size(), kMaxShutdownStepName);
    std::memcpy(g_slots[i].name, name.data(), n);
    g_slots[i].name[n] = '\0';
    g_slots[i].state.store(kNamed, std::memory_order_release);
    slot_ = i;
    return;
  }
}

ShutdownStep::~ShutdownStep() {
  if (slot_ < 0) return;
  g_slots[slot_].state.store(kBusy);
  g_slots[slot_].name[0] = '\0';
  g_slots[slot_].state.store(kFree, std::memory_order_release);
}

int WriteShutdownSteps(int fd) {
  int written = 0;
  for (auto& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) != kNamed) continue;
    if (written > 0) {
      ssize_t ignored = ::write(fd, ", ", 2);
      (void)ignored;
    }
    ssize_t ignored = ::write(fd, slot.name, ::strnlen(slot.name, sizeof(slot.name)));
    (void)ignored;
    ++written;
  }
  return written;
}

}  // namespace streamrec
