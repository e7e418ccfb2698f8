#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "eval/served_pipeline.h"
#include "training/ranking_metrics.h"

namespace streamrec::eval {

// `streamrec eval --train --test`: the served system trained on a ratings file and
// asked for every test user's top-k. The train events go, in time order, through the
// real user and item stages (ServedPipeline: windows, pair counts, top-K neighbours,
// popularity, p̂) into serving's tables and user history; the training examples the user
// stage produced train a training::Trainer for `epochs` passes (offline: epochs allowed);
// the snapshot is loaded through serving's two-tower loader and swapped in; then each
// test user is ranked by serving::RecommendationService, i.e. serving/recommender.cc with
// the served configuration. No other scorer exists.
struct OfflineEvalOptions {
  ServedPipelineOptions pipeline;  // from the config, as served
  int k = 10;                      // metrics at 1, 5 and k
  // AUC and GAUC rank each test user's list of this many items (unlisted items tie below
  // them; the user's train items are excluded, as serving filters them). Default 100.
  int auc_depth = 100;
  int64_t ts_scale_ms = 1000;      // input timestamps are seconds (MovieLens)
  int epochs = 5;                  // passes over the train examples (0: no model)
  // The lambda architecture's model choices (issue 11; bench/RESULTS.md "Which model
  // serves"): the `epochs` passes cover only the first `batch_cutoff` of the train examples
  // (in time order: the batch model at its cutoff, 1 = all); with online_after_cutoff the
  // same trainer then takes the rest once, in order (the online trainer warm-started from
  // the batch model and running from the cutoff). The online model alone: epochs 1.
  double batch_cutoff = 1.0;
  bool online_after_cutoff = false;
  std::string loss_curve_path;     // when set: CSV "step,epoch,examples,loss"
  // When set: the two-tower training examples (with p̂) are written to this file
  // (training/offline_examples.h), to train elsewhere, e.g. on a GPU machine.
  std::string examples_out;
  // When set: no training here; the newest snapshot in this model store (a directory of
  // `v…` snapshots, e.g. written by `training_bench train-examples` from examples_out) is
  // loaded and served instead.
  std::string model_dir;
  std::string work_dir;            // scratch; default: a fresh dir under /tmp, removed
  // The ranking stage (serving.ranker.enabled, with the two-tower channel and trained
  // here): its examples are the requests made just before each of the last
  // `ranker_fraction` of the train events (in time order), each event then delivered with
  // the barrier, on the state of that moment and a two-tower model trained (`epochs`) on
  // the events before them. The served model is then trained on all train events exactly
  // as without the ranker, and the ranker on those lists (`epochs` passes) goes into its
  // snapshot. 0.1 by default.
  double ranker_fraction = 0.1;

  static Result<OfflineEvalOptions> FromConfig(const Config& config);
};

struct OfflineEvalResult {
  std::vector<training::RankingMetrics> metrics;  // at 1, 5, k
  training::AucMetrics auc;                       // lists of auc_depth items
  std::string channels;                           // the recommender's channels
  int64_t train_events = 0;
  int64_t steps = 0;
  int64_t model_version = 0;  // 0: no model served
  int64_t ranking_lists = 0;  // ranker training lists (0: no ranking stage)
  int64_t ranker_steps = 0;
  double final_loss = 0;
  double seconds = 0;
};

Result<OfflineEvalResult> RunOfflineEval(const std::vector<training::Rating>& train,
                                         const std::vector<training::Rating>& test,
                                         const OfflineEvalOptions& options);

}  // namespace streamrec::eval
