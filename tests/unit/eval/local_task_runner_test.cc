#include "eval/local_task_runner.h"

#include <gtest/gtest.h>

#include "core/records.h"
#include "operators/user_stage.h"
#include "state/exactly_once.h"
#include "streams/click_event.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::eval {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

Record Click(const std::string& user, const std::string& item, int64_t ts) {
  ClickEvent e;
  e.user_id = user;
  e.item_id = item;
  e.ts_ms = ts;
  Record r;
  r.key = user;
  r.has_key = true;
  r.value = EncodeClickEvent(e);
  r.timestamp_ms = ts;
  return r;
}

TEST(LocalTaskRunnerTest, CommitsEachRecordAndReleasesItsOutputs) {
  testing::TempDir dir;
  operators::UserStageOptions options;
  options.item_partitions = 1;
  {
    auto runner = LocalTaskRunner::Open(operators::UserStageTopology(options), dir.path());
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    auto first = (*runner)->Process(Click("u1", "a", kT0));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    auto second = (*runner)->Process(Click("u1", "b", kT0 + 1000));
    ASSERT_TRUE(second.ok());
    int examples = 0, deltas = 0;
    for (const Record& r : *second) {
      EXPECT_TRUE(r.Header(state::kSourceMarkHeader).has_value()) << r.topic;
      if (r.topic == options.topics.training_examples) {
        ++examples;
        auto ex = DecodeTrainingExample(r.value);
        ASSERT_TRUE(ex.ok());
        EXPECT_EQ(ex->item_id, "b");
        ASSERT_EQ(ex->history_keys.size(), 1u);  // a, the window before the event
      }
      if (r.topic == options.topics.cooc_deltas) ++deltas;
    }
    EXPECT_EQ(examples, 1);
    EXPECT_EQ(deltas, 1);  // committed with the record: nothing waits for a timer
    EXPECT_TRUE((*runner)->Close().ok());
  }
  // The state and the offset were committed: a reopened runner goes on from there.
  auto reopened = LocalTaskRunner::Open(operators::UserStageTopology(options), dir.path());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->records_processed(), 2);
  auto third = (*reopened)->Process(Click("u1", "c", kT0 + 2000));
  ASSERT_TRUE(third.ok());
  for (const Record& r : *third) {
    if (r.topic != options.topics.training_examples) continue;
    auto ex = DecodeTrainingExample(r.value);
    ASSERT_TRUE(ex.ok());
    EXPECT_EQ(ex->history_keys.size(), 2u);
  }
}

}  // namespace
}  // namespace streamrec::eval
