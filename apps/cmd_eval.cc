// `streamrec eval`: offline ranking metrics (DESIGN §7).
//   --predictions P --truth T --k K      metrics of a prediction file
//   --train TRAIN --test TEST            the served system trained on TRAIN (time order)
//                                        ranks every TEST user (eval/offline_eval.h)
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "apps/command.h"
#include "eval/offline_eval.h"
#include "eval/quality_plot.h"
#include "serving/recommender.h"
#include "training/ranking_metrics.h"

namespace streamrec::apps {
namespace {

struct EvalFlags {
  std::string predictions, truth, train, test, report;
  std::string model = "blend";  // blend | cooc | two_tower | popular (one channel)
  std::string channels;         // explicit channel list (overrides --model)
  int k = 10;
  int64_t seed = -1;
  bool no_logq = false;
  int epochs = -1;
  double batch_cutoff = 1.0;
  bool online_after_cutoff = false;
  std::string loss_curve;
  std::string examples_out, model_dir;
  std::string plot;  // default: the report's path with .svg
  bool no_plot = false;
};

// Writes the JSON report and, beside it, its plot (eval/quality_plot.h).
int WriteReport(const EvalFlags& f, const std::string& json, const std::string& label) {
  if (!f.report.empty()) {
    std::ofstream out(f.report);
    out << json;
    out.flush();
    if (!out) {
      std::fprintf(stderr, "streamrec eval: cannot write %s\n", f.report.c_str());
      return 1;
    }
  }
  const std::string plot = f.plot.empty() && !f.report.empty() ? eval::PlotPathFor(f.report) : f.plot;
  if (plot.empty() || f.no_plot) return 0;
  const Status st = eval::PlotReport(json, label, "eval: " + label, plot, "streamrec eval");
  if (!st.ok()) {
    std::fprintf(stderr, "streamrec eval: plot %s: %s\n", plot.c_str(), st.message().c_str());
    return 1;
  }
  return 0;
}

void PrintAuc(const training::AucMetrics& auc, const std::string& lists) {
  std::printf("AUC %.4f  GAUC %.4f  (%lld users, %lld pairs; lists: %s, unlisted items tie below)\n", auc.auc,
              auc.gauc, static_cast<long long>(auc.users), static_cast<long long>(auc.pairs), lists.c_str());
}

std::vector<std::pair<std::string, std::string>> AucJson(const training::AucMetrics& auc) {
  char buf[64];
  std::vector<std::pair<std::string, std::string>> out;
  std::snprintf(buf, sizeof(buf), "%.17g", auc.auc);
  out.push_back({"auc", buf});
  std::snprintf(buf, sizeof(buf), "%.17g", auc.gauc);
  out.push_back({"gauc", buf});
  return out;
}

int RunPredictions(const EvalFlags& f) {
  auto preds = training::ReadPredictionsTsv(f.predictions);
  if (!preds.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", preds.status().message().c_str());
    return 1;
  }
  auto truth = training::ReadRatingsTsv(f.truth);
  if (!truth.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", truth.status().message().c_str());
    return 1;
  }
  const auto relevant = training::RelevantFromRatings(*truth);
  std::unordered_set<std::string> items;
  for (const auto& r : *truth) items.insert(r.item);
  for (const auto& p : *preds) items.insert(p.item);
  std::vector<int> ks = {1, 5};
  if (f.k != 1 && f.k != 5) ks.push_back(f.k);
  std::sort(ks.begin(), ks.end());
  std::vector<training::RankingMetrics> metrics;
  for (int k : ks) {
    metrics.push_back(training::ComputeRankingMetrics(training::TopKPerUser(*preds, k), relevant,
                                                      k, static_cast<int64_t>(items.size())));
  }
  std::printf("%s", training::FormatRankingMetrics(metrics).c_str());
  // Every scored item of a user is in its ranking; unscored ones tie below.
  const training::AucMetrics auc = training::ComputeAuc(
      training::TopKPerUser(*preds, std::numeric_limits<int>::max()), relevant, static_cast<int64_t>(items.size()));
  PrintAuc(auc, "every scored item");
  return WriteReport(f, training::RankingMetricsJson(metrics, AucJson(auc)), "predictions");
}

int RunTrainTest(const CommandContext& ctx, const EvalFlags& f) {
  auto train = training::ReadRatingsTsv(f.train);
  if (!train.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", train.status().message().c_str());
    return 1;
  }
  auto test = training::ReadRatingsTsv(f.test);
  if (!test.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", test.status().message().c_str());
    return 1;
  }
  // The served configuration; --model / --channels only switch channels off.
  Config config = ctx.config;
  std::string channels = f.channels;
  if (channels.empty() && f.model != "blend") channels = f.model;
  if (!channels.empty()) {
    auto parsed = serving::ParseChannels(channels);
    if (!parsed.ok()) {
      std::fprintf(stderr, "streamrec eval: --model/--channels: %s\n",
                   parsed.status().message().c_str());
      return 2;
    }
    (void)config.Set("serving.channels", channels);
  }
  if (f.seed >= 0) (void)config.Set("trainer.seed", std::to_string(f.seed));
  if (f.no_logq) (void)config.Set("trainer.logq_correction", "false");
  auto o = eval::OfflineEvalOptions::FromConfig(config);
  if (!o.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", o.status().ToString().c_str());
    return 2;
  }
  o->k = f.k;
  if (f.epochs >= 0) o->epochs = f.epochs;
  o->batch_cutoff = f.batch_cutoff;
  o->online_after_cutoff = f.online_after_cutoff;
  o->loss_curve_path = f.loss_curve;
  o->examples_out = f.examples_out;
  o->model_dir = f.model_dir;
  auto result = eval::RunOfflineEval(*train, *test, *o);
  if (!result.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", result.status().ToString().c_str());
    return 1;
  }
  const std::string label = channels.empty() ? "blend" : result->channels;
  std::printf("served recommender (%s): %lld train events, %lld steps, final loss %.4f, "
              "model v%lld, %.1f s\n",
              label.c_str(), static_cast<long long>(result->train_events),
              static_cast<long long>(result->steps), result->final_loss,
              static_cast<long long>(result->model_version), result->seconds);
  std::printf("%s", training::FormatRankingMetrics(result->metrics).c_str());
  PrintAuc(result->auc, "top " + std::to_string(o->auc_depth) + " served items, train items excluded");
  auto extra = AucJson(result->auc);
  extra.push_back({"model", "\"" + label + "\""});
  extra.push_back({"channels", "\"" + result->channels + "\""});
  return WriteReport(f, training::RankingMetricsJson(result->metrics, extra), label);
}

const CommandRegistration kEval(
    "eval", ModelCommandDescription("eval"),
    [](CLI::App* sub) -> RunFn {
      auto f = std::make_shared<EvalFlags>();
      sub->add_option("--predictions", f->predictions, "user<TAB>item<TAB>score file");
      sub->add_option("--truth", f->truth, "user<TAB>item<TAB>rating[<TAB>ts] relevant items");
      sub->add_option("--train", f->train, "user<TAB>item<TAB>rating<TAB>ts training file");
      sub->add_option("--test", f->test, "user<TAB>item<TAB>rating<TAB>ts test file");
      sub->add_option("--model", f->model,
                      "blend (the served recommender, default) or one channel alone: cooc | "
                      "two_tower | popular")
          ->capture_default_str();
      sub->add_option("--channels", f->channels,
                      "Channels of the served recommender to run (comma list of cooc, two_tower, "
                      "popular, fallback, renewed); overrides --model");
      sub->add_option("--k", f->k, "cut-off (metrics at 1, 5 and k)")
          ->check(CLI::Range(1, 1000))
          ->capture_default_str();
      sub->add_option("--report", f->report, "write the metrics as JSON to this file");
      sub->add_option("--plot", f->plot,
                      "draw the metrics as SVG here (gnuplot; default: the --report path with .svg)");
      sub->add_flag("--no-plot", f->no_plot, "write no plot");
      sub->add_option("--seed", f->seed, "random seed of the model (default: trainer.seed)");
      sub->add_flag("--no-logq", f->no_logq, "train without the logQ correction");
      sub->add_option("--epochs", f->epochs, "passes over the train examples (default 5)");
      sub->add_option("--batch-cutoff", f->batch_cutoff,
                      "the --epochs passes cover only this fraction of the train examples, in time "
                      "order: the batch model at its cutoff (lambda; default 1 = all)")
          ->check(CLI::Range(0.0, 1.0));
      sub->add_flag("--online-after-cutoff", f->online_after_cutoff,
                    "then one pass over the rest, in order: the online model warm-started from the "
                    "batch model (with --batch-cutoff)");
      sub->add_option("--loss-curve", f->loss_curve, "write the training loss per step (CSV)");
      sub->add_option("--examples-out", f->examples_out,
                      "also write the two-tower training examples (with p̂) to this file, to "
                      "train elsewhere (bench/training/training_bench train-examples)");
      sub->add_option("--model-dir", f->model_dir,
                      "serve the newest snapshot in this model store instead of training one "
                      "here (e.g. trained on a GPU from --examples-out)")
          ->check(CLI::ExistingDirectory);
      return [f](const CommandContext& ctx) -> int {
        if (f->k < 1) {
          std::fprintf(stderr, "streamrec eval: --k must be >= 1\n");
          return 2;
        }
        if (!f->predictions.empty() && !f->truth.empty()) return RunPredictions(*f);
        if (!f->train.empty() && !f->test.empty()) return RunTrainTest(ctx, *f);
        std::fprintf(stderr,
                     "streamrec eval: give --predictions and --truth, or --train and --test\n");
        return 2;
      };
    });

}  // namespace
}  // namespace streamrec::apps
