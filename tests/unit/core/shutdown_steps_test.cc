#include "core/shutdown_steps.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace streamrec {
namespace {

// What WriteShutdownSteps writes, read back through a pipe.
std::string Written(int* count) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  *count = WriteShutdownSteps(fds[1]);
  ::close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  return out;
}

TEST(ShutdownStepsTest, NamesTheStepsRunningAndForgetsTheOnesThatEnded) {
  int count = -1;
  EXPECT_EQ(Written(&count), "");
  EXPECT_EQ(count, 0);
  {
    ShutdownStep serving("serving");
    {
      ShutdownStep trainer("stage trainer");
      EXPECT_EQ(Written(&count), "serving, stage trainer");
      EXPECT_EQ(count, 2);
    }
    EXPECT_EQ(Written(&count), "serving");
    EXPECT_EQ(count, 1);
  }
  EXPECT_EQ(Written(&count), "");
  EXPECT_EQ(count, 0);
}

TEST(ShutdownStepsTest, CutsLongNamesAndSkipsStepsBeyondTheSlots) {
  int count = 0;
  {
    ShutdownStep long_one(std::string(100, 'x'));
    EXPECT_EQ(Written(&count), std::string(ShutdownStep::kMaxShutdownStepName, 'x'));
  }
  std::vector<std::unique_ptr<ShutdownStep>> steps;
  for (int i = 0; i < ShutdownStep::kMaxShutdownSteps + 3; ++i) {
    steps.push_back(std::make_unique<ShutdownStep>("s" + std::to_string(i)));
  }
  Written(&count);
  EXPECT_EQ(count, ShutdownStep::kMaxShutdownSteps);
  // The unnamed ones end without touching a slot another step holds.
  steps.resize(ShutdownStep::kMaxShutdownSteps);
  Written(&count);
  EXPECT_EQ(count, ShutdownStep::kMaxShutdownSteps);
  steps.clear();
  EXPECT_EQ(Written(&count), "");
  // The slots are free again.
  ShutdownStep again("again");
  EXPECT_EQ(Written(&count), "again");
}

}  // namespace
}  // namespace streamrec
