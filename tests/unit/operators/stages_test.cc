// The user and item stages driven without a broker (TopologyTestDriver): record-level
// behaviour, then the whole chain under random crashes compared with the batch view.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <random>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "state/encoding.h"
#include "state/exactly_once.h"
#include "state/state_db.h"
#include "streams/click_event.h"
#include "streams/dead_letter_queue.h"
#include "tests/support/topology_test_driver.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::operators {
namespace {

using runtime::TopologyTestDriver;

// Event times are offsets from a realistic epoch (the parser rejects times before 2000).
constexpr int64_t kT0 = 1'732'270'000'000;

ClickEvent Click(const std::string& user, const std::string& item, int64_t ts,
                 EventType type = EventType::kClick) {
  ts += kT0;
  ClickEvent e;
  e.user_id = user;
  e.item_id = item;
  e.user_key = HashId(user);
  e.item_key = HashId(item);
  e.ts_ms = ts;
  e.event = type;
  return e;
}

Record ToRecord(const ClickEvent& e) {
  Record r;
  r.key = e.user_id;
  r.has_key = true;
  r.value = EncodeClickEvent(e);
  r.timestamp_ms = e.ts_ms;
  return r;
}

UserStageOptions UserOpts(int32_t item_partitions) {
  UserStageOptions o;
  o.window = {3, 3600 * 1000};
  o.item_partitions = item_partitions;
  return o;
}

ItemStageOptions ItemOpts() {
  ItemStageOptions o;
  o.similarity = Similarity::kCount;
  o.top_k = 5;
  o.estimator = {4096, 2, 0.1};
  return o;
}

TEST(UserStageTest, FormsPairsTrainingExamplesAndRejects) {
  testing::TempDir dir;
  TopologyTestDriver driver(UserStageTopology(UserOpts(1)), dir.path());
  ASSERT_TRUE(driver.Open().ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "a", 1000))).ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "b", 2000))).ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "c", 3000, EventType::kPurchase))).ok());
  ASSERT_TRUE(driver.PipeInput("u2", "{not json").ok());
  ASSERT_TRUE(driver.PipeInput("u2", R"({"user_id":"u2","item_id":"a","event":"wink","ts":1732270000123})").ok());
  // Nothing is visible before the flush interval's commit.
  EXPECT_TRUE(driver.ReadOutput("streamrec.cooc-deltas").empty());
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());  // first punctuation is scheduled now
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());

  auto deltas = driver.ReadOutput("streamrec.cooc-deltas");
  ASSERT_EQ(deltas.size(), 1u);
  auto m = DecodeCoocDeltaMessage(deltas[0].value);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->flush_events, 3u);
  std::map<std::pair<uint64_t, uint64_t>, double> pairs;
  for (const auto& g : m->pairs) {
    for (const auto& [b, w] : g.neighbors) pairs[{g.item_key, b}] = w;
  }
  const uint64_t a = HashId("a"), b = HashId("b"), c = HashId("c");
  std::map<std::pair<uint64_t, uint64_t>, double> want = {
      {{b, a}, 1}, {{a, b}, 1}, {{c, a}, 5}, {{a, c}, 5}, {{c, b}, 5}, {{b, c}, 5}};
  EXPECT_EQ(pairs, want);
  ASSERT_TRUE(deltas[0].headers.size() >= 1);
  EXPECT_EQ(deltas[0].headers.back().first, state::kSourceMarkHeader);

  auto examples = driver.ReadOutput("streamrec.training-examples");
  ASSERT_EQ(examples.size(), 3u);
  auto ex = DecodeTrainingExample(examples[2].value);
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->item_id, "c");
  EXPECT_EQ(ex->event, EventType::kPurchase);
  EXPECT_EQ(ex->weight, 5.0f);
  EXPECT_EQ(ex->history_keys, (std::vector<uint64_t>{a, b}));
  EXPECT_EQ(ex->history_ts_ms, (std::vector<int64_t>{kT0 + 1000, kT0 + 2000}));
  EXPECT_EQ(examples[0].key, "u1");

  auto dlq = driver.ReadOutput("clicks.dlq");
  ASSERT_EQ(dlq.size(), 2u);
  EXPECT_EQ(dlq[0].value, "{not json");
  auto reason = [](const state::OutboxMessage& msg) {
    for (const auto& [k, v] : msg.headers) {
      if (k == "streamrec.reject.reason") return v;
    }
    return std::string();
  };
  EXPECT_EQ(reason(dlq[0]), RejectReasonName(RejectReason::kBadJson));
  EXPECT_EQ(reason(dlq[1]), RejectReasonName(RejectReason::kUnknownEventType));
}

// A click dated far ahead of the stage's clock would pin the user's window (nothing later
// can follow it): it goes to the DLQ, and a click within the allowed skew is kept.
TEST(UserStageTest, RejectsClicksFromTheFuture) {
  testing::TempDir dir;
  UserStageOptions o = UserOpts(1);
  o.max_future_ms = 3'600'000;
  TopologyTestDriver driver(UserStageTopology(o), dir.path(), 0, /*start_millis=*/kT0);
  ASSERT_TRUE(driver.Open().ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "a", 1000))).ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "b", 3'000'000))).ok());   // 50 min ahead: kept
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "c", 3'700'000))).ok());   // > 1 h ahead
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());
  auto examples = driver.ReadOutput("streamrec.training-examples");
  ASSERT_EQ(examples.size(), 2u);
  auto dlq = driver.ReadOutput("clicks.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  std::string reason, detail;
  for (const auto& [k, v] : dlq[0].headers) {
    if (k == "streamrec.reject.reason") reason = v;
    if (k == "streamrec.reject.detail") detail = v;
  }
  EXPECT_EQ(reason, RejectReasonName(RejectReason::kBadTimestamp));
  EXPECT_NE(detail.find("s ahead of the clock"), std::string::npos) << detail;
  EXPECT_NE(detail.find("operators.max_future_ms=3600000"), std::string::npos) << detail;

  // 0 turns the check off.
  testing::TempDir dir2;
  o.max_future_ms = 0;
  TopologyTestDriver off(UserStageTopology(o), dir2.path(), 0, /*start_millis=*/0);
  ASSERT_TRUE(off.Open().ok());
  ASSERT_TRUE(off.PipeInput(ToRecord(Click("u1", "a", 1000))).ok());
  ASSERT_TRUE(off.AdvanceWallClock(200).ok());
  ASSERT_TRUE(off.AdvanceWallClock(200).ok());
  EXPECT_EQ(off.ReadOutput("streamrec.training-examples").size(), 1u);
  EXPECT_TRUE(off.ReadOutput("clicks.dlq").empty());
}

// A message too big for the DLQ must not stop the partition: its copy is cut to fit, and
// the clicks after it are processed.
TEST(UserStageTest, AnOversizeMessageGoesToTheDlqCutAndProcessingGoesOn) {
  testing::TempDir dir;
  TopologyTestDriver driver(UserStageTopology(UserOpts(1)), dir.path());
  ASSERT_TRUE(driver.Open().ok());
  const std::string huge(3'000'000, '{');
  ASSERT_TRUE(driver.PipeInput("u1", huge).ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "a", 1000))).ok());
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());
  ASSERT_TRUE(driver.AdvanceWallClock(200).ok());
  auto dlq = driver.ReadOutput("clicks.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  size_t bytes = dlq[0].key.size() + dlq[0].value.size();
  std::string original_bytes;
  for (const auto& [k, v] : dlq[0].headers) {
    bytes += k.size() + v.size() + 16;
    if (k == kRejectOriginalBytesHeader) original_bytes = v;
  }
  EXPECT_LE(bytes, kDeadLetterMaxBytes);
  EXPECT_EQ(original_bytes, "3000000");
  EXPECT_EQ(driver.ReadOutput("streamrec.training-examples").size(), 1u);
}

TEST(UserStageTest, WindowSurvivesRestartAndReplayedRecordsAreSkipped) {
  testing::TempDir dir;
  TopologyTestDriver driver(UserStageTopology(UserOpts(1)), dir.path());
  ASSERT_TRUE(driver.Open().ok());
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "a", 1000))).ok());
  ASSERT_TRUE(driver.Commit().ok());
  driver.ReadOutput("streamrec.cooc-deltas");
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "b", 2000))).ok());
  driver.Crash();  // "b" was never committed
  ASSERT_TRUE(driver.Open().ok());
  EXPECT_EQ(driver.next_input_offset(), 1);
  Record again = ToRecord(Click("u1", "a", 1000));
  again.offset = 0;
  EXPECT_FALSE(*driver.PipeInput(again)) << "offset 0 is below the stored offset";
  ASSERT_TRUE(driver.PipeInput(ToRecord(Click("u1", "b", 2000))).ok());
  ASSERT_TRUE(driver.Commit().ok());
  auto deltas = driver.ReadOutput("streamrec.cooc-deltas");
  ASSERT_EQ(deltas.size(), 1u);
  auto m = DecodeCoocDeltaMessage(deltas[0].value);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->flush_events, 1u);
  ASSERT_EQ(m->pairs.size(), 2u) << "b pairs with a from the restored window";
}

// The measured defaults (bench/RESULTS.md "Wider neighbourhoods, weekly popularity"):
// 200 neighbours per item, popularity halved every 7 days; both overridable.
TEST(ItemStageOptionsTest, DefaultsAndOverrides) {
  auto empty = Config::FromYamlString("{}");
  ASSERT_TRUE(empty.ok());
  auto d = ItemStageOptions::FromConfig(*empty);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->top_k, 200u);
  EXPECT_EQ(d->popularity_half_life_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(d->cache_bytes, size_t{256} << 20);
  auto set = Config::FromYamlString("operators: {top_k: 20, popularity: {half_life_s: 3600}, item_cache_mb: 8}");
  ASSERT_TRUE(set.ok());
  auto o = ItemStageOptions::FromConfig(*set);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->top_k, 20u);
  EXPECT_EQ(o->popularity_half_life_ms, 3600LL * 1000);
  EXPECT_EQ(o->cache_bytes, size_t{8} << 20);
  auto zero = Config::FromYamlString("operators: {item_cache_mb: 0}");
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(ItemStageOptions::FromConfig(*zero).ok());
}

// 60 cooc-delta messages of random pairs among 30 items, each with its source mark.
std::vector<Record> RandomDeltaMessages() {
  std::mt19937_64 rng(11);
  std::vector<Record> messages;
  for (uint64_t seq = 1; seq <= 60; ++seq) {
    CoocDeltaMessage m;
    m.num_item_partitions = 1;
    m.flush_events = 4;
    for (int i = 0; i < 6; ++i) {
      const uint64_t a = 1 + rng() % 30, b = 1 + rng() % 30;
      if (a == b) continue;
      m.ids.emplace_back(a, "i" + std::to_string(a));
      m.ids.emplace_back(b, "i" + std::to_string(b));
      m.counts.push_back({a, 1.0, 1, static_cast<int64_t>(1000 * seq)});
      m.counts.push_back({b, 1.0, 1, static_cast<int64_t>(1000 * seq)});
      m.pairs.push_back({a, {{b, 1.0 + static_cast<double>(rng() % 3)}}});
    }
    Record r;
    r.key = "k";
    r.value = EncodeCoocDeltaMessage(m);
    r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(0, seq)}};
    r.offset = static_cast<int64_t>(seq - 1);
    messages.push_back(r);
  }
  return messages;
}

// The item stage's caches are copies: a stage whose caches are dropped at every commit
// (a budget of one byte) publishes exactly the lists and stats of one that keeps them.
TEST(ItemStageTest, CachesDroppedAtEveryCommitChangeNoOutput) {
  const std::vector<Record> messages = RandomDeltaMessages();
  auto run = [&](size_t cache_bytes, const std::string& sub, testing::TempDir& dir) {
    ItemStageOptions o = ItemOpts();
    o.similarity = Similarity::kCosine;
    o.cache_bytes = cache_bytes;
    TopologyTestDriver driver(ItemStageTopology(o), dir.Sub(sub), 0, /*start_millis=*/kT0);
    EXPECT_TRUE(driver.Open().ok());
    std::vector<std::string> out;
    for (size_t i = 0; i < messages.size(); ++i) {
      EXPECT_TRUE(driver.PipeInput(messages[i]).ok());
      if (i % 3 == 2) {
        EXPECT_TRUE(driver.Commit().ok());
        for (const auto& m : driver.ReadOutput("streamrec.item-neighbors")) out.push_back(m.value);
        for (const auto& m : driver.ReadOutput("streamrec.item-stats")) out.push_back(m.value);
      }
    }
    EXPECT_TRUE(driver.Close().ok());
    return out;
  };
  testing::TempDir dir;
  const auto kept = run(size_t{256} << 20, "kept", dir);
  const auto dropped = run(1, "dropped", dir);
  EXPECT_GT(kept.size(), 40u);
  ASSERT_EQ(kept.size(), dropped.size());
  // updated_ts_ms is the driver's manual clock: the same in both runs.
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i], dropped[i]) << "output " << i;
}

// The item caches' size is on /metrics (streamrec_operators_item_cache_bytes): it grows
// while the caches fill, stays within operators.item_cache_mb after every commit, and a
// closed task takes its part back.
double ItemCacheBytes() {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name == "streamrec_operators_item_cache_bytes") return family.metric.at(0).gauge.value;
  }
  return -1;
}

TEST(ItemStageTest, CacheBytesAreReportedAndStayWithinTheBudget) {
  const std::vector<Record> messages = RandomDeltaMessages();
  for (const size_t budget : {size_t{256} << 20, size_t{16} << 10}) {
    testing::TempDir dir;
    ItemStageOptions o = ItemOpts();
    o.cache_bytes = budget;
    const double before = ItemCacheBytes() < 0 ? 0 : ItemCacheBytes();
    auto driver_ptr = std::make_unique<TopologyTestDriver>(ItemStageTopology(o), dir.path(), 0, kT0);
    TopologyTestDriver& driver = *driver_ptr;
    ASSERT_TRUE(driver.Open().ok());
    double largest = 0;
    for (size_t i = 0; i < messages.size(); ++i) {
      ASSERT_TRUE(driver.PipeInput(messages[i]).ok());
      if (i % 3 != 2) continue;
      ASSERT_TRUE(driver.Commit().ok());
      const double held = ItemCacheBytes() - before;
      EXPECT_LE(held, static_cast<double>(budget)) << "budget " << budget << ", commit " << i / 3;
      largest = std::max(largest, held);
    }
    // 30 items, their lists, pairs and counts: several KiB when nothing is dropped.
    if (budget > (size_t{1} << 20)) {
      EXPECT_GT(largest, 4096.0);
    }
    ASSERT_TRUE(driver.Close().ok());
    driver_ptr.reset();
    EXPECT_EQ(ItemCacheBytes(), before);
  }
}

TEST(ItemStageTest, AppliesDeltasDropsDuplicatesAndPublishes) {
  testing::TempDir dir;
  TopologyTestDriver driver(ItemStageTopology(ItemOpts()), dir.path());
  ASSERT_TRUE(driver.Open().ok());
  CoocDeltaMessage m;
  m.num_item_partitions = 1;
  m.flush_events = 3;
  m.ids = {{1, "one"}, {2, "two"}, {3, "three"}};
  m.counts = {{1, 2, 2, 500}, {2, 1, 1, 400}};
  m.pairs = {{1, {{2, 1.0}, {3, 4.0}}}};
  auto make = [&](uint64_t seq) {
    Record r;
    r.key = "one";
    r.value = EncodeCoocDeltaMessage(m);
    r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(0, seq)}};
    return r;
  };
  ASSERT_TRUE(driver.PipeInput(make(1)).ok());
  ASSERT_TRUE(driver.PipeInput(make(1)).ok());  // re-send: dropped
  ASSERT_TRUE(driver.PipeInput(make(2)).ok());
  Record no_mark = make(3);
  no_mark.headers.clear();
  ASSERT_TRUE(driver.PipeInput(no_mark).ok());  // skipped, not fatal
  Record garbage = make(4);
  garbage.value = "garbage";
  ASSERT_TRUE(driver.PipeInput(garbage).ok());
  ASSERT_TRUE(driver.Commit().ok());

  auto neighbors = driver.ReadOutput("streamrec.item-neighbors");
  ASSERT_EQ(neighbors.size(), 1u);
  auto n = DecodeItemNeighbors(neighbors[0].value);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->item_id, "one");
  ASSERT_EQ(n->neighbors.size(), 2u);
  EXPECT_EQ(n->neighbors[0].item_id, "three");
  EXPECT_EQ(n->neighbors[0].count, 8.0);
  EXPECT_EQ(n->neighbors[1].item_id, "two");
  EXPECT_EQ(n->neighbors[1].count, 2.0);

  auto stats = driver.ReadOutput("streamrec.item-stats");
  std::map<std::string, ItemStats> by_id;
  for (const auto& s : stats) {
    auto d = DecodeItemStats(s.value);
    ASSERT_TRUE(d.ok());
    by_id[d->item_id] = *d;
  }
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id["one"].count, 4.0);
  EXPECT_EQ(by_id["two"].count, 2.0);
  EXPECT_EQ(by_id["one"].updated_ts_ms, 500);
  EXPECT_GT(by_id["one"].sampling_prob, 0.0);
  ASSERT_TRUE(driver.Close().ok());

  auto view = ReadItemStageState(dir.path(), 1);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->pair_counts, (std::map<std::pair<uint64_t, uint64_t>, double>{{{1, 2}, 2.0}, {{1, 3}, 8.0}}));
  EXPECT_EQ(view->item_counts, (std::map<uint64_t, double>{{1, 4.0}, {2, 2.0}}));
}

TEST(ItemStageTest, EstimatorIsRestoredAfterRestart) {
  testing::TempDir dir;
  double before = 0;
  auto feed = [](TopologyTestDriver& d, uint64_t seq) {
    CoocDeltaMessage m;
    m.flush_events = 10;
    m.ids = {{1, "one"}};
    m.counts = {{1, 1, 5, 100}};
    Record r;
    r.value = EncodeCoocDeltaMessage(m);
    r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(0, seq)}};
    return d.PipeInput(r);
  };
  {
    TopologyTestDriver d(ItemStageTopology(ItemOpts()), dir.path());
    ASSERT_TRUE(d.Open().ok());
    for (uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE(feed(d, s).ok());
    ASSERT_TRUE(d.Close().ok());
    (void)d.ReadOutput("streamrec.item-stats");
  }
  TopologyTestDriver d(ItemStageTopology(ItemOpts()), dir.path());
  ASSERT_TRUE(d.Open().ok());
  ASSERT_TRUE(feed(d, 21).ok());
  ASSERT_TRUE(d.Commit().ok());
  auto stats = d.ReadOutput("streamrec.item-stats");
  ASSERT_EQ(stats.size(), 1u);
  auto s = DecodeItemStats(stats[0].value);
  ASSERT_TRUE(s.ok());
  (void)before;
  // 5 sightings per 10 steps: gap 2, p̂ = 0.5 (a fresh estimator would know one flush only
  // and still give 0.5, so also check the step went on from the stored one).
  EXPECT_DOUBLE_EQ(s->sampling_prob, 0.5);
  EXPECT_EQ(s->count, 21.0);
}

// The estimator is committed with the offsets: a kill -9 right after a commit (no
// closing commit, wall clock not advanced) must not roll p̂ back. The crashed task
// re-reads from its stored offset and ends where an uncrashed twin ends, exactly.
TEST(ItemStageTest, EstimatorSurvivesCrashWithTheOffsets) {
  testing::TempDir dir;
  auto message = [](uint64_t seq) {
    CoocDeltaMessage m;
    m.flush_events = 10 + seq % 7;  // uneven gaps, so p̂ depends on the whole history
    m.ids = {{1, "one"}, {2, "two"}};
    m.counts = {{1, 1, 1 + seq % 3, 100}, {2, 1, 1, 100}};
    Record r;
    r.value = EncodeCoocDeltaMessage(m);
    r.offset = static_cast<int64_t>(seq) - 1;
    r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(0, seq)}};
    return r;
  };
  auto last_stats = [](TopologyTestDriver& d) {
    std::map<std::string, double> p;
    for (const auto& m : d.ReadOutput("streamrec.item-stats")) {
      auto s = DecodeItemStats(m.value);
      if (s.ok()) p[s->item_id] = s->sampling_prob;
    }
    return p;
  };
  TopologyTestDriver twin(ItemStageTopology(ItemOpts()), dir.Sub("twin"));
  ASSERT_TRUE(twin.Open().ok());
  for (uint64_t s = 1; s <= 30; ++s) ASSERT_TRUE(twin.PipeInput(message(s)).ok());
  ASSERT_TRUE(twin.Commit().ok());
  const auto expected = last_stats(twin);
  ASSERT_EQ(expected.size(), 2u);

  TopologyTestDriver d(ItemStageTopology(ItemOpts()), dir.Sub("crashed"));
  ASSERT_TRUE(d.Open().ok());
  for (uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE(d.PipeInput(message(s)).ok());
  ASSERT_TRUE(d.Commit().ok());
  for (uint64_t s = 21; s <= 25; ++s) ASSERT_TRUE(d.PipeInput(message(s)).ok());
  d.Crash();  // 21..25 were never committed
  ASSERT_TRUE(d.Open().ok());
  ASSERT_EQ(d.task()->stored_offset(), std::optional<int64_t>(20));
  (void)d.ReadOutput("streamrec.item-stats");
  for (uint64_t s = 21; s <= 30; ++s) ASSERT_TRUE(d.PipeInput(message(s)).ok());
  ASSERT_TRUE(d.Commit().ok());
  const auto got = last_stats(d);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_DOUBLE_EQ(got.at("one"), expected.at("one"));
  EXPECT_DOUBLE_EQ(got.at("two"), expected.at("two"));
}

// With two item partitions each one estimates p̂ of the items it owns against the global
// step (the events of the whole stream), so the estimates are global probabilities.
TEST(ItemStageTest, SamplingProbabilityIsGlobalAcrossPartitions) {
  testing::TempDir dir;
  std::vector<std::unique_ptr<TopologyTestDriver>> parts;
  for (int q = 0; q < 2; ++q) {
    parts.push_back(std::make_unique<TopologyTestDriver>(ItemStageTopology(ItemOpts()), dir.path(), q));
    ASSERT_TRUE(parts[q]->Open().ok());
  }
  // Item 2 is owned by partition 0, item 3 by partition 1 (key mod 2). Every flush of 20
  // events has 10 sightings of item 2 and 4 of item 3; both partitions get the counts.
  for (uint64_t seq = 1; seq <= 30; ++seq) {
    CoocDeltaMessage m;
    m.num_item_partitions = 2;
    m.flush_events = 20;
    m.ids = {{2, "two"}, {3, "three"}};
    m.counts = {{2, 10, 10, 1000}, {3, 4, 4, 1000}};
    Record r;
    r.value = EncodeCoocDeltaMessage(m);
    r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(0, seq)}};
    for (auto& d : parts) ASSERT_TRUE(d->PipeInput(r).ok());
  }
  std::map<std::string, ItemStats> stats;
  for (auto& d : parts) {
    ASSERT_TRUE(d->Commit().ok());
    for (const auto& out : d->ReadOutput("streamrec.item-stats")) {
      auto s = DecodeItemStats(out.value);
      ASSERT_TRUE(s.ok());
      stats[s->item_id] = *s;
    }
  }
  ASSERT_EQ(stats.size(), 2u) << "each item published once, by its owner";
  EXPECT_DOUBLE_EQ(stats["two"].sampling_prob, 0.5);
  EXPECT_DOUBLE_EQ(stats["three"].sampling_prob, 0.2);
  EXPECT_EQ(stats["two"].count, 300.0);
}

// The whole chain, 2 user partitions -> 3 item partitions, through append-only logs that
// play the broker's part. Tasks crash at random (before or after committing, with
// committed outputs lost in flight); each restarts from its stored offset and re-sends
// its outbox. At the end the item state equals the batch recomputation exactly.
TEST(StagesChainTest, RandomCrashesGiveTheBatchViewExactly) {
  constexpr int kUserParts = 2, kItemParts = 3;
  std::mt19937_64 rng(7);
  std::vector<ClickEvent> events;
  for (int i = 0; i < 3000; ++i) {
    const int u = static_cast<int>(rng() % 40);
    const int it = static_cast<int>(rng() % 60);
    events.push_back(Click("u" + std::to_string(u), "i" + std::to_string(it), 1'000'000 + i * 1000,
                           static_cast<EventType>(rng() % 4)));
  }
  testing::TempDir dir;
  std::vector<std::unique_ptr<TopologyTestDriver>> users, items;
  std::vector<std::vector<Record>> clicks(kUserParts), deltas(kItemParts);
  std::vector<int64_t> upos(kUserParts, 0), ipos(kItemParts, 0);
  for (int p = 0; p < kUserParts; ++p) {
    users.push_back(std::make_unique<TopologyTestDriver>(UserStageTopology(UserOpts(kItemParts)), dir.path(), p));
    ASSERT_TRUE(users[p]->Open().ok());
  }
  for (int q = 0; q < kItemParts; ++q) {
    items.push_back(std::make_unique<TopologyTestDriver>(ItemStageTopology(ItemOpts()), dir.path(), q));
    ASSERT_TRUE(items[q]->Open().ok());
  }
  for (const auto& e : events) {
    Record r = ToRecord(e);
    const int p = static_cast<int>(e.user_key % kUserParts);
    r.offset = static_cast<int64_t>(clicks[p].size());
    clicks[p].push_back(r);
  }
  auto collect = [&](int p) {
    for (const auto& m : users[p]->ReadOutput("streamrec.cooc-deltas")) {
      ASSERT_GE(m.partition, 0);
      deltas[m.partition].push_back(runtime::OutputAsRecord(m, static_cast<int64_t>(deltas[m.partition].size())));
    }
  };
  int crashes = 0;
  auto step = [&](std::unique_ptr<TopologyTestDriver>& d, std::vector<Record>& log, int64_t& pos) {
    const int n = 1 + static_cast<int>(rng() % 50);
    for (int i = 0; i < n && pos < static_cast<int64_t>(log.size()); ++i, ++pos) {
      ASSERT_TRUE(d->PipeInput(log[pos]).ok());
    }
    switch (rng() % 40) {
      case 0:  // crash with uncommitted work
        d->Crash();
        ASSERT_TRUE(d->Open().ok());
        pos = d->next_input_offset();
        ++crashes;
        break;
      case 1:  // commit, outputs lost in flight, crash
        ASSERT_TRUE(d->Commit(/*deliver=*/false).ok());
        d->Crash();
        ASSERT_TRUE(d->Open().ok());
        pos = d->next_input_offset();
        ++crashes;
        break;
      case 2:  // commit, outputs delivered but not acknowledged, crash: re-sent duplicates
        ASSERT_TRUE(d->Commit(/*deliver=*/true, /*ack=*/false).ok());
        d->Crash();
        ASSERT_TRUE(d->Open().ok());
        pos = d->next_input_offset();
        ++crashes;
        break;
      case 3:
      case 4:
        ASSERT_TRUE(d->AdvanceWallClock(200).ok());
        break;
      default:
        break;
    }
  };
  for (int round = 0; round < 800; ++round) {
    const int p = static_cast<int>(rng() % kUserParts);
    step(users[p], clicks[p], upos[p]);
    collect(p);
    const int q = static_cast<int>(rng() % kItemParts);
    step(items[q], deltas[q], ipos[q]);
  }
  // Drain: everything consumed and committed.
  for (int pass = 0; pass < 3; ++pass) {
    for (int p = 0; p < kUserParts; ++p) {
      for (; upos[p] < static_cast<int64_t>(clicks[p].size()); ++upos[p]) {
        ASSERT_TRUE(users[p]->PipeInput(clicks[p][upos[p]]).ok());
      }
      ASSERT_TRUE(users[p]->Commit().ok());
      collect(p);
    }
    for (int q = 0; q < kItemParts; ++q) {
      for (; ipos[q] < static_cast<int64_t>(deltas[q].size()); ++ipos[q]) {
        ASSERT_TRUE(items[q]->PipeInput(deltas[q][ipos[q]]).ok());
      }
      ASSERT_TRUE(items[q]->Commit().ok());
    }
  }
  // The newest neighbour list each item partition published, per item (the item stage
  // reads pair counts through a cache of its own: a stale entry shows here).
  std::map<uint64_t, ItemNeighbors> last_lists;
  for (auto& d : items) {
    for (const auto& m : d->ReadOutput("streamrec.item-neighbors")) {
      auto n = DecodeItemNeighbors(m.value);
      ASSERT_TRUE(n.ok());
      last_lists[n->item_key] = *n;
    }
  }
  for (auto& d : users) ASSERT_TRUE(d->Close().ok());
  for (auto& d : items) ASSERT_TRUE(d->Close().ok());
  EXPECT_GT(crashes, 40);

  // Per-user order is what the stream preserves; the batch view takes the global order.
  auto expected = ComputeBatchView(events, UserOpts(kItemParts).window, UserOpts(kItemParts).cooc);
  EXPECT_GT(last_lists.size(), 50u);
  size_t checked = 0;
  for (const auto& [a, list] : last_lists) {
    for (const auto& n : list.neighbors) {
      auto want = expected.pair_counts.find({a, n.item_key});
      ASSERT_NE(want, expected.pair_counts.end()) << a << " lists " << n.item_key;
      EXPECT_EQ(n.count, want->second) << "pair (" << a << ", " << n.item_key << ")";
      ++checked;
    }
  }
  EXPECT_GT(checked, 200u);
  auto got = ReadItemStageState(dir.path(), kItemParts);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->pair_counts.size(), expected.pair_counts.size());
  EXPECT_TRUE(got->pair_counts == expected.pair_counts);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_EQ(got->events, expected.events);

  // Peer counts: after the closing flushes every partition knows every item's count
  // (the similarity denominators), not only the counts of the items it owns.
  for (int q = 0; q < kItemParts; ++q) {
    state::StateDbOptions o;
    o.path = dir.path() + "/item-" + std::to_string(q);
    o.read_only = true;
    o.column_families = {kCountsStore};
    o.counter_column_families = {kCountsStore};
    auto db = state::StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    std::map<uint64_t, double> counts;
    for (auto it = (*db)->NewIterator(*(*db)->ColumnFamily(kCountsStore)); it->Valid(); it->Next()) {
      if (it->key().size() != 8) continue;
      counts[state::DecodeBigEndian64(it->key().data())] = state::DecodeCounter(it->value())[0];
    }
    EXPECT_EQ(counts, expected.item_counts) << "partition " << q;
  }
}

// How a user-stage store is lost in StoreLossIsReplayedExactlyOnce.
enum class StoreLoss {
  kDeleted,  // the directory is gone
  kWalTail,  // the tail of its WAL is gone (a machine crash before it reached the disk)
};

// The WAL files of a RocksDB and their sizes.
std::map<std::string, uintmax_t> WalSizes(const std::string& db_dir) {
  std::map<std::string, uintmax_t> sizes;
  for (const auto& e : std::filesystem::directory_iterator(db_dir)) {
    if (e.path().extension() == ".log") sizes[e.path().string()] = e.file_size();
  }
  return sizes;
}

// A user-stage store is lost while the item stage has applied part of what it sent.
// kDeleted: one partition after a crash whose last commit's outputs were lost in flight
// (its pending peer counts go with the store), the other after a clean close. Each
// reopens an empty store, draws a new epoch and reprocesses `clicks` from offset 0: below
// its group offset record by record, so the item stage keeps exactly what it had not
// applied. kWalTail: both crash and their WALs are cut back to an earlier commit, behind
// outputs the item stage applied; the task sees its store behind its group offset and
// rebuilds it the same way. More crashes come during the replay. Nothing is dropped and
// nothing counts twice.
void StoreLossIsReplayedExactlyOnce(StoreLoss loss) {
  constexpr int kUserParts = 2, kItemParts = 3;
  std::mt19937_64 rng(11);
  std::vector<ClickEvent> events;
  for (int i = 0; i < 2000; ++i) {
    const int u = static_cast<int>(rng() % 30);
    const int it = static_cast<int>(rng() % 50);
    events.push_back(Click("u" + std::to_string(u), "i" + std::to_string(it), 1'000'000 + i * 1000,
                           static_cast<EventType>(rng() % 4)));
  }
  testing::TempDir dir;
  std::vector<std::unique_ptr<TopologyTestDriver>> users, items;
  std::vector<std::vector<Record>> clicks(kUserParts), deltas(kItemParts);
  std::vector<int64_t> upos(kUserParts, 0), ipos(kItemParts, 0);
  for (int p = 0; p < kUserParts; ++p) {
    users.push_back(std::make_unique<TopologyTestDriver>(UserStageTopology(UserOpts(kItemParts)), dir.path(), p));
    ASSERT_TRUE(users[p]->Open().ok());
  }
  for (int q = 0; q < kItemParts; ++q) {
    items.push_back(std::make_unique<TopologyTestDriver>(ItemStageTopology(ItemOpts()), dir.path(), q));
    ASSERT_TRUE(items[q]->Open().ok());
  }
  for (const auto& e : events) {
    Record r = ToRecord(e);
    const int p = static_cast<int>(e.user_key % kUserParts);
    r.offset = static_cast<int64_t>(clicks[p].size());
    clicks[p].push_back(r);
  }
  auto collect = [&](int p) {
    for (const auto& m : users[p]->ReadOutput("streamrec.cooc-deltas")) {
      deltas[m.partition].push_back(runtime::OutputAsRecord(m, static_cast<int64_t>(deltas[m.partition].size())));
    }
  };
  auto feed_items = [&]() {
    for (int q = 0; q < kItemParts; ++q) {
      for (; ipos[q] < static_cast<int64_t>(deltas[q].size()); ++ipos[q]) {
        ASSERT_TRUE(items[q]->PipeInput(deltas[q][ipos[q]]).ok());
      }
      ASSERT_TRUE(items[q]->Commit().ok());
    }
  };
  // Runs user partition p up to `until`, with wall-clock commits and occasional crashes.
  int crashes = 0;
  auto run_user = [&](int p, int64_t until) {
    while (upos[p] < until) {
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n && upos[p] < until; ++i, ++upos[p]) {
        ASSERT_TRUE(users[p]->PipeInput(clicks[p][upos[p]]).ok());
      }
      switch (rng() % 12) {
        case 0:  // commit, delivered but not acknowledged, crash: re-sent duplicates
          ASSERT_TRUE(users[p]->Commit(/*deliver=*/true, /*ack=*/false).ok());
          users[p]->Crash();
          ASSERT_TRUE(users[p]->Open().ok());
          upos[p] = users[p]->next_input_offset();
          ++crashes;
          break;
        case 1:  // crash with uncommitted work
          users[p]->Crash();
          ASSERT_TRUE(users[p]->Open().ok());
          upos[p] = users[p]->next_input_offset();
          ++crashes;
          break;
        default:
          ASSERT_TRUE(users[p]->AdvanceWallClock(700).ok());
          break;
      }
      collect(p);
      if (rng() % 3 == 0) feed_items();
    }
  };
  std::vector<std::map<std::string, uintmax_t>> synced(kUserParts);
  for (int p = 0; p < kUserParts; ++p) {
    run_user(p, static_cast<int64_t>(clicks[p].size()) * 3 / 10);
    ASSERT_TRUE(users[p]->Commit().ok());
    synced[p] = WalSizes(dir.path() + "/user-" + std::to_string(p));
    collect(p);
    run_user(p, static_cast<int64_t>(clicks[p].size()) * 6 / 10);
  }
  feed_items();

  const uint64_t old_epochs[] = {users[0]->task()->epoch(), users[1]->task()->epoch()};
  if (loss == StoreLoss::kDeleted) {
    // Partition 0: a commit whose outputs never arrive, then the process dies and its disk
    // is gone. Partition 1: a clean close, then its directory is deleted.
    for (int32_t i = 0; i < 15; ++i) ASSERT_TRUE(users[0]->PipeInput(clicks[0][upos[0]++]).ok());
    ASSERT_TRUE(users[0]->Commit(/*deliver=*/false).ok());
    users[0]->Crash();
    ASSERT_TRUE(users[1]->Close().ok());
    collect(1);
    for (int p = 0; p < kUserParts; ++p) ASSERT_TRUE(users[p]->DeleteStore().ok());
  } else {
    // Everything after the recorded commit was in the OS's cache only: a machine crash
    // takes it. The item stage had applied outputs of the lost commits.
    for (int p = 0; p < kUserParts; ++p) {
      ASSERT_TRUE(users[p]->Commit().ok());
      collect(p);
      users[p]->Crash();
      int cut = 0;
      for (const auto& [path, size] : WalSizes(dir.path() + "/user-" + std::to_string(p))) {
        auto it = synced[p].find(path);
        const uintmax_t keep = it == synced[p].end() ? 0 : it->second;
        if (keep < size) {
          std::filesystem::resize_file(path, keep);
          ++cut;
        }
      }
      ASSERT_GT(cut, 0) << "no WAL tail to lose: the test would prove nothing";
    }
    feed_items();
  }
  for (int p = 0; p < kUserParts; ++p) {
    ASSERT_TRUE(users[p]->Open().ok());
    EXPECT_NE(users[p]->task()->epoch(), old_epochs[p]);
    ASSERT_TRUE(users[p]->group_offset().has_value());
    EXPECT_EQ(users[p]->task()->replay_until(), *users[p]->group_offset());
    EXPECT_GT(users[p]->task()->replay_until(), 0);
    EXPECT_EQ(users[p]->next_input_offset(), 0) << "the store is rebuilt from the source";
    upos[p] = 0;
  }
  // Reprocess everything from offset 0, crashes included, and drain. A crash during the
  // replay reopens the rebuilt store (behind the group offset by design): same epoch.
  const uint64_t new_epochs[] = {users[0]->task()->epoch(), users[1]->task()->epoch()};
  for (int p = 0; p < kUserParts; ++p) {
    run_user(p, static_cast<int64_t>(clicks[p].size()));
    EXPECT_EQ(users[p]->task()->epoch(), new_epochs[p]);
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (int p = 0; p < kUserParts; ++p) {
      ASSERT_TRUE(users[p]->Commit().ok());
      collect(p);
    }
    feed_items();
  }
  for (auto& d : users) ASSERT_TRUE(d->Close().ok());
  for (int p = 0; p < kUserParts; ++p) collect(p);
  feed_items();
  for (auto& d : items) ASSERT_TRUE(d->Close().ok());
  EXPECT_GT(crashes, 5);

  auto expected = ComputeBatchView(events, UserOpts(kItemParts).window, UserOpts(kItemParts).cooc);
  auto got = ReadItemStageState(dir.path(), kItemParts);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->pair_counts.size(), expected.pair_counts.size());
  EXPECT_TRUE(got->pair_counts == expected.pair_counts);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_EQ(got->events, expected.events);
  for (int q = 0; q < kItemParts; ++q) {
    state::StateDbOptions o;
    o.path = dir.path() + "/item-" + std::to_string(q);
    o.read_only = true;
    o.column_families = {kPairsStore, kCountsStore};
    o.counter_column_families = {kPairsStore, kCountsStore};
    auto db = state::StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    std::map<uint64_t, double> counts;
    for (auto it = (*db)->NewIterator(*(*db)->ColumnFamily(kCountsStore)); it->Valid(); it->Next()) {
      if (it->key().size() != 8) continue;
      counts[state::DecodeBigEndian64(it->key().data())] = state::DecodeCounter(it->value())[0];
    }
    EXPECT_EQ(counts, expected.item_counts) << "peer counts of partition " << q;
  }
}

TEST(StagesChainTest, DeletedUserStoreIsReplayedExactlyOnce) { StoreLossIsReplayedExactlyOnce(StoreLoss::kDeleted); }

TEST(StagesChainTest, LostWalTailOfAUserStoreIsRebuiltExactlyOnce) {
  StoreLossIsReplayedExactlyOnce(StoreLoss::kWalTail);
}

}  // namespace
}  // namespace streamrec::operators
