// Restore of a large store from its changelog (issue 10, "Measure and report": restore
// time and throughput for a 1M-event store). One process, one broker:
//  1. N synthetic events (SyntheticClickGenerator, 20k users, 20k items) are produced to
//     `clicks` (P partitions);
//  2. the user stage (and with --item the item stage) runs on them with the changelog on
//     (StageRunnerOptions::changelog, as `changelog.enabled`) until every event was
//     processed and the changelog stopped growing, then stops cleanly; its time is the
//     "reprocess from clicks" baseline (the store built from scratch, changelog included);
//  3. the stores are read (every key and value of the user stage's `windows` and
//     `peer_counts` families, hashed; the item stage's counts and pairs) and measured on
//     disk;
//  4. R times: a bare consume of the whole changelog topic (group-less, from the
//     beginning: the floor of any restore), then the state directory is deleted and the
//     stage started again in the same group: every partition's store is restored from the
//     changelog before it processes; timed until every partition was restored, then the
//     stage stops and its stores are read again. A restore whose stores differ from those
//     before the deletion is reported as exact=NO and makes the exit status 1: its figures
//     are not to be used.
// Prints one markdown row per restore and one summary line (medians).
// Usage: restore_bench [--events N] [--partitions P] [--window W] [--restores R]
//   [--brokers HOST:PORT] [--item] [--seed S]
// --brokers: a real Kafka cluster (bench/restore/run_restore_bench.sh starts one with
// scripts/kafka.sh); every run creates its own topics (suffix) and groups there. Without
// it the embedded broker, whose per-partition retention (~5 MB) may drop changelog records
// before they are read back: such a run is not exact and says so.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "state/state_db.h"
#include "bench/support/run_clock.h"
#include "bench/support/stages_broker.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"

namespace streamrec::operators {
namespace {

constexpr char kProgram[] = "restore_bench";

using runtime::StageRunner;
using runtime::StageRunnerOptions;
using bench::Clock;
using bench::Seconds;

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "restore_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(2);
}

struct RestoreBenchFlags {
  int64_t events = 1'000'000;
  int partitions = 8;
  int window = 20;
  int restores = 3;
  std::string brokers;  // "" = the embedded broker
  bool item = false;
  uint64_t seed = 42;
};

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The broker and this run's topic names (suffixed on a real cluster).
using BenchBroker = bench::StagesBroker;

BenchBroker StartBroker(const RestoreBenchFlags& f) {
  auto b = bench::StartStagesBroker(f.brokers, f.partitions, ".restore-bench-" + std::to_string(::getpid()));
  if (!b.ok()) Die("broker", b.status());
  return std::move(b).value();
}

const KafkaProperties kProps = {{"compression.type", "lz4"}};

// One stage runner on its own thread.
struct RunningStage {
  std::unique_ptr<StageRunner> runner;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> ended{false};
  Status status;
  std::string name;

  RunningStage(std::string stage, runtime::Topology topology, StageRunnerOptions options) : name(std::move(stage)) {
    auto r = StageRunner::Create(std::move(topology), std::move(options));
    if (!r.ok()) Die(name + " stage", r.status());
    runner = std::move(r).value();
    thread = std::thread([this] {
      status = runner->Run([this] { return stop.load(); });
      ended = true;
    });
  }
  void Check() {
    if (ended && !stop) {
      thread.join();
      Die(name + " stage ended", status);
    }
  }
  void Stop() {
    stop = true;
    thread.join();
    if (!status.ok()) Die(name + " stage run", status);
  }
};

StageRunnerOptions RunnerOptions(const BenchBroker& b, const std::string& state_dir, const std::string& stage) {
  StageRunnerOptions ro;
  ro.brokers = b.brokers;
  ro.properties = kProps;
  ro.state_dir = state_dir;
  ro.changelog = true;
  ro.group_id = "restore-bench-" + stage + b.suffix;
  ro.changelog_topic = stage == "user" ? b.topics.user_changelog : b.topics.item_changelog;
  return ro;
}

std::unique_ptr<RunningStage> StartUser(const RestoreBenchFlags& f, const BenchBroker& b, const std::string& state_dir) {
  UserStageOptions uo;
  uo.window.max_items = static_cast<size_t>(f.window);
  uo.item_partitions = f.partitions;
  uo.topics = b.topics;
  return std::make_unique<RunningStage>("user", UserStageTopology(uo), RunnerOptions(b, state_dir, "user"));
}

std::unique_ptr<RunningStage> StartItem(const BenchBroker& b, const std::string& state_dir) {
  ItemStageOptions io;
  io.topics = b.topics;
  return std::make_unique<RunningStage>("item", ItemStageTopology(io), RunnerOptions(b, state_dir, "item"));
}

// What a user stage's stores hold: every key and value of its `windows` and
// `peer_counts` families over all partitions (FNV-1a over length-prefixed key, value,
// in key order), and their numbers of entries and bytes.
struct StoreDigest {
  uint64_t hash = 1469598103934665603ULL;
  int64_t entries = 0;
  int64_t bytes = 0;
  bool operator==(const StoreDigest& o) const {
    return hash == o.hash && entries == o.entries && bytes == o.bytes;
  }
  void Add(std::string_view s) {
    const uint64_t n = s.size();
    for (int i = 0; i < 8; ++i) Mix(static_cast<unsigned char>(n >> (8 * i)));
    for (unsigned char ch : s) Mix(ch);
  }
  void Mix(unsigned char ch) {
    hash ^= ch;
    hash *= 1099511628211ULL;
  }
};

StoreDigest DigestUserStores(const std::string& state_dir, int partitions) {
  StoreDigest d;
  for (int p = 0; p < partitions; ++p) {
    state::StateDbOptions o;
    o.path = state_dir + "/user-" + std::to_string(p);
    o.read_only = true;
    o.verify_checksums_on_open = false;
    if (!std::filesystem::exists(o.path)) Die("digest", Status::NotFound(o.path + " does not exist"));
    auto db = state::StateDb::Open(o);
    if (!db.ok()) Die("open " + o.path, db.status());
    for (const char* family : {kWindowsStore, kPeerCountsStore}) {
      auto cf = (*db)->ColumnFamily(family);
      if (!cf.ok()) Die(std::string("family ") + family, cf.status());
      d.Add(family);
      for (auto it = (*db)->NewIterator(*cf); it->Valid(); it->Next()) {
        d.Add(it->key());
        d.Add(it->value());
        d.entries += 1;
        d.bytes += static_cast<int64_t>(it->key().size() + it->value().size());
      }
    }
  }
  return d;
}

// A bare consume of every partition of `topic` from its beginning to its end as of the
// start: records, bytes (keys and values) and seconds.
struct ConsumeResult {
  int64_t records = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

ConsumeResult BareConsume(const BenchBroker& b, const std::string& topic, int partitions) {
  ConsumerOptions co;
  co.brokers = b.brokers;
  co.properties = kProps;
  auto c = KafkaConsumer::Create(co);
  if (!c.ok()) Die("consumer", c.status());
  std::vector<TopicPartitionOffset> tps;
  std::vector<int64_t> end(static_cast<size_t>(partitions));
  int open = 0;
  for (int p = 0; p < partitions; ++p) {
    auto wm = (*c)->QueryWatermarks(topic, p, 5000);
    if (!wm.ok()) Die("watermarks", wm.status());
    end[static_cast<size_t>(p)] = wm->second;
    if (wm->second > wm->first) {
      tps.push_back({topic, p, kOffsetBeginning});
      ++open;
    }
  }
  ConsumeResult r;
  const auto t0 = Clock::now();
  if (Status st = (*c)->Assign(tps); !st.ok()) Die("assign", st);
  std::vector<Record> batch;
  std::vector<bool> done(static_cast<size_t>(partitions), false);
  int64_t idle_polls = 0;
  while (open > 0) {
    batch.clear();
    auto got = (*c)->PollBatch(5000, 100, &batch);
    if (!got.ok()) Die("poll", got.status());
    idle_polls = batch.empty() ? idle_polls + 1 : 0;
    // Transaction markers at a partition's end are never delivered: after 2 s without a
    // record everything there was has been read.
    if (idle_polls >= 20) break;
    for (const Record& rec : batch) {
      r.records += 1;
      r.bytes += static_cast<int64_t>(rec.key.size() + rec.value.size());
      const size_t p = static_cast<size_t>(rec.partition);
      if (!done[p] && rec.offset + 1 >= end[p]) {
        done[p] = true;
        --open;
      }
    }
  }
  r.seconds = Seconds(t0, Clock::now()) - (idle_polls >= 20 ? 2.0 : 0.0);
  return r;
}

struct RestoreRow {
  double wall_s = 0;       // Run() start -> every partition restored
  double restore_s = 0;    // the tasks' own restore time (ChangelogCounters::restore_seconds)
  int64_t records = 0;     // changelog records applied
  int64_t restores = 0;
  double cpu_s = 0;
  double consume_s = 0;    // the bare consume of the same changelog, this round
  int64_t consume_records = 0;
  int64_t consume_bytes = 0;
  uint64_t disk_bytes = 0;  // the restored state directory
  bool exact = false;
  bool item_exact = true;
  double item_restore_s = 0;
  int64_t item_records = 0;
};

int Main(int argc, char** argv) {
  RestoreBenchFlags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "restore_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--events") {
      f.events = std::stoll(next());
    } else if (a == "--partitions") {
      f.partitions = std::stoi(next());
    } else if (a == "--window") {
      f.window = std::stoi(next());
    } else if (a == "--restores") {
      f.restores = std::stoi(next());
    } else if (a == "--brokers") {
      f.brokers = next();
    } else if (a == "--seed") {
      f.seed = std::stoull(next());
    } else if (a == "--item") {
      f.item = true;
    } else {
      std::fprintf(stderr,
                   "usage: restore_bench [--events N] [--partitions P] [--window W] [--restores R] "
                   "[--brokers HOST:PORT] [--item] [--seed S]\n");
      return 2;
    }
  }
  // STREAMREC_BENCH_LOG=info: the stages' logs (assignments, restores) on stderr.
  const char* log_level = std::getenv("STREAMREC_BENCH_LOG");
  spdlog::set_level(log_level != nullptr ? spdlog::level::from_str(log_level) : spdlog::level::warn);
  const BenchBroker broker = StartBroker(f);
  std::string tmpl = (std::filesystem::temp_directory_path() / "streamrec-restore-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp", Status::IoError(std::strerror(errno)));
  const std::string root = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      if (std::getenv("STREAMREC_KEEP_BENCH_DIR") == nullptr) std::filesystem::remove_all(dir);
    }
  } cleanup{root};
  const std::string user_dir = root + "/user", item_dir = root + "/item";

  // 1. The events.
  {
    ProducerOptions po;
    po.brokers = broker.brokers;
    po.properties = kProps;
    po.properties["linger.ms"] = "20";
    auto producer = KafkaProducer::Create(po);
    if (!producer.ok()) Die("producer", producer.status());
    SyntheticOptions so;
    so.seed = f.seed;
    so.num_items = 20000;
    so.num_users = 20000;
    SyntheticClickGenerator gen(so);
    for (int64_t i = 0; i < f.events; ++i) {
      const ClickEvent e = gen.Next();
      if (Status st = (*producer)->Produce(broker.topics.clicks, e.user_id, EncodeClickEvent(e)); !st.ok()) {
        Die("produce", st);
      }
    }
    if (Status st = (*producer)->Flush(300000); !st.ok()) Die("flush", st);
  }
  ConsumerOptions co;
  co.brokers = broker.brokers;
  auto probe = KafkaConsumer::Create(co);
  if (!probe.ok()) Die("consumer", probe.status());
  int64_t clicks_low = 0;
  bench::SumHighWatermarksOrExit(probe->get(), broker.topics.clicks,
      f.partitions, &clicks_low, kProgram);
  if (clicks_low > 0) {
    std::printf("warning: the broker dropped %lld clicks before they were read (retention)\n",
                static_cast<long long>(clicks_low));
  }
  const int64_t to_process = f.events - clicks_low;

  // 2. The stores built from `clicks` (the reprocessing baseline).
  double build_s = 0, build_cpu_s = 0, user_build_s = 0;
  {
    const double cpu0 = bench::ProcessCpuSeconds();
    const auto t0 = Clock::now();
    auto user = StartUser(f, broker, user_dir);
    std::unique_ptr<RunningStage> item = f.item ? StartItem(broker, item_dir) : nullptr;
    while (user->runner->records_processed() < to_process) {
      user->Check();
      if (item) item->Check();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    user_build_s = Seconds(t0, Clock::now());
    // A clean stop commits every task, produces its changelog records and waits for
    // their acknowledgement: the changelog then holds the whole store.
    user->Stop();
    if (item) {
      int64_t lost = 0;
      const int64_t deltas = bench::SumHighWatermarksOrExit(probe->get(), broker.topics.cooc_deltas,
          f.partitions, &lost, kProgram);
      while (item->runner->records_processed() < deltas - lost) {
        item->Check();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      item->Stop();
    }
    build_s = Seconds(t0, Clock::now());
    build_cpu_s = bench::ProcessCpuSeconds() - cpu0;
  }
  const StoreDigest before = DigestUserStores(user_dir, f.partitions);
  const uint64_t disk_before = DirBytes(user_dir);
  BatchView item_before;
  if (f.item) {
    auto v = ReadItemStageState(item_dir, f.partitions);
    if (!v.ok()) Die("item state", v.status());
    item_before = std::move(v).value();
  }
  int64_t changelog_low = 0;
  const int64_t changelog_high = bench::SumHighWatermarksOrExit(probe->get(), broker.topics.user_changelog,
      f.partitions, &changelog_low, kProgram);
  std::printf("built: %lld events in %.1f s (user stage done at %.1f s; %.0f ev/s, %.0f ev/CPU-s, changelog "
              "writing included); user store: %lld entries, %.1f MB of keys and values, %.1f MB on disk; "
              "changelog %s: %lld records (offsets %lld..%lld)\n",
              static_cast<long long>(to_process), build_s, user_build_s, static_cast<double>(to_process) / user_build_s,
              static_cast<double>(to_process) / build_cpu_s, static_cast<long long>(before.entries),
              static_cast<double>(before.bytes) / 1e6, static_cast<double>(disk_before) / 1e6,
              broker.topics.user_changelog.c_str(), static_cast<long long>(changelog_high - changelog_low),
              static_cast<long long>(changelog_low), static_cast<long long>(changelog_high));
  std::fflush(stdout);

  // 3. Restores.
  std::printf("\n| restore | bare consume of the changelog s | records | MB | restore wall s | restore s (tasks) | "
              "records applied | records/s | MB/s | restore CPU s | store on disk MB | exact |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  std::vector<RestoreRow> rows;
  bool all_exact = true;
  for (int run = 1; run <= f.restores; ++run) {
    RestoreRow row;
    const ConsumeResult bare = BareConsume(broker, broker.topics.user_changelog, f.partitions);
    row.consume_s = bare.seconds;
    row.consume_records = bare.records;
    row.consume_bytes = bare.bytes;
    std::filesystem::remove_all(user_dir);
    if (f.item) std::filesystem::remove_all(item_dir);
    const double cpu0 = bench::ProcessCpuSeconds();
    const auto t0 = Clock::now();
    auto user = StartUser(f, broker, user_dir);
    std::unique_ptr<RunningStage> item = f.item ? StartItem(broker, item_dir) : nullptr;
    const auto give_up = Clock::now() + std::chrono::minutes(20);
    while (user->runner->changelog_counters().restores < f.partitions && Clock::now() < give_up) {
      user->Check();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    row.wall_s = Seconds(t0, Clock::now());
    row.cpu_s = bench::ProcessCpuSeconds() - cpu0;
    if (item) {
      while (item->runner->changelog_counters().restores < f.partitions && Clock::now() < give_up) {
        item->Check();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    // Nothing new to process: stop once the stage is ready (caught up).
    while (!user->runner->Readiness().ok() && Clock::now() < give_up) {
      user->Check();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    user->Stop();
    if (item) item->Stop();
    const runtime::ChangelogCounters counters = user->runner->changelog_counters();
    row.restores = counters.restores;
    row.restore_s = counters.restore_seconds;
    row.records = counters.restored_records;
    row.disk_bytes = DirBytes(user_dir);
    row.exact = counters.restores == f.partitions && DigestUserStores(user_dir, f.partitions) == before;
    if (item) {
      const runtime::ChangelogCounters ic = item->runner->changelog_counters();
      row.item_restore_s = ic.restore_seconds;
      row.item_records = ic.restored_records;
      auto v = ReadItemStageState(item_dir, f.partitions);
      row.item_exact = ic.restores == f.partitions && v.ok() && v->events == item_before.events &&
                       v->item_counts == item_before.item_counts && v->pair_counts == item_before.pair_counts;
    }
    all_exact = all_exact && row.exact && row.item_exact;
    std::printf("| %d | %.2f | %lld | %.1f | %.2f | %.2f | %lld | %.0f | %.1f | %.2f | %.1f | %s |\n", run,
                row.consume_s, static_cast<long long>(row.consume_records), static_cast<double>(row.consume_bytes) / 1e6,
                row.wall_s, row.restore_s, static_cast<long long>(row.records),
                static_cast<double>(row.records) / row.restore_s,
                static_cast<double>(row.consume_bytes) / 1e6 / row.restore_s, row.cpu_s,
                static_cast<double>(row.disk_bytes) / 1e6, row.exact ? "yes" : "NO");
    if (item) {
      std::printf("  item stage: %lld records restored in %.2f s, exact=%s\n", static_cast<long long>(row.item_records),
                  row.item_restore_s, row.item_exact ? "yes" : "NO");
    }
    std::fflush(stdout);
    rows.push_back(row);
  }
  std::vector<double> wall, restore, rps, mbps, consume_rps, consume_mbps;
  for (const RestoreRow& r : rows) {
    if (!r.exact) continue;
    wall.push_back(r.wall_s);
    restore.push_back(r.restore_s);
    rps.push_back(static_cast<double>(r.records) / r.restore_s);
    mbps.push_back(static_cast<double>(r.consume_bytes) / 1e6 / r.restore_s);
    consume_rps.push_back(static_cast<double>(r.consume_records) / r.consume_s);
    consume_mbps.push_back(static_cast<double>(r.consume_bytes) / 1e6 / r.consume_s);
  }
  std::printf("\nmedian of %zu exact restores (of %zu): restore %.2f s (tasks), %.2f s wall from start; %.0f records/s, "
              "%.1f MB/s; bare consume of the same changelog %.0f records/s, %.1f MB/s (restore/consume %.2f); "
              "rebuilding from %lld clicks instead: %.1f s (%.1fx the restore)\n",
              wall.size(), rows.size(), Median(restore), Median(wall), Median(rps), Median(mbps), Median(consume_rps),
              Median(consume_mbps), Median(rps) / std::max(1.0, Median(consume_rps)), static_cast<long long>(to_process),
              user_build_s, user_build_s / std::max(1e-9, Median(restore)));
  return all_exact ? 0 : 1;
}

}  // namespace
}  // namespace streamrec::operators

int main(int argc, char** argv) { return streamrec::operators::Main(argc, argv); }
