// The batch layer against the embedded broker: the user and item stages consume a click
// stream; `batch::ReadTopicInput` + `BuildBatchView` recompute the view from the same
// topic up to the cutoff; the view's pair counts, item counts and top-K lists equal the
// item stage's state exactly (top-K under `count`, where the stage's lists are exact).
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "batch/batch_input.h"
#include "batch/batch_job.h"
#include "operators/batch_view.h"
#include "operators/batch_view_store.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topic_range_reader.h"
#include "streams/topics.h"
#include "tests/support/test_broker.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::batch {
namespace {

using operators::BatchView;

constexpr int kClickPartitions = 4;
constexpr int kItemPartitions = 4;
constexpr size_t kTopK = 20;

std::vector<ClickEvent> SyntheticEvents(size_t n) {
  SyntheticClickGenerator generator(SyntheticOptions{});
  std::vector<ClickEvent> events;
  while (events.size() < n) events.push_back(generator.Next());
  return events;
}

class BatchIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TopicNames defaults;
    bo_.topics = {{defaults.clicks, kClickPartitions}, {defaults.clicks_dlq, 1},
                  {defaults.cooc_deltas, kItemPartitions}, {defaults.training_examples, 4},
                  {defaults.item_neighbors, 4}, {defaults.item_stats, 4}};
  }

  void Produce(const std::string& brokers, const std::string& topic, const std::vector<ClickEvent>& events,
               const std::vector<std::string>& poison = {}) {
    ProducerOptions po;
    po.brokers = brokers;
    auto producer = KafkaProducer::Create(po);
    ASSERT_TRUE(producer.ok());
    for (size_t i = 0; i < events.size(); ++i) {
      if (i % 1000 == 0 && !poison.empty()) {
        ASSERT_TRUE((*producer)->Produce(topic, "poison", poison[(i / 1000) % poison.size()]).ok());
      }
      ASSERT_TRUE((*producer)->Produce(topic, events[i].user_id, EncodeClickEvent(events[i])).ok());
      if (i % 2000 == 0) (*producer)->Poll(0);
    }
    ASSERT_TRUE((*producer)->Flush(60000).ok());
  }

  static BatchJobOptions JobOptions(const operators::UserStageOptions& uo, const std::string& root) {
    BatchJobOptions o;
    o.view.window = uo.window;
    o.view.cooc = uo.cooc;
    o.view.similarity = operators::Similarity::kCount;
    o.view.top_k = kTopK;
    o.root = root;
    return o;
  }

  EmbeddedBrokerOptions bo_;
};

TEST_F(BatchIntegrationTest, BatchViewOfTheTopicEqualsTheItemStagesState) {
  const std::vector<ClickEvent> events = SyntheticEvents(20000);
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo_);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;

  operators::UserStageOptions uo;
  uo.item_partitions = kItemPartitions;
  uo.topics = topics;
  uo.emit_training_examples = false;
  operators::ItemStageOptions io;
  io.topics = topics;
  io.similarity = operators::Similarity::kCount;
  io.top_k = kTopK;
  io.publish = false;

  std::atomic<bool> stop{false};
  Status user_status, item_status;
  runtime::StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path() + "/stages";
  ro.group_id = broker->Group("batch-it-user");
  auto user = runtime::StageRunner::Create(operators::UserStageTopology(uo), ro);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  ro.group_id = broker->Group("batch-it-item");
  auto item = runtime::StageRunner::Create(operators::ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });

  // Poison the user stage dead-letters, among them a click a year ahead of the clock.
  const std::vector<std::string> poison = {
      "{broken json", R"({"user_id":"u","item_id":"i","event":"teleport","ts":1732270000123})",
      R"({"user_id":"u","item_id":"i","event":"click","ts":4102444799000})"};
  Produce(brokers, topics.clicks, events, poison);

  const BatchView expected = operators::ComputeBatchView(events, uo.window, uo.cooc);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
  bool converged = false;
  while (!converged && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto got = operators::ReadItemStageState(ro.state_dir, kItemPartitions);
    converged = got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts;
  }
  stop = true;
  user_thread.join();
  item_thread.join();
  ASSERT_TRUE(user_status.ok()) << user_status.ToString();
  ASSERT_TRUE(item_status.ok()) << item_status.ToString();
  ASSERT_TRUE(converged) << "the stages did not reach the recomputation in time";
  auto stage = operators::ReadItemStageState(ro.state_dir, kItemPartitions);
  ASSERT_TRUE(stage.ok()) << stage.status().ToString();

  // The batch run over the same topic, to its end offsets.
  TopicInputOptions to;
  to.range.brokers = brokers;
  to.range.topic = topics.clicks;
  int64_t last_done = 0, last_total = 0;
  auto input = ReadTopicInput(to, {}, [&](int64_t done, int64_t total) {
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  EXPECT_EQ(static_cast<size_t>(input->events.size()), events.size());
  EXPECT_EQ(input->rejected, 20);  // one every 1000 events
  EXPECT_EQ(input->rejected_by_reason["bad_json"] + input->rejected_by_reason["unknown_event_type"] +
                input->rejected_by_reason["bad_timestamp"],
            20);
  EXPECT_GT(input->rejected_by_reason["bad_timestamp"], 0);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, static_cast<int64_t>(events.size()) + 20);
  ASSERT_EQ(input->source.partitions.size(), static_cast<size_t>(kClickPartitions));

  auto manifest = BuildBatchView(*input, JobOptions(uo, dir.path() + "/views"));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->version, 1);
  EXPECT_EQ(manifest->events, static_cast<int64_t>(events.size()));
  EXPECT_EQ(manifest->rejected, 20);
  int64_t cutoff_total = 0;
  for (const PartitionRange& p : manifest->source.partitions) cutoff_total += p.end - p.start;
  EXPECT_EQ(cutoff_total, static_cast<int64_t>(events.size()) + 20);
  EXPECT_TRUE(VerifyVersion(*manifest).ok());

  BatchView view;
  ASSERT_TRUE(operators::ReadItemStateDb(manifest->dir + "/view", 0, 1, &view).ok());
  EXPECT_EQ(view.events, stage->events);
  EXPECT_EQ(view.item_counts, stage->item_counts);
  EXPECT_EQ(view.item_occurrences, stage->item_occurrences);
  EXPECT_EQ(view.pair_counts.size(), stage->pair_counts.size());
  EXPECT_TRUE(view.pair_counts == stage->pair_counts) << "pair counts differ";
  // Under `count` the stage's top-K lists are exact too: the same lists, member by member.
  EXPECT_EQ(view.top_neighbors.size(), stage->top_neighbors.size());
  size_t compared = 0;
  for (const auto& [item_key, list] : view.top_neighbors) {
    auto it = stage->top_neighbors.find(item_key);
    ASSERT_NE(it, stage->top_neighbors.end()) << "no stage list for item " << item_key;
    ASSERT_EQ(it->second.size(), list.size()) << "item " << item_key;
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(it->second[i].item_key, list[i].item_key) << "item " << item_key << " rank " << i;
      EXPECT_EQ(it->second[i].count, list[i].count) << "item " << item_key << " rank " << i;
    }
    ++compared;
  }
  EXPECT_GT(compared, 100u);
}

TEST_F(BatchIntegrationTest, AGivenCutoffReadsExactlyTheRecordsBelowIt) {
  const std::vector<ClickEvent> events = SyntheticEvents(6000);
  const std::vector<ClickEvent> first(events.begin(), events.begin() + 4000);
  const std::vector<ClickEvent> later(events.begin() + 4000, events.end());
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo_);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;
  Produce(brokers, topics.clicks, first);

  // The cutoff: where each partition ends now.
  TopicInputOptions to;
  to.range.brokers = brokers;
  to.range.topic = topics.clicks;
  auto now = ReadTopicInput(to);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  std::vector<int64_t> cutoff;
  for (const PartitionRange& p : now->source.partitions) cutoff.push_back(p.end);
  Produce(brokers, topics.clicks, later);

  to.range.end_offsets = cutoff;
  auto input = ReadTopicInput(to);
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  EXPECT_EQ(input->events.size(), first.size());
  for (size_t p = 0; p < cutoff.size(); ++p) EXPECT_EQ(input->source.partitions[p].end, cutoff[p]);
  operators::UserStageOptions uo;
  auto manifest = BuildBatchView(*input, JobOptions(uo, dir.path()));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  BatchView view;
  ASSERT_TRUE(operators::ReadItemStateDb(manifest->dir + "/view", 0, 1, &view).ok());
  const BatchView want = operators::ComputeBatchView(first, uo.window, uo.cooc);
  EXPECT_EQ(view.item_counts, want.item_counts);
  EXPECT_TRUE(view.pair_counts == want.pair_counts);
  // Its manifest names the cutoff it was given.
  auto read = ReadManifest(manifest->dir);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->source.partitions.size(), cutoff.size());
  for (size_t p = 0; p < cutoff.size(); ++p) EXPECT_EQ(read->source.partitions[p].end, cutoff[p]);

  // A cutoff past the end, or for the wrong number of partitions, is refused.
  to.range.end_offsets = cutoff;
  to.range.end_offsets[0] += 1000000;
  EXPECT_EQ(ReadTopicInput(to).status().code(), Status::Code::kInvalidArgument);
  to.range.end_offsets = {1, 2};
  EXPECT_EQ(ReadTopicInput(to).status().code(), Status::Code::kInvalidArgument);
  // And a stop ends the read.
  to.range.end_offsets.clear();
  EXPECT_EQ(ReadTopicInput(to, [] { return true; }).status().code(), Status::Code::kUnavailable);
}

}  // namespace
}  // namespace streamrec::batch
