#include "eval/prequential.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/id_hash.h"
#include "core/json_writer.h"
#include "core/records.h"
#include "eval/served_pipeline.h"
#include "serving/serving_config.h"
#include "training/trainer_config.h"

namespace streamrec::eval {
namespace fs = std::filesystem;

void PrequentialMetrics::Add(int rank) {
  ++events;
  if (rank <= 0) return;
  hits += 1;
  ndcg += 1.0 / std::log2(static_cast<double>(rank) + 1.0);
  rr += 1.0 / static_cast<double>(rank);
}

Result<PrequentialOptions> PrequentialOptions::FromConfig(const Config& config) {
  PrequentialOptions o;
  auto user = operators::UserStageOptions::FromConfig(config);
  if (!user.ok()) return user.status();
  o.user_stage = *user;
  auto item = operators::ItemStageOptions::FromConfig(config);
  if (!item.ok()) return item.status();
  o.item_stage = *item;
  // Brokers and HTTP are not used in process; the rest is what serving serves with.
  auto serving = serving::ServingOptionsFromConfig(config, "in-process", "127.0.0.1:0");
  if (!serving.ok()) return serving.status();
  o.service = serving->service;
  o.loader = serving->loader;
  auto trainer = training::TrainerOptionsFromConfig(config);
  if (!trainer.ok()) return trainer.status();
  o.trainer = *trainer;
  return o;
}

namespace {

void WriteMetrics(JsonWriter* w, const PrequentialMetrics& m) {
  w->BeginObject();
  w->Key("events").Int(m.events);
  w->Key("hit_rate").Double(m.hit_rate());
  w->Key("ndcg").Double(m.mean_ndcg());
  w->Key("mrr").Double(m.mrr());
  w->EndObject();
}

}  // namespace

std::string PrequentialReport::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("model").String(model);
  w.Key("channels").String(channels);
  w.Key("k").Int(static_cast<int64_t>(k));
  w.Key("events").Int(all.events);
  w.Key("hit_rate").Double(all.hit_rate());
  w.Key("ndcg").Double(all.mean_ndcg());
  w.Key("mrr").Double(all.mrr());
  w.Key("coverage").Double(coverage());
  w.Key("items_recommended").Int(items_recommended);
  w.Key("items_in_stream").Int(items_in_stream);
  w.Key("all");
  WriteMetrics(&w, all);
  w.Key("warm");
  WriteMetrics(&w, warm);
  w.Key("models_loaded").Int(models_loaded);
  w.Key("models_refused").Int(models_refused);
  w.Key("train_steps").Int(train_steps);
  w.Key("ranking_lists").Int(ranking_lists);
  w.Key("rejected_events").Int(rejected_events);
  w.Key("seconds").Double(seconds);
  w.Key("windows").BeginArray();
  for (const PrequentialWindow& win : windows) {
    w.BeginObject();
    w.Key("end_event").Int(win.end_event);
    w.Key("events").Int(win.metrics.events);
    w.Key("hit_rate").Double(win.metrics.hit_rate());
    w.Key("ndcg").Double(win.metrics.mean_ndcg());
    w.Key("mrr").Double(win.metrics.mrr());
    w.Key("model_version").Int(win.model_version);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Release() + "\n";
}

std::string PrequentialReport::SummaryLine() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "prequential %s: %lld events, HitRate@%zu %.4f, NDCG@%zu %.4f, MRR %.4f, "
                "coverage %.3f; warm %lld events, HitRate@%zu %.4f; %.1f s",
                model.c_str(), static_cast<long long>(all.events), k, all.hit_rate(), k,
                all.mean_ndcg(), all.mrr(), coverage(), static_cast<long long>(warm.events), k,
                warm.hit_rate(), seconds);
  return buf;
}

Result<PrequentialReport> RunPrequential(const std::vector<ClickEvent>& events,
                                         const PrequentialOptions& options,
                                         const WindowCallback& on_window) {
  if (options.k < 1) return Status::InvalidArgument("k must be >= 1");
  if (options.window_events < 1) return Status::InvalidArgument("window_events must be >= 1");
  const auto start = std::chrono::steady_clock::now();
  PrequentialReport report;
  report.model = options.model;
  report.k = options.k;
  const bool served = options.model == "served";
  std::unique_ptr<Baseline> baseline;
  if (!served) {
    auto b = NewBaseline(options.model);
    if (!b.ok()) return b.status();
    baseline = std::move(b).value();
  } else {
    const uint8_t channels = options.service.recommender.channels;
    for (const std::string& c : serving::ChannelNames(channels)) {
      report.channels += (report.channels.empty() ? "" : ",") + c;
    }
    // "blend": every channel, as served by default; otherwise the ablation's channels.
    report.model = channels == serving::kChannelsAll ? "blend" : report.channels;
  }
  auto dir = ScratchDir::Make(options.work_dir, "streamrec-prequential");
  if (!dir.ok()) return dir.status();
  std::unique_ptr<ServedPipeline> pipeline;
  // The baselines exclude what serving would filter (serving::ExcludedItems: the user's
  // window and the seen record's items of filtered event types).
  std::unique_ptr<serving::UserHistoryStore> baseline_history;
  if (served) {
    ServedPipelineOptions po;
    po.user_stage = options.user_stage;
    po.item_stage = options.item_stage;
    po.service = options.service;
    po.loader = options.loader;
    po.trainer = options.trainer;
    po.trainer.snapshot_every_steps = 0;
    po.trainer.snapshot_every_seconds = 0;
    po.catalog = options.catalog;
    po.batch_every_events = options.batch_every_events;
    // No model to train when the two-tower channel is off or no snapshot is ever taken.
    po.train_online = (options.service.recommender.channels & serving::kChannelTwoTower) != 0 &&
                      options.snapshot_every_events > 0;
    auto p = ServedPipeline::Create(po, dir->path());
    if (!p.ok()) return p.status();
    pipeline = std::move(p).value();
  } else {
    baseline_history = std::make_unique<serving::UserHistoryStore>(options.service.history);
  }
  std::unordered_map<uint64_t, std::string> item_ids;  // baselines: excluded keys -> ids

  std::unordered_set<std::string> users_seen, items_seen, recommended;
  PrequentialWindow window;
  serving::RankerCapture capture;
  for (size_t i = 0; i < events.size(); ++i) {
    ClickEvent e = events[i];
    if (e.user_key == 0) e.user_key = HashId(e.user_id);
    if (e.item_key == 0) e.item_key = HashId(e.item_id);
    // 1. Test.
    std::vector<std::string> list;
    int64_t version = 0;
    if (served) {
      serving::RecRequest request;
      request.user_id = e.user_id;
      request.k = static_cast<int64_t>(options.k);
      request.as_of_ms = e.ts_ms;
      // With the ranking stage on, the request's candidates and features are its training
      // example (the clicked item against the others), given to the trainer below.
      const bool rank = options.service.recommender.ranker_enabled && pipeline->trainer() != nullptr;
      auto response = pipeline->service().Recommend(request, rank ? &capture : nullptr);
      if (!response.ok()) return response.status().WithContext("recommend");
      if (rank) {
        auto added = AddRankingExample(pipeline->trainer(), capture, e.item_key);
        if (!added.ok()) return added.status().WithContext("ranker");
        report.ranking_lists += *added ? 1 : 0;
      }
      version = response->model_version;
      for (const auto& item : response->items) list.push_back(item.item_id);
    } else {
      // The served exclusion rule (serving::ExcludedItems) on the same history, asked
      // as of the event time as the served path asks.
      const auto user = baseline_history->GetUser(e.user_key, e.ts_ms);
      std::unordered_set<std::string> exclude;
      for (uint64_t key : serving::ExcludedItems(options.service.recommender, user.window,
                                                 user.seen)) {
        auto id = item_ids.find(key);
        if (id != item_ids.end()) exclude.insert(id->second);
      }
      list = baseline->Recommend(e.user_id, exclude, options.k);
    }
    int rank = 0;
    for (size_t r = 0; r < list.size() && r < options.k; ++r) {
      recommended.insert(list[r]);
      if (rank == 0 && list[r] == e.item_id) rank = static_cast<int>(r) + 1;
    }
    report.all.Add(rank);
    if (users_seen.count(e.user_id) != 0 && items_seen.count(e.item_id) != 0) {
      report.warm.Add(rank);
    }
    window.metrics.Add(rank);
    window.model_version = version;
    if (window.metrics.events == options.window_events || i + 1 == events.size()) {
      window.end_event = static_cast<int64_t>(i) + 1;
      report.windows.push_back(window);
      if (on_window) on_window(window);
      window = PrequentialWindow{};
    }
    // 2. Train: deliver the event, wait for every stage (the barrier).
    if (served) {
      STREAMREC_RETURN_IF_ERROR(pipeline->Deliver(e));
      if (pipeline->trainer() != nullptr &&
          (static_cast<int64_t>(i) + 1) % options.snapshot_every_events == 0) {
        auto swapped = pipeline->SwapInSnapshot(e.ts_ms);
        if (!swapped.ok()) return swapped.status();
      }
    } else {
      baseline->Observe(e.user_id, e.item_id);
      baseline_history->Record(e.user_key, e.item_key, e.item_id, e.ts_ms, e.event);
      item_ids.emplace(e.item_key, e.item_id);
    }
    users_seen.insert(e.user_id);
    items_seen.insert(e.item_id);
  }
  if (pipeline != nullptr) {
    if (pipeline->trainer() != nullptr) report.train_steps = pipeline->trainer()->step();
    report.models_loaded = pipeline->models_loaded();
    report.models_refused = pipeline->models_refused();
    report.rejected_events = pipeline->rejected_events();
    STREAMREC_RETURN_IF_ERROR(pipeline->Close());
  }
  report.items_in_stream = static_cast<int64_t>(items_seen.size());
  report.items_recommended = static_cast<int64_t>(recommended.size());
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace streamrec::eval
