// The lambda merge on a broker (issue 11 items 2 and 3): the user and item stages run
// with `lambda.merge`; `streamrec batch`'s library recomputes the view from `clicks` up
// to the user stage's committed offsets (`--cutoff-group`) and announces it on
// `streamrec.batch`; the item stage, fed by BatchViewFollower, adopts it while the
// stream goes on. At the end the merged state equals the recomputation of every event.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "batch/batch_announcement.h"
#include "batch/batch_input.h"
#include "batch/batch_job.h"
#include "batch/batch_view_follower.h"
#include "core/metrics.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/lambda.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "state/state_db.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"
#include "tests/support/test_broker.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::batch {
namespace {

constexpr int kClickPartitions = 3;
constexpr int kItemPartitions = 2;
constexpr size_t kTopK = 20;

void Produce(const std::string& brokers, const std::string& topic, const std::vector<ClickEvent>& events) {
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  for (const ClickEvent& e : events) ASSERT_TRUE((*producer)->Produce(topic, e.user_id, EncodeClickEvent(e)).ok());
  ASSERT_TRUE((*producer)->Flush(60000).ok());
}

// Item-stage tasks that adopted a batch view in this process
// (streamrec_lambda_adoptions_total{result="adopted"}).
double Adoptions() {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != "streamrec_lambda_adoptions_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "result" && l.value == "adopted") return m.counter.value;
      }
    }
  }
  return 0;
}

// The adopted version of each item-stage partition (its `lambda` store of a stopped
// stage, read-only).
std::vector<int64_t> AdoptedVersions(const std::string& state_dir) {
  std::vector<int64_t> out;
  for (int q = 0; q < kItemPartitions; ++q) {
    state::StateDbOptions o;
    o.path = state_dir + "/item-" + std::to_string(q);
    o.read_only = true;
    o.column_families = {operators::kLambdaStore};
    auto db = state::StateDb::Open(o);
    int64_t version = 0;
    if (db.ok()) {
      auto v = (*db)->Get(*(*db)->ColumnFamily(operators::kLambdaStore), operators::kLambdaStateKey);
      if (v.ok() && v->has_value()) {
        auto s = operators::LambdaState::Decode(**v);
        if (s.ok()) version = s->version;
      }
    }
    out.push_back(version);
  }
  return out;
}

TEST(LambdaIntegrationTest, TheItemStageAdoptsTheAnnouncedViewAndStaysExact) {
  SyntheticClickGenerator generator(SyntheticOptions{});
  std::vector<ClickEvent> events;
  while (events.size() < 9000) events.push_back(generator.Next());
  const std::vector<ClickEvent> first(events.begin(), events.begin() + 4000);
  const std::vector<ClickEvent> middle(events.begin() + 4000, events.begin() + 6000);
  const std::vector<ClickEvent> last(events.begin() + 6000, events.end());

  const TopicNames defaults;
  EmbeddedBrokerOptions bo;
  bo.topics = {{defaults.clicks, kClickPartitions},   {defaults.clicks_dlq, 1},
               {defaults.cooc_deltas, kItemPartitions}, {defaults.training_examples, 1},
               {defaults.item_neighbors, 2},          {defaults.item_stats, 2},
               {defaults.batch_views, 1}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;
  const std::string views = dir.path() + "/views";

  operators::UserStageOptions uo;
  uo.item_partitions = kItemPartitions;
  uo.topics = topics;
  uo.emit_training_examples = false;
  operators::ItemStageOptions io;
  io.topics = topics;
  io.similarity = operators::Similarity::kCount;
  io.top_k = kTopK;
  io.popularity_half_life_ms = 0;
  io.merge_batch_views = true;
  io.batch_views = std::make_shared<operators::BatchViewInbox>();

  BatchViewFollowerOptions fo;
  fo.brokers = brokers;
  fo.topic = topics.batch_views;
  fo.clicks_topic = topics.clicks;
  fo.root = views;
  auto follower = BatchViewFollower::Start(fo, io.batch_views);
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();

  std::atomic<bool> stop{false};
  Status user_status, item_status;
  runtime::StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path() + "/stages";
  const std::string user_group = broker->Group("lambda-it-user");
  ro.group_id = user_group;
  auto user = runtime::StageRunner::Create(operators::UserStageTopology(uo), ro);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  ro.group_id = broker->Group("lambda-it-item");
  auto item = runtime::StageRunner::Create(operators::ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });

  const double adoptions_before = Adoptions();
  auto wait_for = [&](const std::vector<ClickEvent>& consumed, int adoptions) {
    const operators::BatchView want = operators::ComputeBatchView(consumed, uo.window, uo.cooc);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto got = operators::ReadItemStageState(ro.state_dir, kItemPartitions);
      if (!got.ok() || got->events != want.events || !(got->pair_counts == want.pair_counts)) continue;
      if (Adoptions() - adoptions_before >= adoptions) return true;
    }
    auto got = operators::ReadItemStageState(ro.state_dir, kItemPartitions);
    ADD_FAILURE() << "waiting for " << consumed.size() << " events and " << adoptions << " adoptions: "
                  << (got.ok() ? std::to_string(got->events) + " events, " + std::to_string(got->pair_counts.size()) +
                                     " pairs (want " + std::to_string(want.events) + ", " +
                                     std::to_string(want.pair_counts.size()) + ")"
                               : got.status().ToString())
                  << ", adopted " << Adoptions() - adoptions_before;
    return false;
  };

  Produce(brokers, topics.clicks, first);
  ASSERT_TRUE(wait_for(first, 0)) << "the speed layer did not catch up";
  // The cutoff: the user stage's committed offsets, then the stream goes on before the
  // batch run reads up to them (the speed layer is ahead of the view when it comes).
  auto cutoff = GroupCommittedOffsets(brokers, {}, topics.clicks, user_group);
  ASSERT_TRUE(cutoff.ok()) << cutoff.status().ToString();
  int64_t covered = 0;
  for (int64_t c : *cutoff) covered += c;
  EXPECT_EQ(covered, static_cast<int64_t>(first.size()));
  Produce(brokers, topics.clicks, middle);

  TopicInputOptions to;
  to.range.brokers = brokers;
  to.range.topic = topics.clicks;
  to.range.end_offsets = *cutoff;
  auto input = ReadTopicInput(to);
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  ASSERT_EQ(input->events.size(), first.size());
  BatchJobOptions jo;
  jo.view.window = uo.window;
  jo.view.cooc = uo.cooc;
  jo.view.similarity = operators::Similarity::kCount;
  jo.view.top_k = kTopK;
  jo.view.popularity_half_life_ms = 0;
  jo.root = views;
  auto manifest = BuildBatchView(*input, jo);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  auto announcement = BatchAnnouncement::FromManifest(*manifest);
  ASSERT_TRUE(announcement.ok()) << announcement.status().ToString();
  ProducerOptions po;
  po.brokers = brokers;
  ASSERT_TRUE(Announce(*announcement, topics.batch_views, po).ok());

  Produce(brokers, topics.clicks, last);
  const bool merged = wait_for(events, kItemPartitions);
  stop = true;
  user_thread.join();
  item_thread.join();
  (*follower)->Stop();
  ASSERT_TRUE(user_status.ok()) << user_status.ToString();
  ASSERT_TRUE(item_status.ok()) << item_status.ToString();
  EXPECT_EQ((*follower)->offered(), 1);
  EXPECT_TRUE(merged) << "the merged state did not reach the recomputation with the view adopted";
  EXPECT_EQ(AdoptedVersions(ro.state_dir), std::vector<int64_t>(kItemPartitions, manifest->version));

  // Pairs, counts and the lists (exact under count) equal the recomputation of all.
  operators::BatchViewBuilder all(jo.view);
  for (const ClickEvent& e : events) all.Add(e);
  const operators::BatchView want = all.ToBatchView();
  auto got = operators::ReadItemStageState(ro.state_dir, kItemPartitions);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->events, want.events);
  EXPECT_EQ(got->item_counts.size(), want.item_counts.size());
  EXPECT_EQ(got->pair_counts.size(), want.pair_counts.size());
  EXPECT_EQ(got->item_counts, want.item_counts);
  EXPECT_EQ(got->item_occurrences, want.item_occurrences);
  EXPECT_TRUE(got->pair_counts == want.pair_counts);
  ASSERT_EQ(got->top_neighbors.size(), want.top_neighbors.size());
  for (const auto& [key, list] : want.top_neighbors) {
    auto it = got->top_neighbors.find(key);
    ASSERT_NE(it, got->top_neighbors.end());
    ASSERT_EQ(it->second.size(), list.size()) << "item " << key;
    for (size_t i = 0; i < list.size(); ++i) EXPECT_EQ(it->second[i].item_key, list[i].item_key);
  }
}

// Announcements the item stage must not adopt: a file source (no offsets), a path outside
// lambda.batch_dir, a manifest that does not match.
TEST(BatchViewFollowerTest, OnlyVerifiedTopicViewsInsideTheBatchDirAreAdoptable) {
  testing::TempDir dir;
  std::vector<ClickEvent> events;
  SyntheticClickGenerator generator(SyntheticOptions{});
  while (events.size() < 500) events.push_back(generator.Next());
  BatchInput input;
  input.events = events;
  input.source.kind = BatchSource::Kind::kTopic;
  input.source.topic = "clicks";
  input.source.partitions = {{0, 0, 300}, {1, 0, 200}};
  BatchJobOptions jo;
  jo.root = dir.path() + "/views";
  auto manifest = BuildBatchView(input, jo);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  auto a = BatchAnnouncement::FromManifest(*manifest);
  ASSERT_TRUE(a.ok());

  BatchViewFollowerOptions fo;
  fo.root = dir.path() + "/views";
  auto ref = AdoptableView(*a, fo);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EXPECT_EQ(ref->version, manifest->version);
  EXPECT_EQ(ref->view_dir, manifest->dir + "/view");
  EXPECT_EQ(ref->cutoff, (std::map<int32_t, int64_t>{{0, 300}, {1, 200}}));

  BatchViewFollowerOptions elsewhere = fo;
  elsewhere.root = dir.path() + "/other";
  EXPECT_FALSE(AdoptableView(*a, elsewhere).ok());
  BatchAnnouncement escaping = *a;
  escaping.path = fo.root + "/../" + std::filesystem::path(manifest->dir).filename().string();
  EXPECT_FALSE(AdoptableView(escaping, fo).ok());
  BatchAnnouncement file = *a;
  file.source = "file";
  EXPECT_FALSE(AdoptableView(file, fo).ok());
  BatchAnnouncement other_topic = *a;
  other_topic.topic = "not-clicks";
  EXPECT_FALSE(AdoptableView(other_topic, fo).ok());
  BatchAnnouncement wrong_version = *a;
  wrong_version.version += 1;
  EXPECT_FALSE(AdoptableView(wrong_version, fo).ok());
}

}  // namespace
}  // namespace streamrec::batch
