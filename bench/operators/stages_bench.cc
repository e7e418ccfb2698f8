// Whole-system benchmark of the user and item stages on the embedded broker (issue 3):
//  - events/s through both stages for a backlog of N synthetic events (window N=20),
//    next to the bare consume rate of the same `clicks` topic in the same run (ratio);
//  - RocksDB write amplification and state size on disk per million events;
//  - freshness: produce time of an event -> the item stage's refresh of the neighbour
//    list it changed (probe pairs of fresh items injected into a live stream).
// Prints one markdown row per run. Usage: operators_stages_bench [--events N] [--runs R]
//   [--partitions P] [--window W] [--freshness-s S] [--no-throughput] [--no-freshness]
//   [--sync-commits on|off|both] [--changelog on|off|both]
//   [--brokers HOST:PORT] [--peer-totals] [--freshness-rate EVENTS_PER_S (default 2000)]
//   [--history u.data] [--batch]
// --brokers: a real Kafka cluster (e.g. scripts/kafka.sh start) instead of the embedded
// broker; every run creates its own topics (Admin API, replication 1) and groups there,
// named with a per-run suffix.
// --peer-totals: after each throughput run, one line "peer-input topic=... events=N" with
// the totals of the item stage's state (ours_*) and of the batch recomputation of the same
// events (batch_*): items, item weight, distinct pairs, pair weight. The clicks topic is
// left on the broker, so that bench/kstreams/run.sh runs its Kafka Streams peer on it.
// --history FILE: the backlog is a MovieLens u.data file (time order, as `streamrec
// replay` publishes it) instead of synthetic events; --events is its length.
// --batch: after each throughput run, the batch layer (issue 11) recomputes the same
// `clicks` topic (batch::ReadTopicInput + BuildBatchView, views only, the stages'
// options) and one line "batch run=... batch_eps=... stages_eps=..." compares it with
// the stages; exact=yes when its pair and item counts equal the item stage's state.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch/batch_input.h"
#include "batch/batch_job.h"
#include "core/metrics.h"
#include "operators/batch_view_store.h"
#include "streams/history_reader.h"
#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "runtime/stage_runner.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "bench/support/run_clock.h"
#include "bench/support/stages_broker.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"

namespace streamrec::operators {
namespace {

constexpr char kProgram[] = "operators_stages_bench";

using runtime::StageRunner;
using runtime::StageRunnerOptions;

using bench::Clock;
using bench::Seconds;

struct Flags {
  int64_t events = 1'000'000;
  int runs = 1;
  int partitions = 16;
  int window = 20;
  int freshness_s = 20;
  int freshness_rate = 2000;  // background events/s during the freshness probes
  bool throughput = true;
  bool freshness = true;
  std::string brokers;  // "" = the embedded broker
  // Stage commits synced (StageRunnerOptions::sync_commits); --sync-commits both runs
  // each throughput run twice, off and on (order alternating), on the same backlog seed.
  bool sync_commits = true;
  bool sync_both = false;
  // The stores' changelogs (StageRunnerOptions::changelog; the commands' default is off,
  // the chart turns it on: this bench measures the chart's setting by default);
  // --changelog both runs each throughput run twice, off and on (order alternating).
  bool changelog = true;
  bool changelog_both = false;
  bool peer_totals = false;
  std::string history;  // a MovieLens u.data file as the backlog
  bool batch = false;
};

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "streamrec-bench-XXXXXX").string();
    path = mkdtemp(t.data());
  }
  ~TempDir() {
    if (std::getenv("STREAMREC_KEEP_BENCH_DIR") == nullptr) std::filesystem::remove_all(path);
  }
};

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "operators_stages_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

using BenchBroker = bench::StagesBroker;

BenchBroker StartBroker(const Flags& f) {
  static int run = 0;  // each run's topics and groups on --brokers are its own
  auto b = bench::StartStagesBroker(f.brokers, f.partitions,
                                    ".bench-" + std::to_string(::getpid()) + "-" + std::to_string(run++));
  if (!b.ok()) Die("broker", b.status());
  return std::move(b).value();
}

const KafkaProperties kProps = {{"compression.type", "lz4"}};

struct Stages {
  std::unique_ptr<StageRunner> user, item;
  std::thread user_thread, item_thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> user_ended{false}, item_ended{false};
  Status user_status, item_status;

  Stages(const BenchBroker& broker, const std::string& state_dir, int partitions, int window,
         bool sync_commits, bool changelog) {
    UserStageOptions uo;
    uo.window.max_items = static_cast<size_t>(window);
    uo.item_partitions = partitions;
    uo.topics = broker.topics;
    ItemStageOptions io;
    io.topics = broker.topics;
    StageRunnerOptions ro;
    ro.brokers = broker.brokers;
    ro.properties = kProps;
    ro.state_dir = state_dir;
    ro.sync_commits = sync_commits;
    ro.changelog = changelog;
    ro.group_id = "bench-user" + broker.suffix;
    ro.changelog_topic = broker.topics.user_changelog;
    auto u = StageRunner::Create(UserStageTopology(uo), ro);
    if (!u.ok()) Die("user stage", u.status());
    ro.group_id = "bench-item" + broker.suffix;
    ro.changelog_topic = broker.topics.item_changelog;
    auto i = StageRunner::Create(ItemStageTopology(io), ro);
    if (!i.ok()) Die("item stage", i.status());
    user = std::move(u).value();
    item = std::move(i).value();
    user_thread = std::thread([this] {
      user_status = user->Run([this] { return stop.load(); });
      user_ended = true;
    });
    item_thread = std::thread([this] {
      item_status = item->Run([this] { return stop.load(); });
      item_ended = true;
    });
  }
  // Dies when a stage stopped on its own (an error), instead of waiting for it forever.
  void Check() {
    if (user_ended && !stop) {
      user_thread.join();
      Die("user stage ended", user_status);
    }
    if (item_ended && !stop) {
      item_thread.join();
      Die("item stage ended", item_status);
    }
  }
  void Stop() {
    stop = true;
    user_thread.join();
    item_thread.join();
    if (!user_status.ok()) Die("user stage run", user_status);
    if (!item_status.ok()) Die("item stage run", item_status);
  }
};

struct ThroughputResult {
  double produce_s = 0, baseline_eps = 0, stages_eps = 0, ratio = 0;
  double baseline_cpu_eps = 0, stages_cpu_eps = 0, cpu_ratio = 0, user_done_s = 0;
  double wa_user = 0, wa_item = 0, state_mb_per_m = 0;
  bool exact = false;
  int64_t dropped_by_broker = 0;
  int64_t deltas_dropped = 0;
  std::string clicks_topic;
  std::string totals;  // --peer-totals: "ours_... batch_..." (key=value pairs)
  std::string batch;   // --batch: the batch layer's line
};

// --history: the events of the file, in replay's order (loaded once).
const std::vector<ClickEvent>& HistoryEvents(const std::string& path) {
  static const std::vector<ClickEvent> events = [&] {
    HistoryReaderOptions o;
    o.format = HistoryFormat::kMovieLens;
    auto read = ReadHistoryFile(path, o, /*skip_bad=*/false, /*sort_by_time=*/true);
    if (!read.ok()) Die("--history", read.status());
    return std::move(read).value();
  }();
  return events;
}

// "PREFIX_events=... PREFIX_items=... PREFIX_item_weight=... PREFIX_pairs=... PREFIX_pair_weight=...".
std::string Totals(const std::string& prefix, const BatchView& v) {
  double item_weight = 0, pair_weight = 0;
  for (const auto& [k, w] : v.item_counts) item_weight += w;
  for (const auto& [k, w] : v.pair_counts) pair_weight += w;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s_events=%llu %s_items=%zu %s_item_weight=%.0f %s_pairs=%zu %s_pair_weight=%.0f",
                prefix.c_str(), static_cast<unsigned long long>(v.events), prefix.c_str(), v.item_counts.size(),
                prefix.c_str(), item_weight, prefix.c_str(), v.pair_counts.size(), prefix.c_str(), pair_weight);
  return buf;
}

ThroughputResult RunThroughput(const Flags& f, uint64_t seed) {
  ThroughputResult r;
  const BenchBroker broker = StartBroker(f);
  const TopicNames& topics = broker.topics;
  const std::string& brokers = broker.brokers;
  TempDir dir;
  r.clicks_topic = topics.clicks;
  std::vector<ClickEvent> produced;  // --peer-totals: for the batch recomputation

  // 1. The backlog.
  {
    ProducerOptions po;
    po.brokers = brokers;
    po.properties = kProps;
    po.properties["linger.ms"] = "20";
    auto producer = KafkaProducer::Create(po);
    if (!producer.ok()) Die("producer", producer.status());
    SyntheticOptions so;
    so.seed = seed;
    so.num_items = 20000;
    so.num_users = 20000;
    SyntheticClickGenerator gen(so);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < f.events; ++i) {
      ClickEvent e = f.history.empty() ? gen.Next() : HistoryEvents(f.history)[static_cast<size_t>(i)];
      Status st = (*producer)->Produce(topics.clicks, e.user_id, EncodeClickEvent(e));
      if (!st.ok()) Die("produce", st);
      if (f.peer_totals) produced.push_back(std::move(e));
    }
    Status st = (*producer)->Flush(120000);
    if (!st.ok()) Die("flush", st);
    r.produce_s = Seconds(t0, Clock::now());
  }
  ConsumerOptions co;
  co.brokers = brokers;
  auto probe = KafkaConsumer::Create(co);
  if (!probe.ok()) Die("consumer", probe.status());
  int64_t low = 0;
  bench::SumHighWatermarksOrExit(probe->get(), topics.clicks, f.partitions, &low, kProgram);
  r.dropped_by_broker = low;

  // 2. Baseline: consume the same topic, nothing else.
  {
    auto c = KafkaConsumer::Create(co);
    if (!c.ok()) Die("consumer", c.status());
    std::vector<TopicPartitionOffset> tps;
    for (int p = 0; p < f.partitions; ++p) tps.push_back({topics.clicks, p, kOffsetBeginning});
    if (Status st = (*c)->Assign(tps); !st.ok()) Die("assign", st);
    std::vector<Record> batch;
    int64_t n = 0;
    const auto t0 = Clock::now();
    const double cpu0 = bench::ProcessCpuSeconds();
    while (n < f.events - low) {
      batch.clear();
      auto got = (*c)->PollBatch(1000, 100, &batch);
      if (!got.ok()) Die("poll", got.status());
      n += static_cast<int64_t>(*got);
    }
    r.baseline_eps = static_cast<double>(n) / Seconds(t0, Clock::now());
    r.baseline_cpu_eps = static_cast<double>(n) / (bench::ProcessCpuSeconds() - cpu0);
  }

  // 3. Both stages on the backlog.
  const std::string state_dir = dir.path + "/state";
  const double cpu0 = bench::ProcessCpuSeconds();
  Stages stages(broker, state_dir, f.partitions, f.window, f.sync_commits, f.changelog);
  const auto t0 = Clock::now();
  while (stages.user->records_processed() < f.events - low) {
    stages.Check();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.user_done_s = Seconds(t0, Clock::now());
  // The user stage's last commit lands within one flush interval (plus, with synced
  // commits on a loaded machine, a round of fsyncs: 300 ms proved too short once); then
  // the item stage has consumed everything once it processed every cooc-delta message.
  // The run ends when the item stage applied its last message, not when this loop saw
  // that it had (the settling below takes at least 2 s, which is not the stages' time).
  int64_t item_seen = stages.item->records_processed();
  auto item_last_progress = Clock::now();
  auto note_item_progress = [&] {
    const int64_t n = stages.item->records_processed();
    if (n != item_seen) {
      item_seen = n;
      item_last_progress = Clock::now();
    }
  };
  // The cooc-delta topic's end is read again after the item stage reached it: a user-stage
  // commit that took longer than a settling second (a loaded machine, a large commit with
  // its changelog) would otherwise end the run before its messages were applied (such runs
  // came out inexact, the last commit's events missing).
  int64_t h = -1, lost = 0;
  const auto give_up = Clock::now() + std::chrono::seconds(900);
  for (;;) {
    int64_t prev = -2;
    while (h != prev) {
      prev = h;
      for (int i = 0; i < 200; ++i) {
        note_item_progress();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      h = bench::SumHighWatermarksOrExit(probe->get(), topics.cooc_deltas, f.partitions, &lost, kProgram);
    }
    while (stages.item->records_processed() < h - lost && Clock::now() < give_up) {
      stages.Check();
      note_item_progress();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (int i = 0; i < 200; ++i) {
      note_item_progress();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int64_t end = bench::SumHighWatermarksOrExit(probe->get(), topics.cooc_deltas, f.partitions, &lost, kProgram);
    if (end == h || Clock::now() >= give_up) break;
    h = end;
  }
  // Messages the embedded broker dropped (retention) before the item stage read them are
  // never processed; the run then reports exact = NO.
  r.deltas_dropped = lost;
  note_item_progress();
  const double elapsed = Seconds(t0, item_last_progress);
  const double cpu = bench::ProcessCpuSeconds() - cpu0;
  stages.Stop();
  r.stages_cpu_eps = static_cast<double>(f.events - low) / cpu;
  r.cpu_ratio = r.stages_cpu_eps / r.baseline_cpu_eps;
  r.stages_eps = static_cast<double>(f.events - low) / elapsed;
  r.ratio = r.stages_eps / r.baseline_eps;
  r.wa_user = stages.user->closed_task_stats().WriteAmplification();
  r.wa_item = stages.item->closed_task_stats().WriteAmplification();
  r.state_mb_per_m = static_cast<double>(DirBytes(state_dir)) / 1e6 / (static_cast<double>(f.events) / 1e6);
  auto view = ReadItemStageState(state_dir, f.partitions);
  r.exact = view.ok() && static_cast<int64_t>(view->events) == f.events - low;
  if (f.peer_totals && view.ok()) {
    UserWindowOptions wo;
    wo.max_items = static_cast<size_t>(f.window);
    const BatchView batch = ComputeBatchView(produced, wo, CoocOptions{});
    r.totals = Totals("ours", *view) + " " + Totals("batch", batch);
  }
  if (f.batch) {
    // The batch layer over the same topic, with the stages' options (views only).
    const double bcpu0 = bench::ProcessCpuSeconds();
    const auto b0 = Clock::now();
    batch::TopicInputOptions to;
    to.range.brokers = brokers;
    to.range.properties = kProps;
    to.range.topic = topics.clicks;
    auto input = batch::ReadTopicInput(to);
    if (!input.ok()) Die("batch read", input.status());
    const double read_s = Seconds(b0, Clock::now());
    batch::BatchJobOptions bo;
    bo.view.window.max_items = static_cast<size_t>(f.window);
    bo.root = dir.path + "/batch";
    auto m = batch::BuildBatchView(*input, bo);
    if (!m.ok()) Die("batch build", m.status());
    const double batch_s = Seconds(b0, Clock::now());
    const double batch_cpu = bench::ProcessCpuSeconds() - bcpu0;
    BatchView bview;
    Status st = ReadItemStateDb(m->dir + "/view", 0, 1, &bview);
    if (!st.ok()) Die("batch view", st);
    const bool exact = view.ok() && bview.pair_counts == view->pair_counts && bview.item_counts == view->item_counts;
    const double events = static_cast<double>(m->events);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "batch events=%lld read_s=%.2f recompute_write_s=%.2f batch_eps=%.0f batch_ev_per_cpu_s=%.0f "
                  "stages_eps=%.0f stages_ev_per_cpu_s=%.0f batch/stages=%.2f pairs=%lld exact=%s",
                  static_cast<long long>(m->events), read_s, batch_s - read_s, events / batch_s, events / batch_cpu,
                  r.stages_eps, r.stages_cpu_eps, events / batch_s / r.stages_eps, static_cast<long long>(m->pairs),
                  exact ? "yes" : "NO");
    r.batch = buf;
  }
  return r;
}

struct FreshnessResult {
  size_t probes = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

FreshnessResult RunFreshness(const Flags& f) {
  const BenchBroker broker = StartBroker(f);
  const TopicNames& topics = broker.topics;
  const std::string& brokers = broker.brokers;
  TempDir dir;
  Stages stages(broker, dir.path + "/state", f.partitions, f.window, f.sync_commits, f.changelog);

  ConsumerOptions co;
  co.brokers = brokers;
  auto c = KafkaConsumer::Create(co);
  if (!c.ok()) Die("consumer", c.status());
  std::vector<TopicPartitionOffset> tps;
  for (int p = 0; p < f.partitions; ++p) tps.push_back({topics.item_neighbors, p, kOffsetBeginning});
  if (Status st = (*c)->Assign(tps); !st.ok()) Die("assign", st);

  ProducerOptions po;
  po.brokers = brokers;
  po.linger_ms = 1;
  auto producer = KafkaProducer::Create(po);
  if (!producer.ok()) Die("producer", producer.status());

  std::map<std::string, int64_t> sent;  // probe item a -> produce time of its pair
  std::map<std::string, int64_t> latency;
  SyntheticClickGenerator gen(SyntheticOptions{});
  int k = 0;
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto drain = [&] {
    Record r;
    while (true) {
      auto got = (*c)->Poll(0, &r);
      if (!got.ok() || !*got) break;
      auto n = DecodeItemNeighbors(r.value);
      if (!n.ok()) continue;
      auto it = sent.find(n->item_id);
      if (it == sent.end() || latency.count(n->item_id)) continue;
      latency[n->item_id] = n->updated_ts_ms - it->second;
    }
  };
  // One 100 ms step: background load of freshness_rate / 10 events and one probe.
  auto step = [&] {
    for (int i = 0; i < f.freshness_rate / 10; ++i) {
      ClickEvent e = gen.Next();
      (void)(*producer)->Produce(topics.clicks, e.user_id, EncodeClickEvent(e));
    }
    // A probe: a fresh user clicks two fresh items; the pair exists only once both
    // stages applied the second click.
    const std::string user = "probe-user-" + std::to_string(k);
    const std::string a = "probe-a-" + std::to_string(k), b = "probe-b-" + std::to_string(k);
    ++k;
    ClickEvent e;
    e.user_id = user;
    e.item_id = b;
    e.event = EventType::kClick;
    e.ts_ms = now_ms();
    (void)(*producer)->Produce(topics.clicks, user, EncodeClickEvent(e));
    e.item_id = a;
    e.ts_ms += 1;
    const int64_t t_produce = now_ms();
    (void)(*producer)->Produce(topics.clicks, user, EncodeClickEvent(e));
    sent[a] = t_produce;
    (*producer)->Poll(0);
    const auto until = Clock::now() + std::chrono::milliseconds(100);
    while (Clock::now() < until) {
      drain();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  // Warm-up: both groups join and take their partitions (seconds on the mock broker);
  // measure only once a probe has made it all the way through, so that the figures
  // describe the running pipeline, not its start-up.
  const auto warm_deadline = Clock::now() + std::chrono::seconds(60);
  while (latency.empty() && Clock::now() < warm_deadline) step();
  sent.clear();
  latency.clear();
  const auto end = Clock::now() + std::chrono::seconds(f.freshness_s);
  const int first_measured = k;
  while (Clock::now() < end) step();
  const auto grace = Clock::now() + std::chrono::seconds(5);
  while (latency.size() < sent.size() && Clock::now() < grace) {
    drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stages.Stop();
  if (std::getenv("FRESHNESS_TRACE") != nullptr) {
    for (int i = first_measured; i < k; ++i) {
      auto it = latency.find("probe-a-" + std::to_string(i));
      std::fprintf(stderr, "probe %d: %lld ms\n", i, it == latency.end() ? -1LL : static_cast<long long>(it->second));
    }
  }
  std::vector<double> v;
  for (const auto& [id, ms] : latency) v.push_back(static_cast<double>(ms));
  // A probe never seen counts as slower than every seen one (not as missing data).
  for (size_t missing = latency.size(); missing < sent.size(); ++missing) {
    v.push_back(std::numeric_limits<double>::infinity());
  }
  std::sort(v.begin(), v.end());
  FreshnessResult r;
  r.probes = latency.size();
  if (!v.empty()) {
    r.p50_ms = v[v.size() / 2];
    r.p99_ms = v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * 0.99))];
    r.max_ms = v.back();
  }
  if (v.size() < sent.size()) {
    std::fprintf(stderr, "freshness: %zu of %zu probes seen\n", v.size(), sent.size());
  }
  return r;
}

}  // namespace
}  // namespace streamrec::operators

int main(int argc, char** argv) {
  using namespace streamrec::operators;
  spdlog::set_level(spdlog::level::warn);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--events") f.events = std::atoll(next());
    else if (a == "--runs") f.runs = std::atoi(next());
    else if (a == "--partitions") f.partitions = std::atoi(next());
    else if (a == "--window") f.window = std::atoi(next());
    else if (a == "--freshness-s") f.freshness_s = std::atoi(next());
    else if (a == "--no-throughput") f.throughput = false;
    else if (a == "--freshness-rate") f.freshness_rate = std::atoi(next());
    else if (a == "--no-freshness") f.freshness = false;
    else if (a == "--brokers") f.brokers = next();
    else if (a == "--peer-totals") f.peer_totals = true;
    else if (a == "--history") f.history = next();
    else if (a == "--batch") f.batch = true;
    else if (a == "--changelog") {
      const std::string v = next();
      if (v != "on" && v != "off" && v != "both") {
        std::fprintf(stderr, "--changelog takes on, off or both\n");
        return 2;
      }
      f.changelog = v != "off";
      f.changelog_both = v == "both";
    }
    else if (a == "--sync-commits") {
      const std::string v = next();
      if (v != "on" && v != "off" && v != "both") {
        std::fprintf(stderr, "--sync-commits takes on, off or both\n");
        return 2;
      }
      f.sync_commits = v != "off";
      f.sync_both = v == "both";
    } else {
      std::fprintf(stderr,
                   "usage: operators_stages_bench [--events N] [--runs R] [--partitions P] [--window W]\n"
                   "       [--freshness-s S] [--no-throughput] [--no-freshness] [--brokers HOST:PORT]\n"
                   "       [--sync-commits on|off|both] [--changelog on|off|both] [--peer-totals] [--freshness-rate EVENTS_PER_S]\n"
                   "       [--history u.data] [--batch]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!f.history.empty()) f.events = static_cast<int64_t>(HistoryEvents(f.history).size());
  int exit_code = 0;
  if (f.throughput) {
    std::printf("| run | sync | events | bare consume ev/s | both stages ev/s | ratio | bare ev/CPU-s | stages ev/CPU-s | CPU ratio | user stage done s | WA user | WA item | state MB / 1M ev | exact | clicks dropped by broker | cooc-delta msgs dropped by broker |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<ThroughputResult> results;
    std::vector<double> sync_ratios;  // --sync-commits both: stages ev/s on / off, per run
    for (int run = 0; run < f.runs; ++run) {
      // (sync, changelog) of each measurement of this run; with "both", off then on in
      // even runs, on then off in odd ones.
      std::vector<std::pair<bool, bool>> modes = {{f.sync_commits, f.changelog}};
      const bool first_on = run % 2 != 0;
      if (f.sync_both) modes = {{first_on, f.changelog}, {!first_on, f.changelog}};
      if (f.changelog_both) modes = {{f.sync_commits, first_on}, {f.sync_commits, !first_on}};
      double eps[2] = {0, 0};
      for (const auto& [sync, changelog] : modes) {
        Flags rf = f;
        rf.sync_commits = sync;
        rf.changelog = changelog;
        ThroughputResult r = RunThroughput(rf, 42 + static_cast<uint64_t>(run));
        results.push_back(r);
        eps[(f.changelog_both ? changelog : sync) ? 1 : 0] = r.stages_eps;
        const std::string mode = std::string(sync ? "on" : "off") + (changelog ? ", changelog" : ", no changelog");
        std::printf("| %d | %s | %lld | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f | %.1f | %.2f | %.2f | %.1f | %s | %lld | %lld |\n",
                    run + 1, mode.c_str(), static_cast<long long>(f.events), r.baseline_eps, r.stages_eps,
                    r.ratio, r.baseline_cpu_eps, r.stages_cpu_eps, r.cpu_ratio, r.user_done_s, r.wa_user, r.wa_item,
                    r.state_mb_per_m, r.exact ? "yes" : "NO", static_cast<long long>(r.dropped_by_broker),
                    static_cast<long long>(r.deltas_dropped));
        if (f.batch) std::printf("%s run=%d\n", r.batch.c_str(), run + 1);
        if (f.peer_totals) {
          std::printf("peer-input run=%d topic=%s events=%lld partitions=%d window=%d %s\n", run + 1,
                      r.clicks_topic.c_str(), static_cast<long long>(f.events), f.partitions, f.window,
                      r.totals.c_str());
        }
        std::fflush(stdout);
      }
      if ((f.sync_both || f.changelog_both) && eps[0] > 0) sync_ratios.push_back(eps[1] / eps[0]);
    }
    if (!sync_ratios.empty()) {
      std::sort(sync_ratios.begin(), sync_ratios.end());
      std::printf(f.changelog_both ? "\nchangelog / no changelog stages ev/s, per run:"
                                   : "\nsynced / unsynced stages ev/s, per run:");
      for (double x : sync_ratios) std::printf(" %.3f", x);
      std::printf("; median %.3f\n\n", sync_ratios[sync_ratios.size() / 2]);
    }
    // A run that dropped work (the embedded broker's retention ate unread messages, or
    // the item stage's state is not every event) is not a measurement: left out.
    std::vector<ThroughputResult> exact;
    for (const auto& r : results) {
      if (r.exact && r.deltas_dropped == 0 && r.dropped_by_broker == 0) exact.push_back(r);
    }
    if (exact.empty()) {
      std::printf("| median | no exact run: nothing to report (every run dropped or skipped work) |\n");
      exit_code = 3;
    }
    auto median = [&](auto field) {
      std::vector<double> v;
      for (const auto& r : exact) v.push_back(field(r));
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    if (!exact.empty() && exact.size() < results.size()) {
      std::printf("(%zu of %zu runs dropped work and are left out of the median)\n", results.size() - exact.size(),
                  results.size());
    }
    std::printf("| median (exact runs) | | | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f | | %.2f | %.2f | %.1f | | | |\n",
                median([](const ThroughputResult& r) { return r.baseline_eps; }),
                median([](const ThroughputResult& r) { return r.stages_eps; }),
                median([](const ThroughputResult& r) { return r.ratio; }),
                median([](const ThroughputResult& r) { return r.baseline_cpu_eps; }),
                median([](const ThroughputResult& r) { return r.stages_cpu_eps; }),
                median([](const ThroughputResult& r) { return r.cpu_ratio; }),
                median([](const ThroughputResult& r) { return r.wa_user; }),
                median([](const ThroughputResult& r) { return r.wa_item; }),
                median([](const ThroughputResult& r) { return r.state_mb_per_m; }));
  }
  if (std::getenv("STREAMREC_BENCH_METRICS") != nullptr) {
    std::string m = streamrec::SerializeMetrics();
    std::printf("%s\n", m.c_str());
  }
  if (f.freshness) {
    FreshnessResult r = RunFreshness(f);
    std::printf("\n| freshness probes | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n| %zu | %.0f | %.0f | %.0f |\n",
                r.probes, r.p50_ms, r.p99_ms, r.max_ms);
  }
  return exit_code;
}
