// SetProcessMemoryBudget: every StateDb of the process shares one cache, memtables
// included, so several stores together stay within one budget.
#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "core/metrics.h"
#include "state/encoding.h"
#include "state/state_db.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::state {
namespace {

class StateDbMemoryBudgetTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(SetProcessMemoryBudget(kDefaultProcessMemoryBudget).ok()); }
};

TEST_F(StateDbMemoryBudgetTest, StoresTogetherKeepTheirMemtablesWithinTheBudget) {
  constexpr size_t kBudget = size_t{8} << 20;
  ASSERT_TRUE(SetProcessMemoryBudget(kBudget).ok());
  EXPECT_EQ(ProcessMemoryBudget(), kBudget);
  testing::TempDir dir;
  std::vector<std::unique_ptr<StateDb>> dbs;
  for (int p = 0; p < 4; ++p) {
    StateDbOptions o;
    o.path = dir.Sub("store-" + std::to_string(p));
    o.column_families = {"a", "b", "c"};
    // Each column family alone could hold 16 MiB before flushing: without the shared
    // budget, everything written below would stay in memtables.
    o.write_buffer_size = size_t{16} << 20;
    auto db = StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    dbs.push_back(std::move(db).value());
  }
  std::mt19937_64 rng(7);
  std::string value(1024, '\0');
  auto memtables = [&dbs] {
    uint64_t total = 0;
    for (auto& db : dbs) total += db->Stats().memtable_bytes;
    return total;
  };
  // RocksDB's write buffer manager flushes when the memtables pass half the budget but
  // does not stall writers, so the bound is soft: flushes in flight and every family's
  // active memtable come on top. Three rounds of 40 MiB (5x the budget each) must leave
  // no more than 3x the budget, round after round, where without it all 120 MiB would
  // stay in memtables (16 MiB a family).
  constexpr uint64_t kRound = uint64_t{40} << 20;
  uint64_t i = 0, written = 0;
  for (int round = 1; round <= 3; ++round) {
    for (; written < round * kRound; ++i) {
      for (auto& c : value) c = static_cast<char>(rng());
      StateDb& db = *dbs[i % dbs.size()];
      StateWriteBatch batch;
      batch.Put(*db.ColumnFamily(std::string(1, static_cast<char>('a' + i % 3))), Key64(i), value);
      ASSERT_TRUE(db.Write(&batch).ok());
      written += value.size() + 8;
    }
    // Flushes run in the background: give them a bounded time to finish.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (memtables() > kBudget && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_LE(memtables(), 3 * kBudget) << "after " << written << " bytes";
  }
  // Everything written is still there, from memtables or SST files.
  for (uint64_t k = 0; k < i; k += 997) {
    StateDb& db = *dbs[k % dbs.size()];
    auto v = db.Get(*db.ColumnFamily(std::string(1, static_cast<char>('a' + k % 3))), Key64(k));
    ASSERT_TRUE(v.ok() && v->has_value()) << k;
  }
}

// The value of an unlabelled series in the text exposition, or -1 when absent.
double MetricValue(const std::string& text, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + prefix.size()));
}

TEST_F(StateDbMemoryBudgetTest, TheBudgetAndWhatItHoldsAreOnMetrics) {
  constexpr size_t kBudget = size_t{16} << 20;
  ASSERT_TRUE(SetProcessMemoryBudget(kBudget).ok());
  testing::TempDir dir;
  StateDbOptions o;
  o.path = dir.Sub("store");
  o.column_families = {"a"};
  o.metrics_name = "budget-test";
  auto db = StateDb::Open(o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::string value(4096, 'v');
  for (uint64_t k = 0; k < 256; ++k) {  // 1 MiB into the memtable
    StateWriteBatch batch;
    batch.Put(*(*db)->ColumnFamily("a"), Key64(k), value);
    ASSERT_TRUE((*db)->Write(&batch).ok());
  }
  const std::string text = SerializeMetrics();
  EXPECT_EQ(MetricValue(text, "streamrec_state_memory_budget_bytes"), static_cast<double>(kBudget));
  const double memtables = MetricValue(text, "streamrec_state_memtable_bytes");
  EXPECT_GE(memtables, 1 << 20) << text;
  EXPECT_LT(memtables, kBudget);
  // The memtables are charged to the budget's cache, so what it holds includes them.
  EXPECT_GE(MetricValue(text, "streamrec_state_memory_in_use_bytes"), memtables);
}

TEST_F(StateDbMemoryBudgetTest, AZeroBudgetIsRefused) {
  EXPECT_EQ(SetProcessMemoryBudget(0).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ProcessMemoryBudget(), kDefaultProcessMemoryBudget);
}

}  // namespace
}  // namespace streamrec::state
