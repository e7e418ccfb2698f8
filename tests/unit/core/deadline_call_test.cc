#include "core/deadline_call.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

namespace streamrec {
namespace {

using Clock = std::chrono::steady_clock;

TEST(CallBefore, ReturnsTheResultOfACallThatEndsInTime) {
  std::optional<int> got = CallBefore<int>(Clock::now() + std::chrono::seconds(30), [] { return 42; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 42);
}

TEST(CallBefore, GivesUpACallThatNeverEndsAndLeavesItRunning) {
  // The call blocks until the test releases it, as a request nobody answers would.
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::optional<int> got = CallBefore<int>(Clock::now() + std::chrono::milliseconds(50), [released, finished] {
    released.wait();
    finished->store(true);
    return 1;
  });
  EXPECT_FALSE(got.has_value()) << "a call still blocked at the deadline has no result";
  EXPECT_FALSE(finished->load()) << "the caller returned while the call was still running";
  // Released, the detached call ends on its own; what it reaches (shared) outlives it.
  release->set_value();
  for (int i = 0; i < 5000 && !finished->load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(finished->load());
}

TEST(CallBefore, APassedDeadlineGivesUpACallThatHasNotEnded) {
  // A deadline in the past gives the call no time: it is given up unless it ended first.
  std::optional<int> got = CallBefore<int>(Clock::now() - std::chrono::seconds(1), [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return 7;
  });
  EXPECT_FALSE(got.has_value());
}

}  // namespace
}  // namespace streamrec
