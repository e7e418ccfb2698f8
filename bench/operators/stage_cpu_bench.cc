// CPU cost of the user and item stages' processing alone, without a broker: N synthetic
// clicks go through the user stage (one partition, a commit every --commit-every records,
// as a 200 ms flush would cut them), its cooc-delta messages through the item stage
// partitions, each driven by the broker-less TopologyTestDriver on real RocksDB stores.
// Reports events per CPU-second of the calling thread for each stage (the stages run on
// this one thread, one after the other), so a loaded machine changes the figure less than
// it changes wall-clock rates: this is the bench for the per-event cost of processing and
// state (issue 12, item 2); operators_stages_bench measures the whole pipeline on Kafka.
// Checks its own result: the item stage's state must equal the batch recomputation.
//
// Usage: operators_stage_cpu_bench [--events N (200000)] [--partitions P (8)]
//          [--window W (20)] [--commit-every R (2000)] [--runs K (3)]
//          [--item-cache-mb MB (the stage's default, operators.item_cache_mb)]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stream_task.h"
#include "streams/synthetic_clicks.h"
#include "tests/support/topology_test_driver.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::operators {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

struct StageCpuBenchFlags {
  int64_t events = 200000;
  int partitions = 8;
  int window = 20;
  int64_t commit_every = 2000;
  int runs = 3;
  int64_t item_cache_mb = 0;  // 0: the stage's default (operators.item_cache_mb)
};

struct RunResult {
  double user_eps_cpu = 0, item_eps_cpu = 0, both_eps_cpu = 0;
  size_t delta_messages = 0;
  bool exact = false;
};

RunResult RunOnce(const StageCpuBenchFlags& f, uint64_t seed) {
  SyntheticOptions so;
  so.seed = seed;
  so.num_items = 20000;
  so.num_users = 20000;
  SyntheticClickGenerator gen(so);
  std::vector<ClickEvent> events;
  events.reserve(static_cast<size_t>(f.events));
  for (int64_t i = 0; i < f.events; ++i) events.push_back(gen.Next());

  testing::TempDir dir;
  UserStageOptions uo;
  uo.window.max_items = static_cast<size_t>(f.window);
  uo.item_partitions = f.partitions;
  ItemStageOptions io;
  if (f.item_cache_mb > 0) io.cache_bytes = static_cast<size_t>(f.item_cache_mb) << 20;
  RunResult r;

  // The user stage: one partition takes every click (the per-event work is the same).
  std::vector<std::vector<Record>> deltas(static_cast<size_t>(f.partitions));
  {
    runtime::TopologyTestDriver user(UserStageTopology(uo), dir.path(), 0, /*start_millis=*/-1);
    user.set_sync_commits(false);
    if (Status st = user.Open(); !st.ok()) Die("user open", st);
    const double cpu0 = ThreadCpuSeconds();
    auto collect = [&] {
      for (const auto& m : user.ReadOutput(uo.topics.cooc_deltas)) {
        auto& log = deltas[static_cast<size_t>(m.partition)];
        log.push_back(runtime::OutputAsRecord(m, static_cast<int64_t>(log.size())));
      }
    };
    int64_t n = 0;
    for (const auto& e : events) {
      Record rec;
      rec.key = e.user_id;
      rec.has_key = true;
      rec.value = EncodeClickEvent(e);
      rec.timestamp_ms = e.ts_ms;
      auto piped = user.PipeInput(std::move(rec));
      if (!piped.ok()) Die("user input", piped.status());
      if (++n % f.commit_every == 0) {
        if (Status st = user.Commit(); !st.ok()) Die("user commit", st);
        collect();
      }
    }
    if (Status st = user.Commit(); !st.ok()) Die("user commit", st);
    collect();
    const double cpu = ThreadCpuSeconds() - cpu0;
    r.user_eps_cpu = static_cast<double>(f.events) / cpu;
    if (Status st = user.Close(); !st.ok()) Die("user close", st);
  }

  // The item stage: each partition's messages, a commit every as many messages as one
  // user-stage commit made for it (the user stage's flush sends one per partition).
  // Every partition's task is open at once, as in a stage process that owns them all
  // (they share the process's cache budget, operators.item_cache_mb).
  double item_cpu = 0;
  std::vector<std::unique_ptr<runtime::TopologyTestDriver>> tasks;
  for (int q = 0; q < f.partitions; ++q) {
    tasks.push_back(std::make_unique<runtime::TopologyTestDriver>(ItemStageTopology(io), dir.path(), q,
                                                                  /*start_millis=*/-1));
    tasks.back()->set_sync_commits(false);
    if (Status st = tasks.back()->Open(); !st.ok()) Die("item open", st);
  }
  for (int q = 0; q < f.partitions; ++q) {
    runtime::TopologyTestDriver& item = *tasks[static_cast<size_t>(q)];
    const double cpu0 = ThreadCpuSeconds();
    for (const auto& rec : deltas[static_cast<size_t>(q)]) {
      auto piped = item.PipeInput(rec);
      if (!piped.ok()) Die("item input", piped.status());
      if (Status st = item.Commit(); !st.ok()) Die("item commit", st);
      (void)item.ReadOutput(io.topics.item_neighbors);
      (void)item.ReadOutput(io.topics.item_stats);
    }
    item_cpu += ThreadCpuSeconds() - cpu0;
    r.delta_messages += deltas[static_cast<size_t>(q)].size();
  }
  for (auto& task : tasks) {
    if (Status st = task->Close(); !st.ok()) Die("item close", st);
  }
  r.item_eps_cpu = static_cast<double>(f.events) / item_cpu;
  r.both_eps_cpu = static_cast<double>(f.events) / (static_cast<double>(f.events) / r.user_eps_cpu + item_cpu);

  const BatchView expected = ComputeBatchView(events, uo.window, uo.cooc);
  auto got = ReadItemStageState(dir.path(), f.partitions);
  r.exact = got.ok() && got->pair_counts == expected.pair_counts && got->item_counts == expected.item_counts &&
            got->events == expected.events;
  return r;
}

}  // namespace
}  // namespace streamrec::operators

int main(int argc, char** argv) {
  using namespace streamrec::operators;
  StageCpuBenchFlags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--events") {
      f.events = std::atoll(next());
    } else if (a == "--partitions") {
      f.partitions = std::atoi(next());
    } else if (a == "--window") {
      f.window = std::atoi(next());
    } else if (a == "--commit-every") {
      f.commit_every = std::atoll(next());
    } else if (a == "--runs") {
      f.runs = std::atoi(next());
    } else if (a == "--item-cache-mb") {
      f.item_cache_mb = std::atoll(next());
    } else {
      std::printf(
          "usage: operators_stage_cpu_bench [--events N] [--partitions P] [--window W] [--commit-every R] "
          "[--runs K] [--item-cache-mb MB]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (f.events <= 0 || f.partitions <= 0 || f.window <= 0 || f.commit_every <= 0 || f.runs <= 0) {
    std::fprintf(stderr, "every value must be positive\n");
    return 2;
  }
  std::printf("| run | events | cooc-delta msgs | user stage ev/CPU-s | item stage ev/CPU-s | both ev/CPU-s | exact |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::vector<double> user, item, both;
  bool all_exact = true;
  for (int run = 0; run < f.runs; ++run) {
    RunResult r = RunOnce(f, 42 + static_cast<uint64_t>(run));
    std::printf("| %d | %lld | %zu | %.0f | %.0f | %.0f | %s |\n", run + 1, static_cast<long long>(f.events),
                r.delta_messages, r.user_eps_cpu, r.item_eps_cpu, r.both_eps_cpu, r.exact ? "yes" : "NO");
    std::fflush(stdout);
    all_exact = all_exact && r.exact;
    user.push_back(r.user_eps_cpu);
    item.push_back(r.item_eps_cpu);
    both.push_back(r.both_eps_cpu);
  }
  if (!all_exact) {
    std::printf("a run's state differs from the batch recomputation: no result\n");
    return 3;
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("| median | | | %.0f | %.0f | %.0f | |\n", median(user), median(item), median(both));
  return 0;
}
