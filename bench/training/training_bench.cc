// Training benchmarks (issue 4):
//  1. Trainer throughput (examples/s) at batch 1024, dim 64, against a bare LibTorch
//     matmul + log-softmax + backward of the same [1024, 64] x [64, 1024] shapes in the
//     same process (the floor any in-batch-softmax trainer pays).
//  2. Snapshot write time and size with 100k known items.
// Each figure is the median of --runs runs. Usage:
//   training_bench [--runs 5] [--steps 30] [--items 100000] [--configs 5] [--snapshots 1]
// --configs N runs the first N of the five trainer settings (Adam and Adagrad, dense and
// sparse embedding tables, at 100k rows; dense Adam at 10k rows), each also profiled once
// by phase; --snapshots 0 skips part 2.
//  3. `training_bench online --data ml-100k/u.data [--snapshot-every 20] [--keep 2]
//     [--batch 1024] [--device auto] [--sparse 0|1]`: an online-training driver fed from a ratings file
//     (user, item, rating, time; tab-separated, MovieLens u.data) in time order, each
//     example with the user's last 20 items as history, snapshots every N steps with
//     retention; fails unless >= 3 snapshots were written and exactly `keep` are left.
//  4. `training_bench train-examples --examples FILE --out STORE [--epochs 5] [--device auto]
//     [--set key=value ...]`: trains the two-tower model exactly as `streamrec eval` does
//     (the served configuration's trainer.* settings, `epochs` passes over the examples),
//     on the examples `streamrec eval --examples-out FILE` wrote, and writes one snapshot
//     into the model store STORE; `streamrec eval --model-dir STORE` then serves it. Lets
//     a machine with a GPU and only the training-only build make the golden figure.
// The BLAS libraries the process loaded are printed first (LibTorch on Debian calls
// whatever libblas.so.3 resolves to: the reference BLAS or OpenBLAS).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/file_system.h"
#include "training/offline_examples.h"
#include "training/snapshot.h"
#include "training/trainer.h"
#include "training/trainer_config.h"

namespace {

using streamrec::TrainingExample;
using streamrec::training::Trainer;
using streamrec::training::TrainerOptions;
namespace fs = streamrec::file_system;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

// Zipf-ish synthetic stream: `users` users, `items` items, histories of 20.
std::vector<TrainingExample> MakeStream(size_t n, uint64_t users, uint64_t items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TrainingExample> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& e = out[i];
    e.user_key = 1 + rng() % users;
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    e.item_key = 1 + static_cast<uint64_t>(std::pow(static_cast<double>(items), u)) % items;
    e.ts_ms = static_cast<int64_t>(i);
    for (int h = 0; h < 20; ++h) {
      e.history_keys.push_back(1 + rng() % items);
      e.history_ts_ms.push_back(e.ts_ms - 20 + h);
    }
  }
  return out;
}

TrainerOptions BenchOptions(int64_t capacity) {
  TrainerOptions o;
  o.model.embedding_dim = 64;
  o.model.output_dim = 64;
  o.model.hidden_dim = 128;
  o.model.user_capacity = capacity;
  o.model.item_capacity = capacity;
  o.batch_size = 1024;
  o.device = "auto";
  return o;
}

// Examples/s of `steps` optimizer steps after 3 warm-up steps. With `phases` set, the
// steps are profiled (the device synchronised between phases) and their times returned.
double TrainerThroughput(int64_t capacity, int steps, const std::string& optimizer, bool sparse,
                         bool* cuda, streamrec::training::TrainerPhaseSeconds* phases = nullptr) {
  TrainerOptions o = BenchOptions(capacity);
  o.optimizer = optimizer;
  o.embedding_updates = sparse ? "sparse" : "dense";
  o.profile_phases = phases != nullptr;
  auto trainer = Trainer::Create(o);
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    std::exit(1);
  }
  *cuda = (*trainer)->on_cuda();
  const size_t b = 1024;
  auto stream = MakeStream(b * (steps + 3), capacity, capacity, 1);
  size_t i = 0;
  for (; i < 3 * b; ++i) (void)(*trainer)->AddExample(stream[i]);  // warm-up
  if (*cuda) torch::cuda::synchronize();
  const streamrec::training::TrainerPhaseSeconds warm = (*trainer)->phase_seconds();
  auto start = std::chrono::steady_clock::now();
  for (; i < stream.size(); ++i) (void)(*trainer)->AddExample(stream[i]);
  if (*cuda) torch::cuda::synchronize();
  const double seconds = Seconds(start);
  if (phases != nullptr) {
    *phases = (*trainer)->phase_seconds();
    phases->lookup -= warm.lookup;
    phases->assemble -= warm.assemble;
    phases->transfer -= warm.transfer;
    phases->forward -= warm.forward;
    phases->backward -= warm.backward;
    phases->optimizer -= warm.optimizer;
    phases->loss_read -= warm.loss_read;
    phases->steps -= warm.steps;
  }
  return static_cast<double>(b) * steps / seconds;
}

double BareThroughput(int steps, bool cuda) {
  torch::Device dev = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  auto u = torch::randn({1024, 64}, torch::TensorOptions().device(dev).requires_grad(true));
  auto v = torch::randn({1024, 64}, torch::TensorOptions().device(dev).requires_grad(true));
  auto run = [&] {
    auto logits = torch::matmul(u, v.t()) / 0.05;
    auto loss = -torch::log_softmax(logits, 1).diagonal().mean();
    loss.backward();
  };
  for (int i = 0; i < 3; ++i) run();
  if (cuda) torch::cuda::synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) run();
  if (cuda) torch::cuda::synchronize();
  return 1024.0 * steps / Seconds(start);
}

void SnapshotBench(int64_t items, int runs, bool sparse, double* seconds, double* mbytes) {
  TrainerOptions o = BenchOptions(items);
  o.embedding_updates = sparse ? "sparse" : "dense";
  auto tmp = fs::MakeTempDirectory("streamrec-bench-");
  if (!tmp.ok()) {
    std::fprintf(stderr, "%s\n", tmp.status().ToString().c_str());
    std::exit(1);
  }
  const std::string store = *tmp;
  o.model_dir = store;
  o.keep_snapshots = 1;
  o.resume = false;
  auto trainer = Trainer::Create(o);
  if (!trainer.ok()) std::exit(1);
  // Every item id appears once as a positive, so all `items` are known.
  for (int64_t k = 1; k <= items; ++k) {
    TrainingExample e;
    e.user_key = static_cast<uint64_t>(k % 5000 + 1);
    e.item_key = static_cast<uint64_t>(k);
    e.item_id = "item-" + std::to_string(k);
    e.ts_ms = k;
    (void)(*trainer)->AddExample(e);
  }
  std::vector<double> times, sizes;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    auto m = (*trainer)->WriteSnapshot(r);
    times.push_back(Seconds(start));
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
      std::exit(1);
    }
    uint64_t total = 0;
    auto names = fs::ListDirectory(m->dir);
    if (!names.ok()) std::exit(1);
    for (const auto& f : *names) {
      auto size = fs::FileSize(fs::JoinPath(m->dir, f));
      if (!size.ok()) std::exit(1);
      total += *size;
    }
    sizes.push_back(static_cast<double>(total) / 1e6);
  }
  // With keep_snapshots = 1 only the newest snapshot may be left.
  auto left = fs::ListDirectory(store);
  if (!left.ok() || left->size() != 1) {
    std::fprintf(stderr, "snapshot retention failed: %zu entries left in %s\n",
                 left.ok() ? left->size() : 0, store.c_str());
    std::exit(1);
  }
  if (auto st = fs::RemoveAll(store); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    std::exit(1);
  }
  *seconds = Median(times);
  *mbytes = Median(sizes);
}

// Paths of the mapped libraries whose file name mentions "blas" or "lapack".
std::string LoadedBlas() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  for (std::string line; std::getline(maps, line);) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string name = path.substr(path.rfind('/') + 1);
    if (name.find("blas") != std::string::npos || name.find("lapack") != std::string::npos) {
      libs.insert(path);
    }
  }
  std::string out;
  for (const auto& l : libs) out += (out.empty() ? "" : ", ") + l;
  return out.empty() ? "none mapped" : out;
}

// Part 3. Returns the process exit status.
int Online(const std::map<std::string, std::string>& args) {
  auto arg = [&](const std::string& k, const std::string& d) {
    auto it = args.find(k);
    return it == args.end() ? d : it->second;
  };
  const std::string data = arg("--data", "");
  if (data.empty()) {
    std::fprintf(stderr, "online: --data FILE is required\n");
    return 2;
  }
  struct HashedRating {
    uint64_t user, item;
    int64_t ts;
  };
  std::vector<HashedRating> ratings;
  {
    std::ifstream in(data);
    if (!in) {
      std::fprintf(stderr, "online: cannot open %s\n", data.c_str());
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      HashedRating r{};
      double rating = 0;
      if (f >> r.user >> r.item >> rating >> r.ts) ratings.push_back(r);
    }
  }
  std::stable_sort(ratings.begin(), ratings.end(),
                   [](const HashedRating& a, const HashedRating& b) { return a.ts < b.ts; });

  TrainerOptions o = BenchOptions(100000);
  o.batch_size = std::atoi(arg("--batch", "1024").c_str());
  o.device = arg("--device", "auto");
  o.snapshot_every_steps = std::atoll(arg("--snapshot-every", "20").c_str());
  o.snapshot_every_seconds = 0;
  o.keep_snapshots = std::atoll(arg("--keep", "2").c_str());
  o.embedding_updates = arg("--sparse", "0") == "1" ? "sparse" : "dense";
  o.resume = false;
  auto tmp = fs::MakeTempDirectory("streamrec-online-");
  if (!tmp.ok()) {
    std::fprintf(stderr, "%s\n", tmp.status().ToString().c_str());
    return 1;
  }
  o.model_dir = fs::JoinPath(*tmp, "models");
  auto trainer = Trainer::Create(o);
  if (!trainer.ok()) {
    std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
    return 1;
  }
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, int64_t>>> history;
  int64_t snapshots = 0;
  double snapshot_s = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const HashedRating& r : ratings) {
    TrainingExample e;
    e.user_key = r.user;
    e.user_id = std::to_string(r.user);
    e.item_key = r.item;
    e.item_id = std::to_string(r.item);
    e.ts_ms = r.ts * 1000;
    auto& h = history[r.user];
    for (const auto& [item, ts] : h) {
      e.history_keys.push_back(item);
      e.history_ts_ms.push_back(ts);
    }
    h.emplace_back(r.item, e.ts_ms);
    if (h.size() > 20) h.erase(h.begin());
    streamrec::Status st = (*trainer)->AddExample(e);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    const auto before = std::chrono::steady_clock::now();
    auto m = (*trainer)->MaybeSnapshot(e.ts_ms);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
      return 1;
    }
    if (m->has_value()) {
      ++snapshots;
      snapshot_s += Seconds(before);
    }
  }
  if ((*trainer)->on_cuda()) torch::cuda::synchronize();
  const double total_s = Seconds(start);
  const auto left = streamrec::training::ListSnapshotVersions(o.model_dir);
  std::string versions;
  for (int64_t v : left) versions += (versions.empty() ? "" : ",") + std::to_string(v);
  std::printf("online: %s, %s embeddings, %zu ratings, %lld steps of %lld, %.0f examples/s (%.0f without "
              "snapshots), %lld snapshots (%.2f s each), kept versions %s\n",
              (*trainer)->on_cuda() ? "CUDA" : "CPU", (*trainer)->sparse_embeddings() ? "sparse" : "dense",
              ratings.size(),
              static_cast<long long>((*trainer)->step()), static_cast<long long>(o.batch_size),
              static_cast<double>((*trainer)->examples()) / total_s,
              static_cast<double>((*trainer)->examples()) / (total_s - snapshot_s),
              static_cast<long long>(snapshots), snapshots ? snapshot_s / snapshots : 0.0,
              versions.c_str());
  auto entries = fs::ListDirectory(o.model_dir);
  const bool ok = snapshots >= 3 && entries.ok() &&
                  static_cast<int64_t>(left.size()) == std::min(o.keep_snapshots, snapshots) &&
                  entries->size() == left.size();
  (void)fs::RemoveAll(*tmp);
  if (!ok) {
    std::fprintf(stderr, "online: FAILED: need >= 3 snapshots and exactly %lld kept, no "
                 "leftovers\n", static_cast<long long>(o.keep_snapshots));
    return 1;
  }
  return 0;
}

// Part 4. Returns the process exit status.
int TrainExamples(int argc, char** argv) {
  std::string examples_path, out;
  std::string device = "auto";
  int epochs = 5;
  std::vector<std::string> overrides;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--examples") {
      examples_path = argv[i + 1];
    } else if (a == "--out") {
      out = argv[i + 1];
    } else if (a == "--epochs") {
      epochs = std::atoi(argv[i + 1]);
    } else if (a == "--device") {
      device = argv[i + 1];
    } else if (a == "--set") {
      overrides.push_back(argv[i + 1]);
    } else {
      std::fprintf(stderr, "train-examples: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (examples_path.empty() || out.empty() || epochs < 1) {
    std::fprintf(stderr, "train-examples: --examples FILE and --out STORE are required, "
                         "--epochs >= 1\n");
    return 2;
  }
  streamrec::Config config;
  auto st = config.ApplyOverrides(overrides);
  auto options = st.ok() ? streamrec::training::TrainerOptionsFromConfig(config)
                         : streamrec::Result<TrainerOptions>(st);
  if (!options.ok()) {
    std::fprintf(stderr, "train-examples: %s\n", options.status().ToString().c_str());
    return 2;
  }
  auto examples = streamrec::training::ReadExampleFile(examples_path);
  if (!examples.ok()) {
    std::fprintf(stderr, "train-examples: %s\n", examples.status().ToString().c_str());
    return 1;
  }
  // As eval/offline_eval.cc trains: a fresh model, no periodic snapshots, one at the end.
  TrainerOptions o = *options;
  o.device = device;
  o.model_dir = out;
  o.resume = false;
  o.snapshot_every_steps = 0;
  o.snapshot_every_seconds = 0;
  auto trainer = Trainer::Create(o);
  if (!trainer.ok()) {
    std::fprintf(stderr, "train-examples: %s\n", trainer.status().ToString().c_str());
    return 1;
  }
  int64_t watermark = 0;
  for (const auto& e : *examples) watermark = std::max(watermark, e.example.ts_ms);
  const auto start = std::chrono::steady_clock::now();
  st = streamrec::training::TrainEpochs(trainer->get(), *examples, epochs);
  if ((*trainer)->on_cuda()) torch::cuda::synchronize();
  const double seconds = Seconds(start);
  auto manifest = st.ok() ? (*trainer)->WriteSnapshot(watermark)
                          : streamrec::Result<streamrec::training::SnapshotManifest>(st);
  if (!manifest.ok()) {
    std::fprintf(stderr, "train-examples: %s\n", manifest.status().ToString().c_str());
    return 1;
  }
  std::printf("train-examples: %s, %s embeddings, %zu examples x %d epochs, %lld steps, "
              "%.1f s (%.0f examples/s), final loss %.4f, snapshot %s\n",
              (*trainer)->on_cuda() ? "CUDA" : "CPU",
              (*trainer)->sparse_embeddings() ? "sparse" : "dense", examples->size(), epochs,
              static_cast<long long>((*trainer)->step()), seconds,
              static_cast<double>((*trainer)->examples()) / seconds, (*trainer)->last_loss(),
              manifest->dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5, steps = 30;
  int64_t items = 100000;
  int configs = 5, snapshots = 1;
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "training_bench [--runs 5] [--steps 30] [--items 100000] [--configs 5] [--snapshots 1]\n"
        "  trainer examples/s against a bare matmul + softmax step (CUDA when available),\n"
        "  where a step's time goes, snapshot write time\n"
        "training_bench online --data ml-100k/u.data [--snapshot-every 20] [--keep 2]\n"
        "  [--batch 1024] [--device auto] [--sparse 0|1]\n"
        "  online training from a ratings file with snapshots and retention\n"
        "training_bench train-examples --examples FILE --out STORE [--epochs 5] [--device auto]\n"
        "  [--set key=value ...]\n"
        "  train as `streamrec eval` does on the examples `streamrec eval --examples-out` wrote;\n"
        "  one snapshot into STORE, for `streamrec eval --model-dir STORE`\n");
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "train-examples") return TrainExamples(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "online") {
    std::map<std::string, std::string> args;
    for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
    return Online(args);
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    if (a == "--steps") steps = std::atoi(argv[i + 1]);
    if (a == "--items") items = std::atoll(argv[i + 1]);
    if (a == "--configs") configs = std::atoi(argv[i + 1]);
    if (a == "--snapshots") snapshots = std::atoi(argv[i + 1]);
  }
  std::printf("threads: %d (torch intra-op), runs: %d, steps per run: %d\n",
              torch::get_num_threads(), runs, steps);
  std::printf("blas: %s\n", LoadedBlas().c_str());
  std::printf("| setting | trainer ex/s (median) | bare matmul+softmax ex/s (median) | ratio |\n");
  std::printf("| --- | ---: | ---: | ---: |\n");
  struct TrainerSetting {
    int64_t capacity;
    const char* optimizer;
    bool sparse;
  };
  const std::vector<TrainerSetting> all = {{100000, "adam", false},  {100000, "adam", true},
                                   {100000, "adagrad", false}, {100000, "adagrad", true},
                                   {10000, "adam", false}};
  auto name = [](const TrainerSetting& c, bool cuda) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s, batch 1024, dim 64, %s, %s tables, %lld id rows each",
                  cuda ? "CUDA" : "CPU", c.optimizer, c.sparse ? "sparse" : "dense",
                  static_cast<long long>(c.capacity));
    return std::string(buf);
  };
  std::vector<std::pair<std::string, streamrec::training::TrainerPhaseSeconds>> profiles;
  for (size_t k = 0; k < all.size() && static_cast<int>(k) < configs; ++k) {
    const TrainerSetting& c = all[k];
    std::vector<double> tr, bare;
    bool cuda = false;
    for (int r = 0; r < runs; ++r) {
      tr.push_back(TrainerThroughput(c.capacity, steps, c.optimizer, c.sparse, &cuda));
      bare.push_back(BareThroughput(steps, cuda));
    }
    std::printf("| %s | %.0f | %.0f | %.3f |\n", name(c, cuda).c_str(), Median(tr),
                Median(bare), Median(tr) / Median(bare));
    std::fflush(stdout);
    // One more run, profiled, for where the time goes (not part of the medians above).
    streamrec::training::TrainerPhaseSeconds p;
    (void)TrainerThroughput(c.capacity, steps, c.optimizer, c.sparse, &cuda, &p);
    profiles.emplace_back(name(c, cuda), p);
  }
  std::printf("\nWhere a step's time goes (one profiled run of the same steps, the device "
              "synchronised between phases; ms per step):\n\n");
  std::printf("| setting | id lookups | batch assembly | to device | forward | backward | "
              "optimizer | loss read | total |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& [label, p] : profiles) {
    const double n = p.steps > 0 ? static_cast<double>(p.steps) / 1000.0 : 1;
    const double total =
        p.lookup + p.assemble + p.transfer + p.forward + p.backward + p.optimizer + p.loss_read;
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", label.c_str(),
                p.lookup / n, p.assemble / n, p.transfer / n, p.forward / n, p.backward / n,
                p.optimizer / n, p.loss_read / n, total / n);
  }
  std::fflush(stdout);
  if (snapshots == 0) return 0;
  std::printf("\n| snapshot | write time (median) | size |\n| --- | ---: | ---: |\n");
  for (bool sparse : {false, true}) {
    double secs = 0, mb = 0;
    SnapshotBench(items, runs, sparse, &secs, &mb);
    std::printf("| %lld items, dim 64, 100k-row tables, %s | %.3f s | %.1f MB |\n",
                static_cast<long long>(items), sparse ? "sparse" : "dense", secs, mb);
  }
  return 0;
}
