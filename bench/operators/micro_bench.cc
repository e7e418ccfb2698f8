// Micro-benchmarks of the operators' pure logic (Google Benchmark).
#include <random>

#include <benchmark/benchmark.h>

#include "operators/cooccurrence.h"
#include "operators/frequency_estimator.h"
#include "operators/similarity.h"
#include "operators/user_window.h"

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

}  // namespace
}  // namespace streamrec::operators

BENCHMARK_MAIN();
