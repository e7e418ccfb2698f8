#include "eval/offline_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <unordered_set>

#include "core/id_hash.h"
#include "core/logging.h"
#include "serving/serving_config.h"
#include "streams/history_reader.h"
#include "training/offline_examples.h"
#include "training/snapshot.h"
#include "training/trainer_config.h"

namespace streamrec::eval {
namespace {

// The offline trainer: a fresh model in `<dir>/models`, snapshotted only when asked.
training::TrainerOptions OfflineTrainerOptions(const OfflineEvalOptions& options, const std::string& dir) {
  training::TrainerOptions to = options.pipeline.trainer;
  to.model_dir = dir + "/models";
  to.resume = false;
  to.snapshot_every_steps = 0;
  to.snapshot_every_seconds = 0;
  return to;
}

}  // namespace

Result<OfflineEvalOptions> OfflineEvalOptions::FromConfig(const Config& config) {
  OfflineEvalOptions o;
  auto user = operators::UserStageOptions::FromConfig(config);
  if (!user.ok()) return user.status();
  o.pipeline.user_stage = *user;
  auto item = operators::ItemStageOptions::FromConfig(config);
  if (!item.ok()) return item.status();
  o.pipeline.item_stage = *item;
  auto serving = serving::ServingOptionsFromConfig(config, "in-process", "127.0.0.1:0");
  if (!serving.ok()) return serving.status();
  o.pipeline.service = serving->service;
  o.pipeline.loader = serving->loader;
  auto trainer = training::TrainerOptionsFromConfig(config);
  if (!trainer.ok()) return trainer.status();
  o.pipeline.trainer = *trainer;
  o.pipeline.train_online = false;
  return o;
}

Result<OfflineEvalResult> RunOfflineEval(const std::vector<training::Rating>& train,
                                         const std::vector<training::Rating>& test,
                                         const OfflineEvalOptions& options) {
  if (options.k < 1) return Status::InvalidArgument("k must be >= 1");
  if (train.empty() || test.empty()) return Status::InvalidArgument("empty train or test file");
  const auto start = std::chrono::steady_clock::now();
  OfflineEvalResult result;
  const uint8_t channels = options.pipeline.service.recommender.channels;
  for (const std::string& c : serving::ChannelNames(channels)) {
    result.channels += (result.channels.empty() ? "" : ",") + c;
  }

  // The stream: train events in time order (file order breaks ties).
  std::vector<size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return train[a].ts < train[b].ts; });
  auto dir = ScratchDir::Make(options.work_dir, "streamrec-eval");
  if (!dir.ok()) return dir.status();
  ServedPipelineOptions po = options.pipeline;
  po.train_online = false;
  auto pipeline = ServedPipeline::Create(po, dir->path());
  if (!pipeline.ok()) return pipeline.status();
  ServedPipeline& p = **pipeline;
  int64_t last_ts = 0;
  // No request comes between train events, so the stages commit every kSyncEvents events
  // (as live, every flush interval) instead of after each one; the end state is the same.
  constexpr size_t kSyncEvents = 2000;
  size_t pending = 0;
  // The ranking stage's examples come from the last ranker_fraction of the events.
  const bool rank = options.pipeline.service.recommender.ranker_enabled &&
                    (channels & serving::kChannelTwoTower) != 0 && options.model_dir.empty() &&
                    options.epochs > 0 && options.ranker_fraction > 0;
  const size_t ranker_from =
      rank ? order.size() - static_cast<size_t>(static_cast<double>(order.size()) *
                                                std::min(1.0, options.ranker_fraction))
           : order.size();
  std::vector<training::RankingList> ranking_lists;
  serving::RankerCapture capture;
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t idx = order[n];
    const training::Rating& r = train[idx];
    ClickEvent e;
    e.user_id = r.user;
    e.item_id = r.item;
    // As every MovieLens rating reads (a purchase): the seen filter then keeps rated
    // films out of the list, as the protocol excludes them, and the renewed-interest
    // channel does not offer them back.
    e.event = kMovieLensRatingEvent;
    e.ts_ms = r.ts * options.ts_scale_ms;
    e.user_key = HashId(e.user_id);
    e.item_key = HashId(e.item_id);
    last_ts = std::max(last_ts, e.ts_ms);
    if (n >= ranker_from) {
      if (n == ranker_from) {
        // Everything before is committed, and a model trained on it serves.
        STREAMREC_RETURN_IF_ERROR(p.Sync());
        pending = 0;
        // The same store as the served model's below, which is then a later version.
        auto trainer = training::Trainer::Create(OfflineTrainerOptions(options, dir->path()));
        if (!trainer.ok()) return trainer.status();
        FeedCatalog(options.pipeline.catalog, trainer->get());
        STREAMREC_RETURN_IF_ERROR(
            training::TrainEpochs(trainer->get(), p.collected(), options.epochs, nullptr));
        auto swapped = p.SwapInSnapshot(e.ts_ms, trainer->get());
        if (!swapped.ok()) return swapped.status();
      }
      // Test, then train with the barrier, as the prequential harness does.
      serving::RecRequest request;
      request.user_id = e.user_id;
      request.k = options.k;
      request.as_of_ms = e.ts_ms;
      auto response = p.service().Recommend(request, &capture);
      if (!response.ok()) return response.status().WithContext("ranker example");
      training::RankingList list;
      if (MakeRankingList(capture, e.item_key, &list)) ranking_lists.push_back(std::move(list));
      STREAMREC_RETURN_IF_ERROR(p.Deliver(e));
      continue;
    }
    STREAMREC_RETURN_IF_ERROR(p.DeliverBuffered(e));
    if (++pending == kSyncEvents) {
      STREAMREC_RETURN_IF_ERROR(p.Sync());
      pending = 0;
    }
  }
  STREAMREC_RETURN_IF_ERROR(p.Sync());
  result.train_events = static_cast<int64_t>(order.size());
  if (p.rejected_events() > 0) {
    // The served system would not have seen them either; a silent partial eval misleads.
    return Status::InvalidArgument(std::to_string(p.rejected_events()) + " of " +
                                   std::to_string(order.size()) +
                                   " train events were rejected by the user stage's validation "
                                   "(e.g. timestamps before 1990 or ids over 256 bytes)");
  }

  if (!options.examples_out.empty()) {
    STREAMREC_RETURN_IF_ERROR(training::WriteExampleFile(options.examples_out, p.collected()));
  }

  // The two-tower model: the same Trainer over the user stage's examples, `epochs` times,
  // or a snapshot trained elsewhere on them.
  if ((channels & serving::kChannelTwoTower) != 0 && !options.model_dir.empty()) {
    auto latest = training::LatestSnapshotDir(options.model_dir);
    if (!latest.ok()) return latest.status().WithContext("--model-dir");
    auto swapped = p.SwapInSnapshotDir(*latest);
    if (!swapped.ok()) return swapped.status();
    if (!*swapped) return p.service().models().last_refusal().WithContext("serving refused " + *latest);
    auto manifest = training::ReadSnapshotManifest(*latest);
    if (!manifest.ok()) return manifest.status();
    result.steps = manifest->step;
    result.final_loss = manifest->last_loss;
    result.model_version = p.service().models().version();
  } else if ((channels & serving::kChannelTwoTower) != 0 && options.epochs > 0) {
    auto trainer = training::Trainer::Create(OfflineTrainerOptions(options, dir->path()));
    if (!trainer.ok()) return trainer.status();
    FeedCatalog(options.pipeline.catalog, trainer->get());
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> curve(nullptr, &std::fclose);
    if (!options.loss_curve_path.empty()) {
      curve.reset(std::fopen(options.loss_curve_path.c_str(), "w"));
      if (!curve) return Status::IoError("cannot create " + options.loss_curve_path);
    }
    if (options.batch_cutoff >= 1.0) {
      STREAMREC_RETURN_IF_ERROR(
          training::TrainEpochs(trainer->get(), p.collected(), options.epochs, curve.get()));
    } else {
      const auto& all = p.collected();
      const auto cut = all.begin() + static_cast<std::ptrdiff_t>(static_cast<double>(all.size()) *
                                                                 std::max(0.0, options.batch_cutoff));
      const std::vector<training::OfflineExample> before(all.begin(), cut), after(cut, all.end());
      STREAMREC_RETURN_IF_ERROR(training::TrainEpochs(trainer->get(), before, options.epochs, curve.get()));
      if (options.online_after_cutoff) {
        STREAMREC_RETURN_IF_ERROR(training::TrainEpochs(trainer->get(), after, 1, curve.get()));
      }
    }
    if (curve && std::fclose(curve.release()) != 0) {
      return Status::IoError("cannot write " + options.loss_curve_path);
    }
    result.steps = (*trainer)->step();
    result.final_loss = (*trainer)->last_loss();
    // The ranking stage: its lists, `epochs` passes in time order, into the same snapshot.
    for (int epoch = 0; epoch < options.epochs && !ranking_lists.empty(); ++epoch) {
      for (const training::RankingList& list : ranking_lists) {
        STREAMREC_RETURN_IF_ERROR((*trainer)->AddRankingList(list, serving::kRankerFeatures));
      }
    }
    result.ranking_lists = static_cast<int64_t>(ranking_lists.size());
    auto swapped = p.SwapInSnapshot(last_ts, trainer->get());
    if ((*trainer)->ranker() != nullptr) result.ranker_steps = (*trainer)->ranker()->steps();
    if (rank) {
      spdlog::info("ranking stage: {} lists from the last {} train events, {} ranker steps, "
                   "last loss {:.4f}",
                   result.ranking_lists, order.size() - ranker_from, result.ranker_steps,
                   (*trainer)->ranker() != nullptr ? (*trainer)->ranker()->last_loss() : 0.0);
    }
    if (!swapped.ok()) return swapped.status();
    if (!*swapped && result.steps > 0) {
      return p.service().models().last_refusal().WithContext("serving refused the model");
    }
    result.model_version = p.service().models().version();
  }

  // Rank every test user through the served recommender.
  std::unordered_set<std::string> test_users;
  for (const auto& r : test) test_users.insert(r.user);
  std::vector<std::string> users(test_users.begin(), test_users.end());
  std::sort(users.begin(), users.end());
  const int max_k = std::max({options.k, 5, options.auc_depth});
  training::RankedLists ranked;
  for (const std::string& user : users) {
    serving::RecRequest request;
    request.user_id = user;
    request.k = max_k;
    auto response = p.service().Recommend(request);
    if (!response.ok()) return response.status().WithContext("recommend for " + user);
    auto& list = ranked[user];
    for (const auto& item : response->items) list.push_back(item.item_id);
  }
  STREAMREC_RETURN_IF_ERROR(p.Close());

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
  const training::RelevantSets seen = training::RelevantFromRatings(train);
  result.auc = training::ComputeAuc(ranked, relevant, static_cast<int64_t>(all_items.size()), &seen);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace streamrec::eval
