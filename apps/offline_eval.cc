#include "apps/offline_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "core/id_hash.h"
#include "core/records.h"
#include "training/snapshot.h"

namespace streamrec::apps {
namespace {

namespace fs = std::filesystem;
using training::Rating;

struct PairHash {
  size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
    return std::hash<uint64_t>()(p.first * 0x9E3779B97F4A7C15ULL ^ p.second);
  }
};

// Per-user min-max scaling of one channel's scores over the candidates.
void MinMaxScale(std::vector<double>* s) {
  if (s->empty()) return;
  auto [lo, hi] = std::minmax_element(s->begin(), s->end());
  const double a = *lo, range = *hi - *lo;
  for (double& x : *s) x = range > 0 ? (x - a) / range : 0.0;
}

}  // namespace

training::TrainerOptions OfflineEvalOptions::DefaultTrainerOptions() {
  training::TrainerOptions o;
  o.model.embedding_dim = 64;
  o.model.hidden_dim = 128;
  o.model.output_dim = 64;
  o.model.temperature = 0.1;
  o.model.max_history = 200;
  o.model.use_user_id = false;  // history-only user tower generalised better
  o.learning_rate = 1e-3;
  o.batch_size = 256;
  o.snapshot_every_steps = 0;
  o.snapshot_every_seconds = 0;
  o.resume = false;
  return o;
}

Result<OfflineEvalResult> RunOfflineEval(const std::vector<Rating>& train,
                                         const std::vector<Rating>& test,
                                         const OfflineEvalOptions& options) {
  const std::string& model = options.model;
  if (model != "pop" && model != "cooc" && model != "two_tower" && model != "blend") {
    return Status::InvalidArgument("--model must be pop, cooc, two_tower or blend");
  }
  if (options.k < 1) return Status::InvalidArgument("--k must be >= 1");
  if (train.empty() || test.empty()) return Status::InvalidArgument("empty train or test file");
  const bool use_tt = model == "two_tower" || model == "blend";
  const bool use_cooc = model == "cooc" || model == "blend";

  // The stream: train events in time order (file order breaks ties).
  std::vector<size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return train[a].ts < train[b].ts; });

  std::unordered_map<std::string, uint64_t> item_key;
  std::unordered_map<uint64_t, std::string> item_name;
  std::unordered_set<std::string> users;
  for (const auto& r : train) {
    if (!item_key.count(r.item)) {
      item_key[r.item] = HashId(r.item);
      item_name[item_key[r.item]] = r.item;
    }
    users.insert(r.user);
  }

  OfflineEvalResult result;
  const auto start = std::chrono::steady_clock::now();

  // One pass of the user stage + item stage logic over the stream.
  std::unordered_map<std::string, operators::UserWindow> history;
  std::unordered_map<std::string, operators::UserWindow> cooc_window;
  std::unordered_map<std::string, std::vector<uint64_t>> seen;  // all train items per user
  std::unordered_map<std::string, std::unordered_map<uint64_t, int64_t>> seen_ts;  // latest
  std::unordered_map<std::string, int64_t> last_ts;
  std::unordered_map<uint64_t, double> item_count;
  std::unordered_map<std::pair<uint64_t, uint64_t>, double, PairHash> pair_count;
  operators::FrequencyEstimator estimator(options.estimator);
  std::vector<TrainingExample> examples;
  std::vector<double> sampling_prob;  // p̂ of each example's item when it was seen
  examples.reserve(train.size());
  for (size_t idx : order) {
    const Rating& r = train[idx];
    const uint64_t ik = item_key[r.item];
    const int64_t ts = r.ts * options.ts_scale_ms;
    auto& win = history.try_emplace(r.user, options.history).first->second;
    win.EvictOlderThan(ts);
    TrainingExample e;
    e.user_id = r.user;
    e.user_key = HashId(r.user);
    e.item_id = r.item;
    e.item_key = ik;
    e.event = EventType::kClick;
    e.weight = static_cast<float>(options.cooc.weights.Of(e.event));
    e.ts_ms = ts;
    for (const auto& w : win.entries()) {
      e.history_keys.push_back(w.item_key);
      e.history_ts_ms.push_back(w.ts_ms);
    }
    win.Add(ik, r.item, ts, e.event);
    estimator.Observe(ik);
    sampling_prob.push_back(estimator.Estimate(ik));
    examples.push_back(std::move(e));

    if (use_cooc || model == "pop") {
      item_count[ik] += options.cooc.weights.Of(EventType::kClick);
    }
    if (use_cooc) {
      auto& cw = cooc_window.try_emplace(r.user, options.cooc_window).first->second;
      cw.EvictOlderThan(ts);
      operators::GeneratePairs(cw.entries(), ik, ts, EventType::kClick, options.cooc,
                               [&](uint64_t a, uint64_t b, double w) {
                                 pair_count[{a, b}] += w;
                               });
      cw.Add(ik, r.item, ts, EventType::kClick);
    }
    seen[r.user].push_back(ik);
    int64_t& sts = seen_ts[r.user][ik];
    sts = std::max(sts, ts);
    last_ts[r.user] = std::max(last_ts[r.user], ts);
  }
  result.train_events = static_cast<int64_t>(examples.size());

  // Two-tower: train over the stream `epochs` times, snapshot, load as serving would.
  std::shared_ptr<const training::ModelSnapshot> snapshot;
  if (use_tt) {
    training::TrainerOptions to = options.trainer;
    to.model.user_capacity = static_cast<int64_t>(users.size()) + 1;
    to.model.item_capacity = static_cast<int64_t>(item_key.size()) + 1;
    to.model_dir.clear();
    to.resume = false;
    auto trainer = training::Trainer::Create(to);
    if (!trainer.ok()) return trainer.status();
    std::ofstream curve;
    if (!options.loss_curve_path.empty()) {
      curve.open(options.loss_curve_path);
      if (!curve) return Status::IoError("cannot create " + options.loss_curve_path);
      curve << "step,epoch,examples,loss\n";
    }
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      for (size_t i = 0; i < examples.size(); ++i) {
        ItemStats stats;
        stats.item_key = examples[i].item_key;
        stats.item_id = examples[i].item_id;
        stats.sampling_prob = sampling_prob[i];
        (*trainer)->UpdateItemStats(stats);
        const int64_t before = (*trainer)->step();
        STREAMREC_RETURN_IF_ERROR((*trainer)->AddExample(examples[i]));
        if (curve.is_open() && (*trainer)->step() != before) {
          curve << (*trainer)->step() << "," << epoch + 1 << "," << (*trainer)->examples() << ","
                << (*trainer)->last_loss() << "\n";
        }
      }
    }
    STREAMREC_RETURN_IF_ERROR((*trainer)->Flush());
    result.steps = (*trainer)->step();
    result.final_loss = (*trainer)->last_loss();
    std::string dir = options.work_dir;
    bool temp_dir = false;
    if (dir.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "streamrec-eval-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) return Status::IoError("cannot create a temp dir");
      dir = tmpl;
      temp_dir = true;
    }
    auto manifest = (*trainer)->WriteSnapshotTo(dir + "/snapshot", 0);
    if (!manifest.ok()) return manifest.status();
    auto loaded = training::ModelSnapshot::Load(manifest->dir);
    if (temp_dir) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
    if (!loaded.ok()) return loaded.status();
    snapshot = *loaded;
  }
  result.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Candidates: every train item (those a model can know), minus the user's seen ones.
  std::vector<uint64_t> catalogue;
  catalogue.reserve(item_key.size());
  for (const auto& [name, key] : item_key) catalogue.push_back(key);
  std::sort(catalogue.begin(), catalogue.end());
  std::unordered_map<uint64_t, size_t> cat_index;
  for (size_t i = 0; i < catalogue.size(); ++i) cat_index[catalogue[i]] = i;

  // Neighbour lists for the cooc channel: similarity of every co-occurring pair.
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, double>>> neighbors;
  if (use_cooc) {
    double total = 0;
    for (const auto& [k, c] : item_count) total += c;
    for (const auto& [ab, c] : pair_count) {
      const double s = operators::SimilarityScore(options.similarity, c, item_count[ab.first],
                                                  item_count[ab.second], total);
      if (s > 0) neighbors[ab.first].emplace_back(ab.second, s);
    }
  }

  std::unordered_set<std::string> test_users;
  for (const auto& r : test) test_users.insert(r.user);
  std::vector<std::string> ordered_users(test_users.begin(), test_users.end());
  std::sort(ordered_users.begin(), ordered_users.end());

  const int max_k = std::max(options.k, 5);
  training::RankedLists ranked;
  for (const std::string& user : ordered_users) {
    std::vector<double> tt(catalogue.size(), 0.0), co(catalogue.size(), 0.0);
    if (use_tt) {
      std::vector<uint64_t> hk;
      std::vector<int64_t> hts;
      auto it = history.find(user);
      if (it != history.end()) {
        for (const auto& w : it->second.entries()) {
          hk.push_back(w.item_key);
          hts.push_back(w.ts_ms);
        }
      }
      auto u = snapshot->UserEmbedding(HashId(user), hk, hts, last_ts[user]);
      if (!u.ok()) return u.status();
      std::vector<float> s = snapshot->ScoreAllItems(*u);
      for (size_t i = 0; i < s.size(); ++i) {
        auto c = cat_index.find(snapshot->item_keys()[i]);
        if (c != cat_index.end()) tt[c->second] = s[i];
      }
    }
    if (use_cooc) {
      for (const auto& [a, a_ts] : seen_ts[user]) {
        auto n = neighbors.find(a);
        if (n == neighbors.end()) continue;
        double affinity = 1.0;
        if (options.affinity_half_life_s > 0) {
          const double age_s = static_cast<double>(last_ts[user] - a_ts) / 1000.0;
          affinity = std::exp2(-age_s / options.affinity_half_life_s);
        }
        for (const auto& [b, s] : n->second) co[cat_index[b]] += affinity * s;
      }
    }
    std::vector<double> score(catalogue.size(), 0.0);
    if (model == "pop") {
      for (size_t i = 0; i < catalogue.size(); ++i) score[i] = item_count[catalogue[i]];
    } else if (model == "cooc") {
      score = co;
    } else if (model == "two_tower") {
      score = tt;
    } else {
      MinMaxScale(&tt);
      MinMaxScale(&co);
      for (size_t i = 0; i < score.size(); ++i) {
        score[i] = options.blend_weight * tt[i] + (1 - options.blend_weight) * co[i];
      }
    }
    std::vector<bool> excluded(catalogue.size(), false);
    for (uint64_t k : seen[user]) excluded[cat_index[k]] = true;
    std::vector<size_t> idx;
    for (size_t i = 0; i < catalogue.size(); ++i) {
      if (!excluded[i]) idx.push_back(i);
    }
    const size_t n = std::min<size_t>(idx.size(), static_cast<size_t>(max_k));
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](size_t a, size_t b) {
      return score[a] != score[b] ? score[a] > score[b] : catalogue[a] < catalogue[b];
    });
    auto& list = ranked[user];
    for (size_t i = 0; i < n; ++i) list.push_back(item_name[catalogue[idx[i]]]);
  }

  std::unordered_set<std::string> all_items;
  for (const auto& r : train) all_items.insert(r.item);
  for (const auto& r : test) all_items.insert(r.item);
  const training::RelevantSets relevant = training::RelevantFromRatings(test);
  std::vector<int> ks = {1, 5};
  if (options.k != 1 && options.k != 5) ks.push_back(options.k);
  std::sort(ks.begin(), ks.end());
  for (int k : ks) {
    result.metrics.push_back(training::ComputeRankingMetrics(
        ranked, relevant, k, static_cast<int64_t>(all_items.size())));
  }
  return result;
}

}  // namespace streamrec::apps
