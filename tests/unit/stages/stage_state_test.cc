// stages::ResetStageState: what `--reset-state` removes, and nothing else.
#include "stages/stage_state.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace streamrec::stages {
namespace {

void Touch(const std::string& dir) {
  std::filesystem::create_directories(dir);
  testing::WriteFile(dir + "/CURRENT", "x");
}

TEST(ResetStageState, RemovesOnlyTheStagesOwnStores) {
  testing::ScratchDir dir;
  const std::string state = dir.File("state");
  for (const char* name : {"user-0", "user-1", "user-12", "item-0", "user-x", "users-0", "models"}) {
    Touch(state + "/" + name);
  }
  auto removed = ResetStageState("user", state, state + "/models");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, (std::vector<std::string>{state + "/user-0", state + "/user-1", state + "/user-12"}));
  for (const char* kept : {"item-0", "user-x", "users-0", "models"}) {
    EXPECT_TRUE(std::filesystem::exists(state + "/" + kept)) << kept;
  }
  EXPECT_FALSE(std::filesystem::exists(state + "/user-0"));

  removed = ResetStageState("item", state, state + "/models");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, std::vector<std::string>{state + "/item-0"});

  // The trainer's positions live in its snapshots: the model store goes.
  removed = ResetStageState("trainer", state, state + "/models");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, std::vector<std::string>{state + "/models"});
  EXPECT_FALSE(std::filesystem::exists(state + "/models"));
  EXPECT_TRUE(std::filesystem::exists(state + "/user-x"));

  // Serving stores no position; a second reset finds nothing; a missing dir is no error.
  removed = ResetStageState("serving", state, state + "/models");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());
  removed = ResetStageState("user", state, "");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());
  removed = ResetStageState("user", dir.File("absent"), "");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());
  EXPECT_FALSE(ResetStageState("nope", state, "").ok());
}

TEST(ResetStageState, TheHintNamesTheFlagAndWhatGoes) {
  EXPECT_EQ(StartOverHint("user", "/s", ""),
            "restart with --reset-state (removes this stage's partition stores /s/user-* and, with the changelog "
            "on, discards what its changelog holds)");
  EXPECT_NE(StartOverHint("trainer", "", "/s/models").find("removes the model store /s/models"), std::string::npos);
}

}  // namespace
}  // namespace streamrec::stages
