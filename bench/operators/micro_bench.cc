// Micro-benchmarks of the operators' pure logic (Google Benchmark).
#include <filesystem>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "operators/cooccurrence.h"
#include "operators/frequency_estimator.h"
#include "operators/similarity.h"
#include "operators/user_window.h"
#include "state/state_db.h"

namespace streamrec::operators {
namespace {

void BM_WindowAddAndPairs(benchmark::State& state) {
  UserWindow w(UserWindowOptions{static_cast<size_t>(state.range(0)), 3600 * 1000});
  CoocAggregator agg;
  CoocOptions opt;
  std::mt19937_64 rng(1);
  int64_t ts = 1'700'000'000'000;
  for (auto _ : state) {
    const uint64_t item = rng() % 10000;
    ts += 1000;
    GeneratePairs(w.entries(), item, ts, EventType::kClick, opt,
                  [&](uint64_t a, uint64_t b, double x) { agg.AddPair(a, b, x); });
    w.Add(item, "i", ts, EventType::kClick);
    if (agg.pair_count() > 100000) benchmark::DoNotOptimize(agg.Drain(8));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WindowAddAndPairs)->Arg(20);

void BM_EstimatorObserve(benchmark::State& state) {
  FrequencyEstimator est;
  std::mt19937_64 rng(2);
  for (auto _ : state) est.Observe(rng() % 100000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EstimatorObserve);

void BM_TopKUpdate(benchmark::State& state) {
  TopKList list(20);
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    std::vector<uint64_t> changed = {rng() % 1000, rng() % 1000};
    list.Update(changed, [](uint64_t b) { return Neighbor{b, "", static_cast<double>(b % 97), 1.0}; });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopKUpdate);

// One stage commit: a WriteBatch of range(0) entries of 128 bytes (windows, outbox
// messages, the offset), written with WriteOptions::sync = range(1) (DESIGN §3,
// "Durability"). Wall-clock time: a synced write waits for the disk, not the CPU.
void BM_StateDbCommit(benchmark::State& state) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("streamrec-commit-bench-" + std::to_string(state.range(1))))
          .string();
  std::filesystem::remove_all(dir);
  state::StateDbOptions o;
  o.path = dir;
  o.column_families = {"data"};
  o.sync_writes = state.range(1) != 0;
  auto db = state::StateDb::Open(o);
  if (!db.ok()) {
    state.SkipWithError(db.status().ToString().c_str());
    return;
  }
  const state::ColumnFamilyId cf = *(*db)->ColumnFamily("data");
  const std::string value(128, 'v');
  uint64_t key = 0;
  for (auto _ : state) {
    state::StateWriteBatch batch;
    for (int64_t i = 0; i < state.range(0); ++i) batch.Put(cf, std::to_string(key++), value);
    benchmark::DoNotOptimize((*db)->Write(&batch).ok());
  }
  state.SetItemsProcessed(state.iterations());
  db->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StateDbCommit)->Args({100, 0})->Args({100, 1})->UseRealTime();

}  // namespace
}  // namespace streamrec::operators

BENCHMARK_MAIN();
