// StreamTask's exactly-once bookkeeping, driven by the TopologyTestDriver with a minimal
// topology (a per-key counter that forwards every record): one commit holds state,
// offset and outbox; a crash loses exactly what was not committed; committed outputs
// not acknowledged are re-sent with their original marks.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "runtime/processor.h"
#include "runtime/stream_task.h"
#include "state/exactly_once.h"
#include "tests/support/topology_test_driver.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::runtime {
namespace {

constexpr char kCounts[] = "counts";
constexpr char kOut[] = "out";

class CountingProcessor : public Processor {
 public:
  Status Init(ProcessorContext* context) override {
    context_ = context;
    counts_ = context->GetStore<state::CounterStore>(kCounts);
    if (counts_ == nullptr) return Status::Internal("no counts store");
    return Status::Ok();
  }
  Status Process(const Record& record) override {
    if (record.value == "fail") return Status::InvalidArgument("asked to fail");
    counts_->Add(record.key, 1.0);
    OutputRecord out;
    out.topic = kOut;
    out.key = record.key;
    out.value = record.value;
    context_->Forward(std::move(out));
    if (record.value == "commit") context_->Commit();
    return Status::Ok();
  }

 private:
  ProcessorContext* context_ = nullptr;
  state::CounterStore* counts_ = nullptr;
};

Topology CountingTopology() {
  Topology t;
  t.name = "count";
  t.source_topic = "in";
  t.stores = {{kCounts, StoreSpec::Kind::kCounter}};
  t.processor_supplier = [] { return std::make_unique<CountingProcessor>(); };
  return t;
}

double CountOf(TopologyTestDriver& d, const std::string& key) {
  auto* store = dynamic_cast<state::CounterStore*>(d.task()->store(kCounts));
  auto v = store->GetScalar(key);
  return v.ok() ? *v : -1;
}

uint64_t SequenceOf(const state::OutboxMessage& m) {
  for (const auto& [k, v] : m.headers) {
    int32_t p = 0;
    uint64_t seq = 0;
    if (k == state::kSourceMarkHeader && state::ParseSourceMark(v, &p, &seq)) return seq;
  }
  return 0;
}

TEST(StreamTaskTest, CrashLosesOnlyWhatWasNotCommitted) {
  testing::TempDir dir;
  TopologyTestDriver d(CountingTopology(), dir.path(), /*partition=*/3);
  ASSERT_TRUE(d.Open().ok());
  ASSERT_TRUE(d.PipeInput("a", "1").ok());
  ASSERT_TRUE(d.PipeInput("a", "2").ok());
  ASSERT_TRUE(d.Commit().ok());
  auto out = d.ReadOutput(kOut);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(SequenceOf(out[0]), 1u);
  EXPECT_EQ(SequenceOf(out[1]), 2u);
  ASSERT_TRUE(d.PipeInput("a", "3").ok());  // never committed
  d.Crash();

  ASSERT_TRUE(d.Open().ok());
  EXPECT_EQ(d.task()->stored_offset(), std::optional<int64_t>(2));
  EXPECT_EQ(CountOf(d, "a"), 2.0);
  EXPECT_TRUE(d.ReadOutput(kOut).empty()) << "the uncommitted output must never be sent";
  // The replayed record gets a fresh sequence, above every committed one.
  ASSERT_TRUE(d.PipeInput("a", "3").ok());
  ASSERT_TRUE(d.Commit().ok());
  out = d.ReadOutput(kOut);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(SequenceOf(out[0]), 3u);
  EXPECT_EQ(CountOf(d, "a"), 3.0);
}

TEST(StreamTaskTest, UnacknowledgedOutputsAreResentWithTheirMarks) {
  testing::TempDir dir;
  TopologyTestDriver d(CountingTopology(), dir.path());
  ASSERT_TRUE(d.Open().ok());
  ASSERT_TRUE(d.PipeInput("k", "x").ok());
  ASSERT_TRUE(d.PipeInput("k", "y").ok());
  // Delivered, but the delivery reports never come back before the crash.
  ASSERT_TRUE(d.Commit(/*deliver=*/true, /*ack=*/false).ok());
  auto first = d.ReadOutput(kOut);
  ASSERT_EQ(first.size(), 2u);
  d.Crash();
  ASSERT_TRUE(d.Open().ok());
  auto again = d.ReadOutput(kOut);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0], first[0]);  // same bytes, same mark: downstream can drop it
  EXPECT_EQ(again[1], first[1]);
  // Acknowledged on that re-send: a second restart sends nothing.
  ASSERT_TRUE(d.Close().ok());
  ASSERT_TRUE(d.Open().ok());
  EXPECT_TRUE(d.ReadOutput(kOut).empty());
}

TEST(StreamTaskTest, ReplayedRecordsBelowTheStoredOffsetAreSkipped) {
  testing::TempDir dir;
  TopologyTestDriver d(CountingTopology(), dir.path());
  ASSERT_TRUE(d.Open().ok());
  Record r;
  r.key = "k";
  r.value = "v";
  r.offset = 10;
  ASSERT_TRUE(d.PipeInput(r).ok());
  ASSERT_TRUE(d.Commit().ok());
  r.offset = 10;  // the broker hands it out again after a rebalance
  auto again = d.PipeInput(r);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(CountOf(d, "k"), 1.0);
}

TEST(StreamTaskTest, ProcessorErrorsAndCommitRequestsReachTheRunner) {
  testing::TempDir dir;
  TopologyTestDriver d(CountingTopology(), dir.path());
  ASSERT_TRUE(d.Open().ok());
  ASSERT_TRUE(d.PipeInput("k", "commit").ok());  // the processor asks for a commit
  EXPECT_EQ(d.ReadOutput(kOut).size(), 1u);
  auto failed = d.PipeInput("k", "fail");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace streamrec::runtime
