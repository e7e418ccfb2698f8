// The lambda merge (operators/lambda.h) through the broker-less test driver: the user and
// item stages as the speed layer, BatchViewBuilder + WriteItemStateDb as the batch layer
// (what `streamrec batch` runs), the item stage re-basing onto each view offered.
// Issue 11 item 3: merged counts equal a full batch recomputation of everything consumed
// at every check; a deleted speed layer plus a batch view gives the identical answer; a
// pair dropped by the speed layer is repaired by the next batch view.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "operators/batch_view.h"
#include "operators/batch_view_store.h"
#include "operators/item_stage.h"
#include "operators/lambda.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "streams/click_event.h"
#include "tests/support/topology_test_driver.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::operators {
namespace {

using runtime::TopologyTestDriver;

constexpr int64_t kT0 = 1'732'270'000'000;
constexpr char kDeltas[] = "streamrec.cooc-deltas";

struct Event {
  ClickEvent click;
  int32_t partition = 0;  // of `clicks`
  int64_t offset = 0;
};

std::vector<Event> RandomEvents(int n, int users, int items, int32_t partitions, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  std::vector<int64_t> next(static_cast<size_t>(partitions), 0);
  for (int i = 0; i < n; ++i) {
    Event e;
    ClickEvent& c = e.click;
    c.user_id = "u" + std::to_string(rng() % static_cast<uint64_t>(users));
    c.item_id = "i" + std::to_string(rng() % static_cast<uint64_t>(items));
    c.user_key = HashId(c.user_id);
    c.item_key = HashId(c.item_id);
    c.ts_ms = kT0 + 1'000'000 + i * 1000LL;
    c.event = static_cast<EventType>(rng() % 4);
    e.partition = static_cast<int32_t>(c.user_key % static_cast<uint64_t>(partitions));
    e.offset = next[static_cast<size_t>(e.partition)]++;
    out.push_back(e);
  }
  return out;
}

Record ToRecord(const Event& e) {
  Record r;
  r.key = e.click.user_id;
  r.value = EncodeClickEvent(e.click);
  r.timestamp_ms = e.click.ts_ms;
  r.partition = e.partition;
  r.offset = e.offset;
  return r;
}

// The speed layer (user + item stages on the test driver) and the batch layer over one
// stream of events.
class Lambda {
 public:
  Lambda(std::vector<Event> events, int32_t user_parts, int32_t item_parts, Similarity similarity,
         int64_t peer_interval_ms)
      : events_(std::move(events)), user_parts_(user_parts), item_parts_(item_parts) {
    user_.window = {3, 3600 * 1000};
    user_.item_partitions = item_parts;
    user_.peer_count_interval_ms = peer_interval_ms;
    user_.emit_training_examples = false;
    item_.similarity = similarity;
    item_.top_k = 5;
    item_.popularity_half_life_ms = 0;
    item_.estimator = {4096, 2, 0.1};
    item_.merge_batch_views = true;
    item_.batch_views = inbox_;
    clicks_.resize(static_cast<size_t>(user_parts));
    deltas_.resize(static_cast<size_t>(item_parts));
    ipos_.assign(static_cast<size_t>(item_parts), 0);
    for (const Event& e : events_) clicks_[static_cast<size_t>(e.partition)].push_back(ToRecord(e));
    for (int32_t p = 0; p < user_parts; ++p) users_.push_back(OpenDriver(UserStageTopology(user_), p));
    for (int32_t q = 0; q < item_parts; ++q) items_.push_back(OpenDriver(ItemStageTopology(item_), q));
  }

  // Feeds user partition p up to `n` more clicks and commits there (a part boundary).
  void UserStep(int32_t p, int n) {
    auto& d = *users_[static_cast<size_t>(p)];
    const auto& log = clicks_[static_cast<size_t>(p)];
    for (int i = 0; i < n && d.next_input_offset() < static_cast<int64_t>(log.size()); ++i) {
      ASSERT_TRUE(d.PipeInput(log[static_cast<size_t>(d.next_input_offset())]).ok());
    }
    ASSERT_TRUE(d.Commit().ok());
    Collect(p);
  }
  void UserAll() {
    for (int32_t p = 0; p < user_parts_; ++p) UserStep(p, 1 << 30);
  }
  // The user stage's output enters the cooc-deltas log; `tamper_` may change a message.
  void Collect(int32_t p) {
    for (auto& m : users_[static_cast<size_t>(p)]->ReadOutput(kDeltas)) {
      if (tamper_ && !tamper_(&m)) continue;
      auto& log = deltas_[static_cast<size_t>(m.partition)];
      log.push_back(runtime::OutputAsRecord(m, static_cast<int64_t>(log.size())));
    }
  }
  // Item partition q applies up to `n` more messages; two commits (an adoption, then the
  // rebuild of its lists).
  void ItemStep(int32_t q, int n) {
    auto& d = *items_[static_cast<size_t>(q)];
    auto& pos = ipos_[static_cast<size_t>(q)];
    const auto& log = deltas_[static_cast<size_t>(q)];
    for (int i = 0; i < n && pos < static_cast<int64_t>(log.size()); ++i, ++pos) {
      ASSERT_TRUE(d.PipeInput(log[static_cast<size_t>(pos)]).ok());
    }
    ASSERT_TRUE(d.Commit().ok());
    ASSERT_TRUE(d.Commit().ok());
  }
  void ItemsAll() {
    for (int32_t q = 0; q < item_parts_; ++q) ItemStep(q, 1 << 30);
  }

  // The user stage's committed group offsets: where its output parts end.
  std::map<int32_t, int64_t> GroupCutoff() const {
    std::map<int32_t, int64_t> cutoff;
    for (int32_t p = 0; p < user_parts_; ++p) cutoff[p] = users_[static_cast<size_t>(p)]->group_offset().value_or(0);
    return cutoff;
  }

  BatchViewOptions BatchOptions() const {
    BatchViewOptions o;
    o.window = user_.window;
    o.cooc = user_.cooc;
    o.similarity = item_.similarity;
    o.top_k = item_.top_k;
    o.popularity_half_life_ms = 0;
    o.estimator = item_.estimator;
    return o;
  }
  // The batch layer: every event below the cutoff, recomputed; a version written and
  // offered to the item stage.
  BatchView RunBatch(const std::map<int32_t, int64_t>& cutoff, int64_t created_ms = 0) {
    BatchViewBuilder builder(BatchOptions());
    for (const Event& e : events_) {
      if (e.offset < cutoff.at(e.partition)) builder.Add(e.click);
    }
    BatchViewRef ref;
    ref.version = ++version_;
    ref.view_dir = dir_.path() + "/batch-v" + std::to_string(ref.version);
    ref.cutoff = cutoff;
    ref.created_ms = created_ms;
    EXPECT_TRUE(WriteItemStateDb(builder, ref.view_dir).ok());
    inbox_->Offer(ref);
    return builder.ToBatchView();
  }

  // Everything the user stage consumed, recomputed (the answer the merge must give).
  BatchView Truth() const {
    BatchViewBuilder builder(BatchOptions());
    for (const Event& e : events_) {
      if (e.offset < users_[static_cast<size_t>(e.partition)]->next_input_offset()) builder.Add(e.click);
    }
    return builder.ToBatchView();
  }
  // The item stage's merged state (its stores read while the tasks are closed).
  BatchView Merged() {
    for (auto& d : items_) EXPECT_TRUE(d->Close().ok());
    auto got = ReadItemStageState(dir_.path(), item_parts_);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    for (auto& d : items_) EXPECT_TRUE(d->Open().ok());
    return got.ok() ? std::move(got).value() : BatchView{};
  }

  // A simulated operator mistake: both stages' stores deleted (group offsets survive).
  void DeleteSpeedLayer() {
    for (auto* drivers : {&users_, &items_}) {
      for (auto& d : *drivers) {
        d->Crash();
        ASSERT_TRUE(d->DeleteStore().ok());
        ASSERT_TRUE(d->Open().ok());
      }
    }
    ipos_.assign(static_cast<size_t>(item_parts_), 0);
    for (auto& log : deltas_) log.clear();
  }

  void set_tamper(std::function<bool(state::OutboxMessage*)> f) { tamper_ = std::move(f); }
  int64_t clicks_in(int32_t p) const { return static_cast<int64_t>(clicks_[static_cast<size_t>(p)].size()); }
  TopologyTestDriver& user(int32_t p) { return *users_[static_cast<size_t>(p)]; }

 private:
  std::unique_ptr<TopologyTestDriver> OpenDriver(runtime::Topology t, int32_t partition) {
    auto d = std::make_unique<TopologyTestDriver>(std::move(t), dir_.path(), partition);
    EXPECT_TRUE(d->Open().ok());
    return d;
  }

  testing::TempDir dir_;
  std::vector<Event> events_;
  int32_t user_parts_, item_parts_;
  UserStageOptions user_;
  ItemStageOptions item_;
  std::shared_ptr<BatchViewInbox> inbox_ = std::make_shared<BatchViewInbox>();
  std::vector<std::unique_ptr<TopologyTestDriver>> users_, items_;
  std::vector<std::vector<Record>> clicks_, deltas_;
  std::vector<int64_t> ipos_;
  std::function<bool(state::OutboxMessage*)> tamper_;
  int64_t version_ = 0;
};

// Pairs, item counts (each from its owner) and occurrences equal; with `lists`, the top-K
// lists too (keys, counts, scores).
void ExpectSameView(const BatchView& got, const BatchView& want, bool lists, const std::string& where) {
  EXPECT_EQ(got.pair_counts.size(), want.pair_counts.size()) << where;
  EXPECT_TRUE(got.pair_counts == want.pair_counts) << where;
  EXPECT_EQ(got.item_counts, want.item_counts) << where;
  EXPECT_EQ(got.item_occurrences, want.item_occurrences) << where;
  if (!lists) return;
  ASSERT_EQ(got.top_neighbors.size(), want.top_neighbors.size()) << where;
  for (const auto& [item, list] : want.top_neighbors) {
    auto it = got.top_neighbors.find(item);
    ASSERT_NE(it, got.top_neighbors.end()) << where;
    ASSERT_EQ(it->second.size(), list.size()) << where;
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(it->second[i].item_key, list[i].item_key) << where;
      EXPECT_EQ(it->second[i].count, list[i].count) << where;
      EXPECT_DOUBLE_EQ(it->second[i].score, list[i].score) << where;
    }
  }
}

TEST(LambdaStateTest, EncodesAndDecodes) {
  LambdaState s;
  s.version = 7;
  s.item_partitions = 3;
  s.base = {{0, 10}, {1, 20}};
  s.journal_from = {{0, 10}, {1, 20}, {2, 0}};
  s.rebuild_lists = true;
  s.created_ms = kT0;
  auto back = LambdaState::Decode(s.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->version, 7);
  EXPECT_EQ(back->item_partitions, 3);
  EXPECT_EQ(back->base, s.base);
  EXPECT_EQ(back->journal_from, s.journal_from);
  EXPECT_TRUE(back->rebuild_lists);
  EXPECT_EQ(back->created_ms, kT0);
  EXPECT_FALSE(LambdaState::Decode(s.Encode().substr(0, 10)).ok());
  // A state stored before created_ms was kept (8 bytes shorter) still reads, as unknown.
  const std::string encoded = s.Encode();
  auto older = LambdaState::Decode(encoded.substr(0, encoded.size() - 8));
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  EXPECT_EQ(older->created_ms, 0);
  EXPECT_EQ(older->base, s.base);
  EXPECT_FALSE(LambdaState::Decode(encoded.substr(0, encoded.size() - 3)).ok());

  JournalEntry e{5, 9, 2, true, false, std::string("\x01\x00msg", 5)};
  auto je = JournalEntry::Decode(e.Encode());
  ASSERT_TRUE(je.ok());
  EXPECT_EQ(je->first, 5);
  EXPECT_EQ(je->next, 9);
  EXPECT_EQ(je->peer_first, 2);
  EXPECT_TRUE(je->main);
  EXPECT_FALSE(je->peer);
  EXPECT_EQ(je->message, e.message);
  int32_t p = 0;
  int64_t next = 0;
  ASSERT_TRUE(ParseJournalKey(JournalKey(4, 123, 77), &p, &next));
  EXPECT_EQ(p, 4);
  EXPECT_EQ(next, 123);
  EXPECT_LT(JournalKey(4, 99, 1000), JournalKey(4, 123, 0));  // ordered by next offset

  EXPECT_EQ(SideOf(0, 10, 10), CutoffSide::kBefore);
  EXPECT_EQ(SideOf(10, 12, 10), CutoffSide::kAfter);
  EXPECT_EQ(SideOf(8, 12, 10), CutoffSide::kStraddles);
}

// The value of an unlabelled-but-stage gauge in this process's registry (-1: absent).
double ItemGauge(const std::string& name) {
  std::istringstream in(SerializeMetrics());
  std::string line;
  const std::string prefix = name + "{stage=\"item\"} ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
  }
  return -1;
}

// The freshness of the merged views (streamrec_lambda_batch_view_age_seconds: since the
// adopted view was written; streamrec_lambda_cutoff_lag_records: the clicks records past
// its cutoff that the speed layer has applied), 0 before any adoption.
TEST(LambdaTest, ExportsTheAdoptedViewsAgeAndCutoffLag) {
  constexpr int32_t kUserParts = 2, kItemParts = 2;
  Lambda l(RandomEvents(800, 20, 30, kUserParts, 21), kUserParts, kItemParts, Similarity::kCount, 0);
  for (int32_t p = 0; p < kUserParts; ++p) l.UserStep(p, 100);
  l.ItemsAll();
  EXPECT_EQ(ItemGauge("streamrec_lambda_batch_view_age_seconds"), 0);
  EXPECT_EQ(ItemGauge("streamrec_lambda_cutoff_lag_records"), 0);

  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::map<int32_t, int64_t> cutoff = l.GroupCutoff();
  l.RunBatch(cutoff, now_ms - 3'600'000);  // written an hour ago
  l.ItemsAll();
  EXPECT_EQ(ItemGauge("streamrec_lambda_cutoff_lag_records"), 0);  // level with the cutoff
  for (int32_t p = 0; p < kUserParts; ++p) l.UserStep(p, 30 + 20 * p);
  l.ItemsAll();
  int64_t past = 0;
  for (int32_t p = 0; p < kUserParts; ++p) past += l.user(p).next_input_offset() - cutoff.at(p);
  EXPECT_EQ(past, 80);
  EXPECT_EQ(ItemGauge("streamrec_lambda_cutoff_lag_records"), static_cast<double>(past));
  const double age = ItemGauge("streamrec_lambda_batch_view_age_seconds");
  EXPECT_GE(age, 3600);
  EXPECT_LT(age, 2 * 3600);  // the view's age, not the epoch's
}

TEST(BatchViewInboxTest, KeepsTheNewestVersion) {
  BatchViewInbox inbox;
  EXPECT_EQ(inbox.Latest(), nullptr);
  inbox.Offer({3, "v3", {}});
  inbox.Offer({2, "v2", {}});
  ASSERT_NE(inbox.Latest(), nullptr);
  EXPECT_EQ(inbox.Latest()->view_dir, "v3");
  inbox.Offer({4, "v4", {}});
  EXPECT_EQ(inbox.Latest()->version, 4);
}

// Batch views adopted while the speed layer runs ahead of them, level with them and
// behind them (user partitions at different positions); after every step the merged
// state equals the recomputation of everything consumed, lists included (count
// similarity: the stage's lists are exact between re-bases too).
TEST(LambdaTest, MergedCountsEqualAFullRecomputationAtEveryCheck) {
  constexpr int32_t kUserParts = 2, kItemParts = 3;
  Lambda l(RandomEvents(1500, 30, 40, kUserParts, 11), kUserParts, kItemParts, Similarity::kCount,
           /*peer_interval_ms=*/0);
  std::mt19937_64 rng(5);
  int batches = 0;
  for (int round = 0; round < 12; ++round) {
    for (int32_t p = 0; p < kUserParts; ++p) l.UserStep(p, 20 + static_cast<int>(rng() % 80));
    if (round % 3 == 1) {
      // A batch run at the user stage's committed offsets; the speed layer then moves on
      // before the item stage adopts it (it is ahead of the view by then).
      l.RunBatch(l.GroupCutoff());
      ++batches;
      l.UserStep(static_cast<int32_t>(rng() % kUserParts), 30);
    }
    l.ItemsAll();
    ExpectSameView(l.Merged(), l.Truth(), /*lists=*/true, "round " + std::to_string(round));
  }
  // The speed layer behind the view: a batch over what the user stage has not consumed
  // yet (its cutoff is a boundary the user stage will commit at: a batch of 40 each).
  std::map<int32_t, int64_t> ahead;
  for (int32_t p = 0; p < kUserParts; ++p) ahead[p] = std::min(l.user(p).next_input_offset() + 40, l.clicks_in(p));
  const BatchView ahead_view = l.RunBatch(ahead);
  l.ItemsAll();
  // Adopted: the merged state is the view (it covers more than the speed layer consumed).
  ExpectSameView(l.Merged(), ahead_view, true, "view ahead, adopted");
  for (int32_t p = 0; p < kUserParts; ++p) l.UserStep(p, static_cast<int>(ahead[p] - l.user(p).next_input_offset()));
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "speed layer reached the view's cutoff");
  l.UserAll();
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "all");
  EXPECT_GE(batches, 4);
}

// Cosine similarity: the stage's own lists are an approximation, the merged lists after a
// re-base are exact (rebuilt from the merged counts), as the batch layer's.
TEST(LambdaTest, ListsAreExactAfterAReBaseUnderCosine) {
  constexpr int32_t kUserParts = 2, kItemParts = 2;
  Lambda l(RandomEvents(1200, 25, 30, kUserParts, 3), kUserParts, kItemParts, Similarity::kCosine, 0);
  l.UserStep(0, 300);
  l.UserStep(1, 200);
  l.ItemsAll();
  const BatchView view = l.RunBatch(l.GroupCutoff());
  l.ItemsAll();
  ExpectSameView(l.Merged(), view, /*lists=*/true, "cosine, at the cutoff");
  l.UserAll();
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), /*lists=*/false, "cosine, after");
}

// The operator deletes the speed layer's stores. A batch view at the committed offsets
// plus the speed layer from there (the user stage rebuilds its windows by re-reading
// `clicks`, one event per part below its replay bound; the item stage keeps the parts
// from the cutoff) gives the state the undisturbed pipeline had, lists included.
TEST(LambdaTest, DeletedSpeedLayerPlusABatchViewGivesTheIdenticalAnswer) {
  constexpr int32_t kUserParts = 2, kItemParts = 3;
  const auto events = RandomEvents(1500, 30, 40, kUserParts, 21);
  Lambda undisturbed(events, kUserParts, kItemParts, Similarity::kCount, 5000);
  undisturbed.UserAll();
  undisturbed.ItemsAll();
  const BatchView want = undisturbed.Merged();
  ExpectSameView(want, undisturbed.Truth(), true, "the undisturbed pipeline");

  Lambda l(events, kUserParts, kItemParts, Similarity::kCount, 5000);
  for (int i = 0; i < 3; ++i) {
    l.UserStep(0, 100);
    l.UserStep(1, 80);
    l.ItemsAll();
  }
  const auto cutoff = l.GroupCutoff();
  ASSERT_LT(cutoff.at(0), l.clicks_in(0));
  ASSERT_LT(cutoff.at(1), l.clicks_in(1));
  l.DeleteSpeedLayer();
  l.RunBatch(cutoff);
  // The rest of the stream arrives after the mistake; the speed layer covers it.
  l.UserAll();
  l.ItemsAll();
  const BatchView after = l.Merged();
  ExpectSameView(after, l.Truth(), true, "batch view + speed layer from the cutoff");
  ExpectSameView(after, want, true, "identical to the undisturbed pipeline");
}

// A speed-layer bug: one pair delta is dropped on the way to the item stage. The merged
// state is wrong until the next batch view, which repairs it (and stays right after).
TEST(LambdaTest, ADroppedPairIsRepairedByTheNextBatchRun) {
  constexpr int32_t kUserParts = 2, kItemParts = 2;
  Lambda l(RandomEvents(1000, 20, 30, kUserParts, 9), kUserParts, kItemParts, Similarity::kCount, 0);
  int dropped = 0;
  l.set_tamper([&](state::OutboxMessage* m) {
    auto decoded = DecodeCoocDeltaMessage(m->value);
    if (dropped == 0 && decoded.ok() && !decoded->pairs.empty() && decoded->pairs[0].neighbors.size() > 1) {
      decoded->pairs[0].neighbors.pop_back();
      m->value = EncodeCoocDeltaMessage(*decoded);
      ++dropped;
    }
    return true;
  });
  l.UserStep(0, 200);
  l.UserStep(1, 200);
  l.ItemsAll();
  ASSERT_EQ(dropped, 1);
  const BatchView wrong = l.Merged();
  EXPECT_FALSE(wrong.pair_counts == l.Truth().pair_counts) << "the injected bug must show";
  l.UserStep(0, 50);  // the speed layer moves on past the batch cutoff below
  l.RunBatch({{0, l.user(0).next_input_offset() - 50}, {1, l.user(1).next_input_offset()}});
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "repaired");
  l.UserAll();
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "and after");
}

// A cutoff inside a part of the speed layer's output cannot be merged exactly: the view
// is refused and the state stays the speed layer's; an older view than the adopted one
// is refused too.
TEST(LambdaTest, AViewThatCannotBeMergedExactlyIsRefused) {
  constexpr int32_t kUserParts = 1, kItemParts = 1;
  Lambda l(RandomEvents(400, 10, 15, kUserParts, 4), kUserParts, kItemParts, Similarity::kCount, 0);
  l.UserStep(0, 100);
  l.ItemsAll();
  l.UserStep(0, 100);  // one part: source offsets [100, 200)
  l.ItemsAll();
  l.RunBatch({{0, 150}});
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "refused: the speed layer's state");
  l.RunBatch({{0, 200}});
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "adopted");
  l.RunBatch({{0, 100}});  // older than the adopted cutoff
  l.UserStep(0, 100);
  l.ItemsAll();
  ExpectSameView(l.Merged(), l.Truth(), true, "older view refused");
}

}  // namespace
}  // namespace streamrec::operators
