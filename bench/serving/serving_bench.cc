// Serving benchmarks.
//   serving_bench snapshot --items N --store DIR     train a small model over N items and
//                                                    write two snapshot versions
//   serving_bench snapshot ... --ranker-lists L     the same, each version also carrying a
//                                                    ranker (ranker.bin) trained on L random
//                                                    candidate lists (L >= 16: one Adam step)
//   serving_bench ranker --store DIR [--items N] [--n 2000] [--rounds 5] [--k 10]
//                                                    the ranking stage's CPU per request:
//                                                    serving.ranker.enabled off and on over
//                                                    the same tables, model and requests
//   serving_bench swap --store DIR [--ann hnsw]      swap time and memory of v1 → v2, and
//                                                    when its HNSW graph is ready
//   serving_bench index --store DIR [--configs M:efC:ef,...] [--k 120] [--queries 500]
//                                                    HNSW build time, recall@k against the
//                                                    exact scan, µs per search
//   serving_bench serve --items N --store DIR        HTTP API on 127.0.0.1:PORT (printed)
//                                                    until stdin closes (for wrk)
//   serving_bench load --port P --rate R --seconds S open-loop GETs at R req/s: latency
//                                                    percentiles from the scheduled send time
//   serving_bench route --rate R --seconds S [--items N] [--connections C]
//                                                    two replicas (HTTP APIs, routing on) in
//                                                    one process, A owning clicks partitions
//                                                    0-1, B 2-3 of 4: open-loop GETs at R
//                                                    req/s to A for random users; latency
//                                                    percentiles of the requests A answers
//                                                    itself and of those it forwards to B
//   serving_bench kafka --items N [--store DIR] --rate R --seconds S [--brokers B]
//                       [--property K=V]
//                                                    requests on rec-requests, answers on
//                                                    recommendations: latency percentiles; on
//                                                    the embedded broker, or on the Kafka
//                                                    cluster B (topics created, 4 partitions);
//                                                    exit 1 unless every request was answered
//   serving_bench neighbors [--items 20000] [--neighbors 200] [--long-ids 0|1] [--n 2000]
//                       [--rounds 3]
//                                                    the neighbour table's bytes (gauge, RSS)
//                                                    per neighbour; CPU µs per Recommend over
//                                                    lists that long; a digest of the answers
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "core/id_hash.h"
#include "serving/http_api.h"
#include "serving/serving_members.h"
#include "serving/serving_operator.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/topic_admin.h"
#include "streams/topics.h"
#include "serving/ranker_features.h"
#include "serving/recommendation_service.h"
#include "serving/two_tower_loader.h"
#include "training/ranker.h"
#include "training/ranker_trainer.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec::serving {
namespace {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}
std::string Get(const std::map<std::string, std::string>& f, const std::string& k,
                const std::string& def) {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

// Resident and peak memory from /proc/self/status, in MiB.
double ProcStatusMiB(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0;
}

std::string ItemId(int64_t i) { return "i" + std::to_string(i); }
std::string UserId(int64_t u) { return "u" + std::to_string(u); }

int Snapshot(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "/tmp/serving-bench-store");
  training::TrainerOptions o;
  o.model.item_capacity = items;
  o.model.user_capacity = 10000;
  o.batch_size = 1024;
  o.model_dir = store;
  o.device = "cpu";
  o.keep_snapshots = 0;
  o.resume = false;
  auto trainer = training::Trainer::Create(o);
  if (!trainer.ok()) {
    std::cerr << trainer.status().ToString() << "\n";
    return 1;
  }
  std::mt19937_64 rng(7);
  for (int version = 0; version < 2; ++version) {
    for (int64_t i = 0; i < items; ++i) {
      TrainingExample e;
      e.user_id = UserId(static_cast<int64_t>(rng() % 10000));
      e.user_key = HashId(e.user_id);
      e.item_id = ItemId(i);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1700000000000 + i;
      for (int h = 1; h <= 5; ++h) {
        e.history_keys.push_back(HashId(ItemId((i + h * 7) % items)));
        e.history_ts_ms.push_back(e.ts_ms - h * 1000);
      }
      Status st = (*trainer)->AddExample(e);
      if (!st.ok()) {
        std::cerr << st.ToString() << "\n";
        return 1;
      }
    }
    // With --ranker-lists: random candidate lists (100 × the ranker's features in [0, 1),
    // the positive the best by a fixed linear score), so the snapshot carries a ranker
    // whose weights moved from their initialisation.
    const int64_t lists = std::stoll(Get(f, "--ranker-lists", "0"));
    for (int64_t l = 0; l < lists; ++l) {
      training::RankingList list;
      list.features.resize(100 * kRankerFeatures);
      double best = -1;
      for (size_t c = 0; c < 100; ++c) {
        double score = 0;
        for (int64_t j = 0; j < kRankerFeatures; ++j) {
          const float x = static_cast<float>(rng() % 1000) / 1000.0f;
          list.features[c * kRankerFeatures + static_cast<size_t>(j)] = x;
          score += (j % 3 == 0 ? 1.0 : -0.5) * x;
        }
        if (score > best) best = score, list.positive = c;
      }
      Status st = (*trainer)->AddRankingList(list, kRankerFeatures);
      if (!st.ok()) {
        std::cerr << st.ToString() << "\n";
        return 1;
      }
    }
    auto m = (*trainer)->WriteSnapshot(1800000000000 + version);
    if (!m.ok()) {
      std::cerr << m.status().ToString() << "\n";
      return 1;
    }
    std::printf("wrote %s: %lld items, dim %lld\n", m->dir.c_str(),
                static_cast<long long>(m->num_items), static_cast<long long>(m->model.output_dim));
  }
  return 0;
}

TwoTowerLoaderOptions LoaderOptions(const std::map<std::string, std::string>& f) {
  TwoTowerLoaderOptions o;
  const std::string ann = Get(f, "--ann", "auto");
  if (ann == "hnsw") o.index.kind = EmbeddingIndexOptions::Kind::kHnsw;
  if (ann == "exact") o.index.kind = EmbeddingIndexOptions::Kind::kExact;
  // HNSW parameters (defaults: EmbeddingIndexOptions's).
  o.index.hnsw_m = std::stoi(Get(f, "--m", std::to_string(o.index.hnsw_m)));
  o.index.hnsw_ef_construction =
      std::stoi(Get(f, "--efc", std::to_string(o.index.hnsw_ef_construction)));
  o.index.hnsw_ef_search = std::stoi(Get(f, "--ef", std::to_string(o.index.hnsw_ef_search)));
  o.index.hnsw_build_threads =
      std::stoi(Get(f, "--build-threads", std::to_string(o.index.hnsw_build_threads)));
  o.index.hnsw_background_build =
      Get(f, "--background", o.index.hnsw_background_build ? "1" : "0") == "1";
  return o;
}

int Swap(const std::map<std::string, std::string>& f) {
  const std::string store = Get(f, "--store", "/tmp/serving-bench-store");
  const auto versions = training::ListSnapshotVersions(store);
  if (versions.size() < 2) {
    std::cerr << "need two snapshots in " << store << "\n";
    return 1;
  }
  AspiredVersionsManager<TwoTowerModel> manager(AspiredVersionsManagerOptions{"bench"});
  const double rss0 = ProcStatusMiB("VmRSS");
  for (size_t i = 0; i < 2; ++i) {
    const int64_t v = versions[versions.size() - 2 + i];
    std::vector<AspiredVersion<TwoTowerModel>> aspired;
    aspired.push_back({v, std::make_unique<TwoTowerSnapshotLoader>(
                              training::SnapshotDirName(store, v), v, "", LoaderOptions(f),
                              nullptr)});
    const auto start = Clock::now();
    Status st = manager.SetAspiredVersions(std::move(aspired));
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    if (!st.ok()) {
      std::cerr << st.ToString() << "\n";
      return 1;
    }
    auto handle = manager.GetServableHandle();
    const EmbeddingIndex& index = (*handle)->index();
    std::printf("swap to v%lld (%s, %zu items): %.3f s, answering with %s; RSS %.1f MiB (before "
                "any model %.1f), peak %.1f MiB\n",
                static_cast<long long>(v), Get(f, "--ann", "auto").c_str(),
                (*handle)->items().size(), s, index.active_kind(), ProcStatusMiB("VmRSS"), rss0,
                ProcStatusMiB("VmHWM"));
    // A background HNSW build (serving.hnsw.background) finishes after the swap; the
    // first version's is cancelled by the second swap, so only the last one is awaited.
    if (i == 0) continue;
    Status built = index.WaitUntilBuilt();
    std::printf("  v%lld index ready (%s%s) %.3f s after the swap started; peak %.1f MiB\n",
                static_cast<long long>(v), index.active_kind(),
                built.ok() ? "" : (", " + built.ToString()).c_str(),
                std::chrono::duration<double>(Clock::now() - start).count(),
                ProcStatusMiB("VmHWM"));
  }
  return 0;
}

// CPU time of the process (all threads), µs.
double ProcessCpuUs();

// The ANN index against the exact scan, on a real snapshot: queries are the user tower's
// outputs for --queries users with random 20-item windows (as `serve` fills them); per
// HNSW configuration (--configs M:efC:ef,... built in the foreground on --build-threads),
// the build's wall and CPU seconds, recall@k (the share of the exact top k that the
// index returns, averaged over queries) and CPU µs per search (one thread, process CPU
// time, so other processes on the machine count less than in wall time); the same for
// the plain float scan (the reference answers) and the exact index. k defaults to 120:
// the recommender asks for two_tower_candidates (100) + the user's seen items (~20 here).
int IndexBench(const std::map<std::string, std::string>& f) {
  const std::string store = Get(f, "--store", "/tmp/serving-bench-store");
  const size_t k = std::stoul(Get(f, "--k", "120"));
  const int queries = std::stoi(Get(f, "--queries", "500"));
  const auto versions = training::ListSnapshotVersions(store);
  if (versions.empty()) {
    std::cerr << "no snapshot in " << store << "\n";
    return 1;
  }
  TwoTowerLoaderOptions lo = LoaderOptions(f);
  lo.index.kind = EmbeddingIndexOptions::Kind::kExact;
  auto model = TwoTowerSnapshotLoader(training::SnapshotDirName(store, versions.back()),
                                      versions.back(), "", lo, nullptr)
                   .Load();
  if (!model.ok()) {
    std::cerr << model.status().ToString() << "\n";
    return 1;
  }
  const ItemEmbeddings& items = (*model)->items();
  const int64_t n = static_cast<int64_t>(items.size());
  std::mt19937_64 rng(11);
  std::vector<std::vector<float>> q;
  for (int u = 0; u < queries; ++u) {
    std::vector<HistoryEntry> window;
    for (int h = 0; h < 20; ++h) {
      HistoryEntry e;
      e.item_id = ItemId(static_cast<int64_t>(rng() % static_cast<uint64_t>(n)));
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1700000000000 + h * 1000;
      window.push_back(e);
    }
    auto v = (*model)->user_encoder().Encode(UserId(u), window);
    if (!v.ok()) {
      std::cerr << v.status().ToString() << "\n";
      return 1;
    }
    q.push_back(std::move(v).value());
  }
  const auto search_all = [&](const EmbeddingIndex& index,
                              std::vector<std::vector<EmbeddingIndex::Hit>>* out) {
    out->clear();
    const double start = ProcessCpuUs();
    for (const auto& v : q) out->push_back(index.Search(v.data(), k));
    return (ProcessCpuUs() - start) / static_cast<double>(q.size());
  };
  // The reference: every item scored in float, the best k (ties by row) — the plain scan
  // the exact index ran before its int8 pre-scan.
  std::vector<std::vector<EmbeddingIndex::Hit>> truth;
  const double plain_start = ProcessCpuUs();
  for (const auto& v : q) {
    std::vector<EmbeddingIndex::Hit> all(static_cast<size_t>(n));
    for (size_t r = 0; r < all.size(); ++r) all[r] = {r, items.Dot(v.data(), r)};
    const size_t kk = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kk), all.end(),
                      [](const EmbeddingIndex::Hit& a, const EmbeddingIndex::Hit& b) {
                        return a.score != b.score ? a.score > b.score : a.row < b.row;
                      });
    all.resize(kk);
    truth.push_back(std::move(all));
  }
  const double plain_us = (ProcessCpuUs() - plain_start) / static_cast<double>(q.size());
  const auto recall = [&](const std::vector<std::vector<EmbeddingIndex::Hit>>& got) {
    size_t found = 0, wanted = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      wanted += truth[i].size();
      for (const auto& t : truth[i]) {
        for (const auto& g : got[i]) found += g.row == t.row ? 1 : 0;
      }
    }
    return static_cast<double>(found) / static_cast<double>(wanted);
  };
  // The exact index with and without its int16 pre-scan (the same answers expected),
  // timed in alternation, 3 rounds each; median CPU µs per search.
  const auto identical = [&](const std::vector<std::vector<EmbeddingIndex::Hit>>& got) {
    size_t same_answers = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      bool same = got[i].size() == truth[i].size();
      for (size_t j = 0; same && j < truth[i].size(); ++j) {
        same = got[i][j].row == truth[i][j].row && got[i][j].score == truth[i][j].score;
      }
      same_answers += same ? 1 : 0;
    }
    return same_answers;
  };
  std::printf("%lld items, dim %d, %d queries, k %zu (reference: every item scored, %.0f CPU us "
              "per search)\n",
              static_cast<long long>(n), items.dim(), queries, k, plain_us);
  for (bool prescan : {false, true}) {
    EmbeddingIndexOptions o = lo.index;
    o.exact_int16_prescan = prescan;
    auto index = NewEmbeddingIndex((*model)->shared_items(), o);
    if (!index.ok()) return 1;
    std::vector<std::vector<EmbeddingIndex::Hit>> got;
    std::vector<double> us;
    for (int round = 0; round < 3; ++round) us.push_back(search_all(**index, &got));
    std::sort(us.begin(), us.end());
    std::printf("exact, %s: median %.0f CPU us per search (rounds %.0f %.0f %.0f); recall@%zu "
                "%.4f, identical answers %zu/%zu\n",
                prescan ? "int16 pre-scan" : "plain float scan", us[1], us[0], us[1], us[2], k,
                recall(got), identical(got), q.size());
    std::fflush(stdout);
  }
  std::string configs = Get(f, "--configs", "16:100:100");  // "none": no HNSW
  for (size_t pos = 0; configs != "none" && pos < configs.size();) {
    size_t end = configs.find(',', pos);
    if (end == std::string::npos) end = configs.size();
    const std::string c = configs.substr(pos, end - pos);
    pos = end + 1;
    EmbeddingIndexOptions o = lo.index;
    o.kind = EmbeddingIndexOptions::Kind::kHnsw;
    o.hnsw_background_build = false;
    if (std::sscanf(c.c_str(), "%d:%d:%d", &o.hnsw_m, &o.hnsw_ef_construction,
                    &o.hnsw_ef_search) != 3) {
      std::cerr << "--configs wants M:efC:ef,..., got '" << c << "'\n";
      return 2;
    }
    const double cpu0 = ProcessCpuUs();
    const auto start = Clock::now();
    auto index = NewEmbeddingIndex((*model)->shared_items(), o);
    const double build_s = std::chrono::duration<double>(Clock::now() - start).count();
    const double build_cpu_s = (ProcessCpuUs() - cpu0) / 1e6;
    if (!index.ok()) {
      std::cerr << index.status().ToString() << "\n";
      return 1;
    }
    std::vector<std::vector<EmbeddingIndex::Hit>> got;
    const double us = search_all(**index, &got);
    std::printf("hnsw M %d efC %d ef %d (%d build threads): build %.1f s wall, %.1f s CPU; "
                "recall@%zu %.4f; %.0f CPU us per search\n",
                o.hnsw_m, o.hnsw_ef_construction, o.hnsw_ef_search, o.hnsw_build_threads,
                build_s, build_cpu_s, k, recall(got), us);
    std::fflush(stdout);
  }
  return 0;
}

// Item i of the benches' catalogues (50 categories, 200 brands), put into `service`.
CatalogItem PutCatalogItem(RecommendationService* service, int64_t i, std::string id) {
  CatalogItem c;
  c.item_id = std::move(id);
  c.item_key = HashId(c.item_id);
  c.category = "cat" + std::to_string(i % 50);
  c.brand = "brand" + std::to_string(i % 200);
  service->catalog().Put(c);
  return c;
}

// Tables over i0..iN-1: 50 categories, 200 brands, 50 neighbours per item, stats for
// every item; 10k users with 20-item windows.
void FillTables(RecommendationService* service, int64_t items) {
  std::mt19937_64 rng(11);
  for (int64_t i = 0; i < items; ++i) {
    const CatalogItem c = PutCatalogItem(service, i, ItemId(i));
    ItemNeighbors nb;
    nb.item_id = c.item_id;
    nb.item_key = c.item_key;
    for (int j = 0; j < 50; ++j) {
      const std::string n = ItemId(static_cast<int64_t>(rng() % static_cast<uint64_t>(items)));
      nb.neighbors.push_back({HashId(n), n, 50.0 - j, 50.0 - j});
    }
    service->neighbors().Put(std::move(nb));
    ItemStats s;
    s.item_id = c.item_id;
    s.item_key = c.item_key;
    s.count = static_cast<double>(rng() % 1000);
    s.popularity = s.count;
    service->stats().Put(s);
  }
  for (int64_t u = 0; u < 10000; ++u) {
    for (int h = 0; h < 20; ++h) {
      const std::string item = ItemId(static_cast<int64_t>(rng() % static_cast<uint64_t>(items)));
      service->history().Record(HashId(UserId(u)), HashId(item), item, 1700000000000 + h * 1000);
    }
  }
  service->Publish();
  service->SetTablesLoaded(true);
}

// Loads the newest snapshot in `store` into `service`, then (with `wait_for_index`) waits
// for its index's background build. False, with the reason on stderr, when none loads.
bool LoadModel(RecommendationService* service, const std::string& store,
               const std::map<std::string, std::string>& f, bool wait_for_index) {
  Status st = service->models().SetAspiredVersions(
      AspiredVersionsInStore(store, LoaderOptions(f), nullptr));
  if (!st.ok() || service->models().version() == 0) {
    std::cerr << "no model: " << st.ToString() << "\n";
    return false;
  }
  if (!wait_for_index) return true;
  auto handle = service->models().GetServableHandle();
  if (Status built = (*handle)->index().WaitUntilBuilt(); !built.ok()) {
    std::cerr << "index: " << built.ToString() << "\n";
    return false;
  }
  return true;
}

int Serve(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "");
  RecommendationServiceOptions options;
  options.recommender.max_per_category = 5;
  RecommendationService service(options);
  FillTables(&service, items);
  if (!store.empty()) {
    // Serve from the finished index (a background HNSW build is awaited).
    if (!LoadModel(&service, store, f, /*wait_for_index=*/true)) return 1;
    std::printf("index %s\n", (*service.models().GetServableHandle())->index().active_kind());
  }
  HttpApiOptions http;
  http.threads = std::stoi(Get(f, "--threads", "8"));
  http.max_queued_connections = std::stoi(Get(f, "--max-queued", "64"));
  http.port = std::stoi(Get(f, "--port", "0"));
  HttpApi api(http, &service, [](const std::vector<ClickEvent>&) { return Status::Ok(); });
  Status st = api.Start();
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::printf("PORT %d items %lld model_version %lld\n", api.port(),
              static_cast<long long>(items), static_cast<long long>(service.models().version()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  api.Stop();
  return 0;
}


size_t ServiceAnswerSize(const RecommendationService& service, const RecRequest& r) {
  return service.Recommend(r)->items.size();
}

// CPU time of the process (all threads: LibTorch may run ops on its own pool), µs.
double ProcessCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// The user embedding cache (serving/user_embedding_cache.h): all channels, requests from
// --repeat-users distinct users (each asks about n / repeat-users times), cache off and
// on in alternating rounds of the same run; CPU µs per Recommend (the process's CPU
// time, so other processes on the machine count less than in wall time), median of the
// rounds.
int MicroCache(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "");
  const int n = std::stoi(Get(f, "--n", "2000"));
  const int users = std::stoi(Get(f, "--repeat-users", "100"));
  const int rounds = std::stoi(Get(f, "--rounds", "5"));
  if (store.empty() || users <= 0 || rounds <= 0) return 0;
  std::unique_ptr<RecommendationService> services[2];
  for (int c = 0; c < 2; ++c) {
    RecommendationServiceOptions options;
    options.recommender.max_per_category = 5;
    options.embedding_cache.max_entries = c == 0 ? 0 : 100'000;
    services[c] = std::make_unique<RecommendationService>(options);
    FillTables(services[c].get(), items);
    if (!LoadModel(services[c].get(), store, f, /*wait_for_index=*/false)) return 1;
  }
  // Off and on alternate every 50 requests (the same requests for both), so a change in
  // the machine's load mid-run hits both alike; per round, each side's CPU µs per request.
  std::vector<double> us[2];
  std::vector<double> saved;
  size_t answers[2] = {0, 0};
  for (int round = 0; round < rounds; ++round) {
    double total[2] = {0, 0};
    std::mt19937_64 rng(11 + round);
    for (int done = 0; done < n; done += 50) {
      std::vector<std::string> ids;
      for (int i = done; i < std::min(n, done + 50); ++i) {
        ids.push_back(UserId(static_cast<int64_t>(rng() % static_cast<uint64_t>(users))));
      }
      for (int c = 0; c < 2; ++c) {
        const double start = ProcessCpuUs();
        for (const std::string& id : ids) {
          RecRequest r;
          r.user_id = id;
          r.k = 20;
          answers[c] += ServiceAnswerSize(*services[c], r);
        }
        total[c] += ProcessCpuUs() - start;
      }
    }
    for (int c = 0; c < 2; ++c) us[c].push_back(total[c] / n);
    saved.push_back((total[0] - total[1]) / n);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::string rows[2];
  for (int c = 0; c < 2; ++c) {
    for (double x : us[c]) rows[c] += " " + std::to_string(static_cast<int>(x + 0.5));
  }
  std::printf("cache off  %lld items, %d users repeated: median %.0f CPU us per Recommend (rounds:%s)\n",
              static_cast<long long>(items), users, median(us[0]), rows[0].c_str());
  std::printf("cache on   %lld items, %d users repeated: median %.0f CPU us per Recommend (rounds:%s), %zu cached\n",
              static_cast<long long>(items), users, median(us[1]), rows[1].c_str(),
              services[1]->embedding_cache().size());
  std::printf("saved by the cache: median %.0f CPU us per Recommend (paired per round)\n",
              median(saved));
  if (answers[0] != answers[1]) {
    std::fprintf(stderr, "answers differ in size: %zu vs %zu\n", answers[0], answers[1]);
    return 1;
  }
  return 0;
}

// In-process cost of Recommend() (no HTTP), with each channel alone and all together.
int Micro(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "");
  const int n = std::stoi(Get(f, "--n", "2000"));
  if (Get(f, "--cache-only", "0") == "1") return MicroCache(f);
  // Default candidate counts; each single-channel variant switches the others off.
  const RecommenderOptions d;
  struct Variant {
    const char* name;
    bool cooc, tt, pop;
  };
  for (const Variant& v : {Variant{"all", true, true, true}, Variant{"cooc", true, false, false},
                           Variant{"two_tower", false, true, false},
                           Variant{"popular", false, false, true}}) {
    RecommendationServiceOptions options;
    options.recommender.max_per_category = 5;
    options.recommender.cooc_history_items = v.cooc ? d.cooc_history_items : 0;
    options.recommender.two_tower_candidates = v.tt ? d.two_tower_candidates : 0;
    options.recommender.two_tower_weight = v.tt ? d.two_tower_weight : 0;
    options.recommender.popular_candidates = v.pop ? d.popular_candidates : 0;
    RecommendationService service(options);
    FillTables(&service, items);
    if (!store.empty()) {
      Status st = service.models().SetAspiredVersions(
          AspiredVersionsInStore(store, LoaderOptions(f), nullptr));
      if (!st.ok()) std::cerr << st.ToString() << "\n";
    }
    std::mt19937_64 rng(3);
    const auto start = Clock::now();
    size_t returned = 0;
    for (int i = 0; i < n; ++i) {
      RecRequest r;
      r.user_id = UserId(static_cast<int64_t>(rng() % 10000));
      r.k = 20;
      returned += service.Recommend(r)->items.size();
    }
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
    std::printf("%-10s %lld items: %.0f us per Recommend (avg %zu returned)\n", v.name,
                static_cast<long long>(items), us, returned / n);
    if (std::string(v.name) != "all") continue;
    auto handle = service.models().GetServableHandle();
    if (!handle.ok()) continue;
    const TwoTowerModel& model = **handle;
    const std::vector<HistoryEntry> window = service.history().Get(HashId(UserId(1)));
    auto t1 = Clock::now();
    std::vector<float> u;
    for (int i = 0; i < n; ++i) u = *model.user_encoder().Encode(UserId(1), window);
    auto t2 = Clock::now();
    size_t hits = 0;
    for (int i = 0; i < n; ++i) hits += model.index().Search(u.data(), 120).size();
    auto t3 = Clock::now();
    std::printf("  user tower %.0f us, index search (k=120 over %zu) %.0f us\n",
                std::chrono::duration<double, std::micro>(t2 - t1).count() / n,
                model.items().size(),
                std::chrono::duration<double, std::micro>(t3 - t2).count() / n);
    (void)hits;
  }
  return MicroCache(f);
}

// The ranking stage's cost per request (issue 9 item 3; docs/DESIGN.md "The ranking
// stage"): two services over the same synthetic tables (FillTables) and the same model
// version (--store, written by `snapshot --ranker-lists L`, so it carries ranker.bin),
// serving.ranker.enabled false and true; the same requests (random users of the 10k,
// --k) to both, alternating every 50 requests so a change in the machine's load hits
// both alike. Per round, each side's CPU µs per Recommend (the process's CPU time:
// other processes on the machine count less than in wall time); the medians over
// --rounds, and the paired difference: what the ranker adds (features of the
// ranker_depth = 100 best candidates + the MLP over them). A third side, the ranker off
// with a RankerCapture (what a live ranking example costs: the features, no MLP),
// splits it. Then the two parts alone on random signals: RankerFeatures() for 100
// candidates from their gathered signals, RankerModel::Score() over them.
// Exit 1 when the model has no ranker or the ranker reordered no answer.
int RankerBench(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "");
  const int n = std::stoi(Get(f, "--n", "2000"));
  const int rounds = std::stoi(Get(f, "--rounds", "5"));
  const int64_t k = std::stoll(Get(f, "--k", "10"));
  if (store.empty() || n <= 0 || rounds <= 0) {
    std::cerr << "ranker: --store DIR (serving_bench snapshot --ranker-lists 64) needed\n";
    return 2;
  }
  // Off, on, off with a capture: three services, so each has its own user embedding
  // cache and sees the same requests.
  std::unique_ptr<RecommendationService> services[3];
  for (int c = 0; c < 3; ++c) {
    RecommendationServiceOptions options;
    options.recommender.ranker_enabled = c == 1;
    services[c] = std::make_unique<RecommendationService>(options);
    FillTables(services[c].get(), items);
    if (!LoadModel(services[c].get(), store, f, /*wait_for_index=*/true)) return 1;
  }
  auto handle = services[1]->models().GetServableHandle();
  const training::RankerModel* ranker = (*handle)->ranker();
  if (ranker == nullptr) {
    std::cerr << "the model in " << store << " carries no ranker (snapshot --ranker-lists 64)\n";
    return 1;
  }
  std::vector<double> us[3];  // off, on, off with a capture
  std::vector<double> added;
  size_t answers[3] = {0, 0, 0};
  size_t reordered = 0, requests = 0;
  for (int round = 0; round < rounds; ++round) {
    double total[3] = {0, 0, 0};
    std::mt19937_64 rng(11 + round);
    for (int done = 0; done < n; done += 50) {
      std::vector<RecRequest> batch;
      for (int i = done; i < std::min(n, done + 50); ++i) {
        RecRequest r;
        r.user_id = UserId(static_cast<int64_t>(rng() % 10000));
        r.k = k;
        batch.push_back(std::move(r));
      }
      std::vector<std::vector<uint64_t>> got[3];
      for (int c = 0; c < 3; ++c) {
        RankerCapture capture;
        const double start = ProcessCpuUs();
        for (const RecRequest& r : batch) {
          auto answer = services[c]->Recommend(r, c == 2 ? &capture : nullptr);
          std::vector<uint64_t> keys;
          if (answer.ok()) {
            for (const auto& item : answer->items) keys.push_back(item.item_key);
          }
          got[c].push_back(std::move(keys));
        }
        total[c] += ProcessCpuUs() - start;
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        answers[0] += got[0][i].size();
        answers[1] += got[1][i].size();
        answers[2] += got[2][i].size();
        reordered += got[0][i] != got[1][i] ? 1 : 0;
        ++requests;
      }
    }
    for (int c = 0; c < 3; ++c) us[c].push_back(total[c] / n);
    added.push_back((total[1] - total[0]) / n);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::string rows[3], added_row;
  for (int c = 0; c < 3; ++c) {
    for (double x : us[c]) rows[c] += " " + std::to_string(static_cast<int>(x + 0.5));
  }
  for (double x : added) added_row += " " + std::to_string(static_cast<int>(x + 0.5));
  const training::RankerShape& shape = ranker->shape();
  std::printf("%lld items, k %lld, %d requests x %d rounds; ranker %lld->%lld->%lld->1 "
              "(residual feature %lld), depth %zu\n",
              static_cast<long long>(items), static_cast<long long>(k), n, rounds,
              static_cast<long long>(shape.num_features), static_cast<long long>(shape.hidden1),
              static_cast<long long>(shape.hidden2), static_cast<long long>(shape.residual_feature),
              RecommenderOptions{}.ranker_depth);
  std::printf("ranker off: median %.0f CPU us per Recommend (rounds:%s)\n", median(us[0]),
              rows[0].c_str());
  std::printf("ranker on:  median %.0f CPU us per Recommend (rounds:%s)\n", median(us[1]),
              rows[1].c_str());
  std::printf("off, with a RankerCapture (features, no MLP): median %.0f CPU us per Recommend "
              "(rounds:%s)\n",
              median(us[2]), rows[2].c_str());
  std::printf("added by the ranker: median %.0f CPU us per Recommend (paired per round:%s); "
              "on/off %.2f; answers reordered %zu/%zu\n",
              median(added), added_row.c_str(), median(us[1]) / median(us[0]), reordered,
              requests);
  // The two parts alone, on random signals of 100 candidates (one list, n × rounds times).
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<RankerSignals> signals(100);
  for (size_t i = 0; i < signals.size(); ++i) {
    RankerSignals& s = signals[i];
    s.blend = 2 - 0.01 * static_cast<double>(i);
    s.sources = static_cast<uint8_t>(1 + rng() % 31);
    s.cooc = u01(rng);
    s.has_two_tower = (s.sources & kChannelTwoTower) != 0;
    s.two_tower = u01(rng);
    s.popularity = u01(rng);
    s.renewed = (s.sources & kChannelRenewed) != 0 ? u01(rng) : 0;
    s.trigger_recency = u01(rng);
    s.count = static_cast<double>(rng() % 1000);
    s.decayed = s.count * u01(rng);
    s.sampling_prob = 1e-4 * u01(rng);
    s.age_hours = 100 * u01(rng);
    s.category_affinity = u01(rng);
    s.brand_affinity = u01(rng);
  }
  std::vector<float> features, scores(signals.size());
  const int reps = n * rounds;
  double checksum = 0;
  const double f0 = ProcessCpuUs();
  for (int i = 0; i < reps; ++i) {
    RankerFeatures(signals, &features);
    checksum += features[static_cast<size_t>(i) % features.size()];
  }
  const double f1 = ProcessCpuUs();
  for (int i = 0; i < reps; ++i) {
    ranker->Score(features.data(), signals.size(), scores.data());
    checksum += scores[static_cast<size_t>(i) % scores.size()];
  }
  const double f2 = ProcessCpuUs();
  std::printf("alone, 100 candidates: RankerFeatures %.1f CPU us, RankerModel::Score %.1f CPU us "
              "per list (%d lists; checksum %.3g)\n",
              (f1 - f0) / reps, (f2 - f1) / reps, reps, checksum);
  if (answers[0] != answers[1] || answers[0] != answers[2]) {
    std::fprintf(stderr, "answers differ in size: %zu vs %zu vs %zu\n", answers[0], answers[1],
                 answers[2]);
    return 1;
  }
  if (reordered == 0) {
    std::fprintf(stderr, "the ranker reordered no answer\n");
    return 1;
  }
  return 0;
}

int Load(const std::map<std::string, std::string>& f) {
  const int port = std::stoi(Get(f, "--port", "0"));
  const double rate = std::stod(Get(f, "--rate", "1000"));
  const double seconds = std::stod(Get(f, "--seconds", "10"));
  const int connections = std::stoi(Get(f, "--connections", "4"));
  const std::string path = Get(f, "--path", "recs");
  std::vector<std::vector<double>> latencies(static_cast<size_t>(connections));
  std::atomic<int64_t> errors{0};
  const auto t0 = Clock::now() + std::chrono::milliseconds(100);
  const double per_conn_interval = connections / rate;  // seconds between one conn's sends
  const int64_t per_conn = static_cast<int64_t>(seconds * rate / connections);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      std::mt19937_64 rng(static_cast<uint64_t>(c) + 1);
      auto& lat = latencies[static_cast<size_t>(c)];
      lat.reserve(static_cast<size_t>(per_conn));
      for (int64_t i = 0; i < per_conn; ++i) {
        const auto scheduled =
            t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                     (static_cast<double>(i) + static_cast<double>(c) / connections) *
                     per_conn_interval));
        std::this_thread::sleep_until(scheduled);
        const std::string url =
            path == "similar"
                ? "/v1/items/" + ItemId(static_cast<int64_t>(rng() % 10000)) + "/similar?k=20"
                : "/v1/recommendations?k=20&user_id=" + UserId(static_cast<int64_t>(rng() % 12000));
        auto res = client.Get(url.c_str());
        if (!res || res->status != 200) errors.fetch_add(1);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf("requests %zu in %.1f s (%.0f req/s offered, %.0f done/s), errors %lld; latency ms "
              "p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
              all.size(), elapsed, rate, all.size() / elapsed, static_cast<long long>(errors.load()),
              pct(0.5), pct(0.9), pct(0.99), pct(0.999), all.empty() ? 0.0 : all.back());
  return errors.load() == 0 ? 0 : 1;
}

// Owner forwarding (serving/README.md "Routing"): replica A answers the users of its
// partitions and forwards the others to B over loopback HTTP; both have the same tables
// and windows (FillTables), no model (cooc, popular, fallback channels).
int Route(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const double rate = std::stod(Get(f, "--rate", "1000"));
  const double seconds = std::stod(Get(f, "--seconds", "10"));
  const int connections = std::stoi(Get(f, "--connections", "8"));
  RecommendationServiceOptions options;
  options.recommender.max_per_category = 5;
  struct Replica {
    std::unique_ptr<RecommendationService> service;
    ServingMembers members;
    std::unique_ptr<HttpApi> api;
  };
  Replica replicas[2];
  for (Replica& r : replicas) {
    r.service = std::make_unique<RecommendationService>(options);
    FillTables(r.service.get(), items);
    HttpApiOptions http;
    http.threads = 8;
    http.members = &r.members;
    r.api = std::make_unique<HttpApi>(http, r.service.get(), [](const std::vector<ClickEvent>&) { return Status::Ok(); });
    if (Status st = r.api->Start(); !st.ok()) {
      std::cerr << st.ToString() << "\n";
      return 1;
    }
  }
  for (int i = 0; i < 2; ++i) {
    ServingMember m;
    m.replica_id = i == 0 ? "A" : "B";
    m.http_address = replicas[i].api->address();
    m.partitions = i == 0 ? std::vector<int32_t>{0, 1} : std::vector<int32_t>{2, 3};
    m.partition_count = 4;
    m.windows_loaded = true;
    m.announced_ms = 1;
    for (Replica& r : replicas) (void)r.members.Apply(m.replica_id, EncodeServingMember(m));
  }
  replicas[0].members.SetSelf("A");
  replicas[1].members.SetSelf("B");
  const int port = replicas[0].api->port();
  std::vector<std::vector<double>> local(static_cast<size_t>(connections)), forwarded(static_cast<size_t>(connections));
  std::atomic<int64_t> errors{0}, misrouted{0};
  const auto t0 = Clock::now() + std::chrono::milliseconds(200);
  const double per_conn_interval = connections / rate;
  const int64_t per_conn = static_cast<int64_t>(seconds * rate / connections);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      std::mt19937_64 rng(static_cast<uint64_t>(c) + 1);
      for (int64_t i = 0; i < per_conn; ++i) {
        const auto scheduled =
            t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                     (static_cast<double>(i) + static_cast<double>(c) / connections) * per_conn_interval));
        std::this_thread::sleep_until(scheduled);
        const std::string user = UserId(static_cast<int64_t>(rng() % 10000));
        const bool owned_by_a = PartitionForKey(user, 4) < 2;
        auto res = client.Get(("/v1/recommendations?k=20&user_id=" + user).c_str());
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count();
        if (!res || res->status != 200) {
          errors.fetch_add(1);
          continue;
        }
        const std::string route = res->get_header_value(kRouteHeader);
        if (route != (owned_by_a ? "local" : "forwarded")) misrouted.fetch_add(1);
        (owned_by_a ? local : forwarded)[static_cast<size_t>(c)].push_back(ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  auto report = [&](const char* name, std::vector<std::vector<double>>& per_conn_lat) {
    std::vector<double> all;
    for (auto& l : per_conn_lat) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
    };
    std::printf("%s requests %zu latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f\n", name, all.size(), pct(0.5),
                pct(0.9), pct(0.99), all.empty() ? 0.0 : all.back());
  };
  std::printf("route: %.0f req/s offered to A for %.1f s, %d connections, %lld items; errors %lld, misrouted %lld\n",
              rate, elapsed, connections, static_cast<long long>(items), static_cast<long long>(errors.load()),
              static_cast<long long>(misrouted.load()));
  report("local", local);
  report("forwarded", forwarded);
  for (Replica& r : replicas) r.api->Stop();
  return errors.load() == 0 && misrouted.load() == 0 ? 0 : 1;
}

// The Kafka request/response path on the embedded broker: requests produced to
// rec-requests at --rate for --seconds; latency = answer consumed − request produced.
int Kafka(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "10000"));
  const std::string store = Get(f, "--store", "");
  const double rate = std::stod(Get(f, "--rate", "1000"));
  const double seconds = std::stod(Get(f, "--seconds", "10"));
  ServingOperatorOptions options;
  options.brokers = Get(f, "--brokers", "");
  // --property K=V: one librdkafka property for every client here (operator and bench).
  KafkaProperties extra;
  if (const std::string kv = Get(f, "--property", ""); !kv.empty()) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "--property wants KEY=VALUE\n";
      return 2;
    }
    extra[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  options.kafka = extra;
  std::unique_ptr<EmbeddedBroker> embedded;
  if (options.brokers.empty()) {
    EmbeddedBrokerOptions bopts;
    bopts.default_partitions = 4;
    auto broker = EmbeddedBroker::Start(bopts);
    if (!broker.ok()) {
      std::cerr << broker.status().ToString() << "\n";
      return 1;
    }
    embedded = std::move(broker).value();
    options.brokers = embedded->bootstrap_servers();
  } else {
    // A real cluster: every topic the operator reads or writes, 4 partitions as above.
    TopicAdminOptions admin;
    admin.brokers = options.brokers;
    auto created = CreateTopics(admin, DefaultTopicSpecs(TopicNames{}, 4));
    if (!created.ok()) {
      std::cerr << created.status().ToString() << "\n";
      return 1;
    }
    for (const TopicCreateResult& r : *created) {
      if (!r.status.ok() && !r.already_existed) {
        std::cerr << r.name << ": " << r.status.ToString() << "\n";
        return 1;
      }
    }
  }
  options.serve_http = false;
  options.poll_timeout_ms = 5;
  options.service.recommender.max_per_category = 5;
  ServingOperator op(options);
  FillTables(&op.service(), items);
  if (!store.empty()) {
    Status st = op.service().models().SetAspiredVersions(
        AspiredVersionsInStore(store, LoaderOptions(f), nullptr));
    if (!st.ok()) std::cerr << st.ToString() << "\n";
  }
  Status st = op.Start();
  if (!st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  ProducerOptions popts;
  popts.brokers = options.brokers;
  popts.linger_ms = 0;
  popts.properties = extra;
  auto producer = KafkaProducer::Create(popts);
  ConsumerOptions copts;
  copts.brokers = options.brokers;
  copts.properties = extra;
  copts.properties["fetch.wait.max.ms"] = "5";  // the client side of the same trade-off
  auto consumer = KafkaConsumer::Create(copts);
  if (!producer.ok() || !consumer.ok()) return 1;
  std::vector<TopicPartitionOffset> tps;
  for (int32_t p = 0; p < 4; ++p) tps.push_back({"recommendations", p, kOffsetEnd});
  if (!(*consumer)->Assign(tps).ok()) return 1;
  // Warm up: wait until the operator answers (group join takes a few seconds).
  std::vector<Record> batch;
  for (int i = 0; i < 300 && op.kafka_requests_answered() == 0; ++i) {
    (void)(*producer)->Produce("rec-requests", "u1", R"({"request_id":"warmup","user_id":"u1"})");
    (*producer)->Poll(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    batch.clear();
    (void)(*consumer)->PollBatch(1000, 0, &batch);
  }
  const int64_t total = static_cast<int64_t>(rate * seconds);
  std::map<int64_t, Clock::time_point> sent;
  std::vector<double> lat;
  const auto t0 = Clock::now();
  std::mt19937_64 rng(5);
  int64_t next = 0;
  while (static_cast<int64_t>(lat.size()) < total &&
         Clock::now() - t0 < std::chrono::duration<double>(seconds + 30)) {
    const auto now = Clock::now();
    while (next < total &&
           t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(next / rate)) <= now) {
      const std::string user = UserId(static_cast<int64_t>(rng() % 12000));
      const std::string req = "{\"request_id\":\"" + std::to_string(next) + "\",\"user_id\":\"" + user + "\",\"k\":20}";
      sent[next] = Clock::now();
      (void)(*producer)->Produce("rec-requests", user, req);
      ++next;
    }
    (*producer)->Poll(0);
    batch.clear();
    (void)(*consumer)->PollBatch(1000, 1, &batch);
    for (const Record& r : batch) {
      const auto pos = r.value.find("\"request_id\":\"");
      if (pos == std::string::npos) continue;
      const std::string id = r.value.substr(pos + 14, r.value.find('"', pos + 14) - pos - 14);
      if (id == "warmup") continue;
      auto it = sent.find(std::stoll(id));
      if (it == sent.end()) continue;
      lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - it->second).count());
      sent.erase(it);
    }
  }
  op.Stop();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  std::printf("kafka: %zu of %lld answered at %.0f req/s offered; latency ms p50 %.2f p90 %.2f "
              "p99 %.2f max %.2f\n",
              lat.size(), static_cast<long long>(total), rate, pct(0.5), pct(0.9), pct(0.99),
              lat.empty() ? 0.0 : lat.back());
  // A run that lost answers measured something else: discarded, not reported.
  if (static_cast<int64_t>(lat.size()) != total) {
    std::fprintf(stderr, "kafka: FAILED: %lld of %lld requests unanswered; discard this run\n",
                 static_cast<long long>(total - static_cast<int64_t>(lat.size())),
                 static_cast<long long>(total));
    return 1;
  }
  return 0;
}

// The neighbour table's memory and the cooc channel's CPU (issue 12 item 5):
//   1. a NeighborTable alone, filled with --items lists of --neighbors each (neighbour ids
//      "i<n>", or with --long-ids 1 "catalogue-item-<n>", past std::string's inline 15
//      chars): its bytes gauge and the process's RSS growth, per neighbour;
//   2. a service over --items items (catalogue, stats, these lists, 10k users with
//      20-item windows; no model: cooc and popular channels): CPU µs per Recommend
//      (the process's CPU time) over --n random users, per round, median of --rounds;
//      then a digest of every answer (ids, score bits, sources) and of Similar() for
//      --n items, equal across builds when the outputs are bit-identical.
int NeighborsBench(const std::map<std::string, std::string>& f) {
  const int64_t items = std::stoll(Get(f, "--items", "20000"));
  const int per_list = std::stoi(Get(f, "--neighbors", "200"));
  const int n = std::stoi(Get(f, "--n", "2000"));
  const int rounds = std::stoi(Get(f, "--rounds", "3"));
  const bool long_ids = Get(f, "--long-ids", "0") == "1";
  if (items <= 0 || per_list <= 0 || n <= 0 || rounds <= 0) return 2;
  const auto id_of = [&](int64_t i) {
    return long_ids ? "catalogue-item-" + std::to_string(i) : ItemId(i);
  };
  const auto list_of = [&](int64_t i, std::mt19937_64& rng) {
    ItemNeighbors nb;
    nb.item_id = id_of(i);
    nb.item_key = HashId(nb.item_id);
    nb.neighbors.reserve(per_list);
    for (int j = 0; j < per_list; ++j) {
      const std::string other = id_of(static_cast<int64_t>(rng() % static_cast<uint64_t>(items)));
      // Scores of a similarity (not small integers): their sums are what ordering reads.
      const double score = 1.0 / (1.0 + j + static_cast<double>(rng() % 1000) / 997.0);
      nb.neighbors.push_back({HashId(other), other, score, static_cast<double>(per_list - j)});
    }
    return nb;
  };
  {
    const double rss0 = ProcStatusMiB("VmRSS");
    NeighborTable table;
    std::mt19937_64 rng(5);
    for (int64_t i = 0; i < items; ++i) table.Put(list_of(i, rng));
    const double rss1 = ProcStatusMiB("VmRSS");
    const double total = static_cast<double>(items) * per_list;
    std::printf("neighbor table: %lld lists x %d (%s ids): gauge %.1f MiB = %.1f B per neighbour; "
                "RSS +%.1f MiB = %.1f B per neighbour\n",
                static_cast<long long>(items), per_list, long_ids ? "long" : "short",
                static_cast<double>(table.bytes()) / (1 << 20),
                static_cast<double>(table.bytes()) / total, rss1 - rss0,
                (rss1 - rss0) * (1 << 20) / total);
    std::fflush(stdout);
  }
  RecommendationServiceOptions options;
  options.recommender.max_per_category = 5;
  RecommendationService service(options);
  std::mt19937_64 rng(11);
  std::mt19937_64 list_rng(5);
  for (int64_t i = 0; i < items; ++i) {
    const CatalogItem c = PutCatalogItem(&service, i, id_of(i));
    service.neighbors().Put(list_of(i, list_rng));
    ItemStats s;
    s.item_id = c.item_id;
    s.item_key = c.item_key;
    s.count = static_cast<double>(rng() % 1000);
    s.popularity = s.count;
    service.stats().Put(s);
  }
  for (int64_t u = 0; u < 10000; ++u) {
    for (int h = 0; h < 20; ++h) {
      const std::string item = id_of(static_cast<int64_t>(rng() % static_cast<uint64_t>(items)));
      service.history().Record(HashId(UserId(u)), HashId(item), item, 1700000000000 + h * 1000);
    }
  }
  service.Publish();
  service.SetTablesLoaded(true);
  uint64_t digest = 0;
  const auto fold = [&](const std::vector<ScoredItem>& answer) {
    for (const ScoredItem& s : answer) {
      uint64_t bits = 0;
      std::memcpy(&bits, &s.score, sizeof(bits));
      digest = digest * 1099511628211ULL ^ HashId(s.item_id) ^ (bits * 31) ^ s.sources;
    }
  };
  std::vector<double> us;
  for (int round = 0; round < rounds; ++round) {
    std::mt19937_64 users(3 + round);
    const double start = ProcessCpuUs();
    for (int i = 0; i < n; ++i) {
      RecRequest r;
      r.user_id = UserId(static_cast<int64_t>(users() % 10000));
      r.k = 20;
      auto answer = service.Recommend(r);
      if (answer.ok()) fold(answer->items);
    }
    us.push_back((ProcessCpuUs() - start) / n);
  }
  for (int i = 0; i < n; ++i) {
    auto similar = service.Similar(id_of(i % items), 20);
    if (similar.ok()) fold(similar->items);
  }
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  std::printf("recommend: %lld items x %d neighbours: median %.0f CPU us per Recommend (rounds",
              static_cast<long long>(items), per_list, sorted[sorted.size() / 2]);
  for (double u : us) std::printf(" %.0f", u);
  std::printf("); answers digest %016llx\n", static_cast<unsigned long long>(digest));
  return 0;
}

}  // namespace
}  // namespace streamrec::serving

int main(int argc, char** argv) {
  using namespace streamrec::serving;
  if (argc < 2) {
    std::fprintf(stderr, "usage: serving_bench snapshot|swap|index|serve|load|micro|ranker|kafka|route|neighbors [--flag value]...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto flags = Flags(argc, argv);
  if (mode == "snapshot") return Snapshot(flags);
  if (mode == "swap") return Swap(flags);
  if (mode == "index") return IndexBench(flags);
  if (mode == "serve") return Serve(flags);
  if (mode == "load") return Load(flags);
  if (mode == "micro") return Micro(flags);
  if (mode == "ranker") return RankerBench(flags);
  if (mode == "kafka") return Kafka(flags);
  if (mode == "route") return Route(flags);
  if (mode == "neighbors") return NeighborsBench(flags);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
