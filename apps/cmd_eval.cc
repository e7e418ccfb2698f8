// `streamrec eval`: offline ranking metrics (DESIGN §7).
//   --predictions P --truth T --k K      metrics of a prediction file
//   --train TRAIN --test TEST --model M  train a model on TRAIN (time order), score TEST
#include <cstdio>
#include <fstream>
#include <string>

#include "apps/command.h"
#include "apps/offline_eval.h"
#include "training/ranking_metrics.h"

namespace streamrec::apps {
namespace {

struct EvalFlags {
  std::string predictions, truth, train, test, report;
  std::string model = "two_tower";
  int k = 10;
  uint64_t seed = 42;
  bool no_logq = false;
  bool no_mask = false;
  bool no_user_id = false;
  bool user_id = false;
  int epochs = -1;
  int64_t dim = -1, hidden = -1, batch = -1, max_history = -1, window_s = -1;
  double tau = -1, lr = -1, weight_decay = -1, blend_weight = -1, half_life_days = -1;
  std::string history_encoder, optimizer, similarity, loss_curve;
  int64_t cooc_window = -1;
};

int WriteReport(const std::string& path, const std::string& json) {
  if (path.empty()) return 0;
  std::ofstream out(path);
  out << json;
  out.flush();
  if (!out) {
    std::fprintf(stderr, "streamrec eval: cannot write %s\n", path.c_str());
    return 1;
  }
  return 0;
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
  return WriteReport(f.report, training::RankingMetricsJson(metrics));
}

int RunTrainTest(const EvalFlags& f) {
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
  OfflineEvalOptions o;
  o.model = f.model;
  o.k = f.k;
  o.trainer.seed = f.seed;
  o.trainer.loss.logq_correction = !f.no_logq;
  o.trainer.loss.mask_accidental_hits = !f.no_mask;
  if (f.user_id) o.trainer.model.use_user_id = true;
  if (f.no_user_id) o.trainer.model.use_user_id = false;
  if (f.epochs >= 0) o.epochs = f.epochs;
  if (f.dim > 0) o.trainer.model.embedding_dim = o.trainer.model.output_dim = f.dim;
  if (f.hidden >= 0) o.trainer.model.hidden_dim = f.hidden;
  if (f.batch > 0) o.trainer.batch_size = f.batch;
  if (f.max_history > 0) o.history.max_items = static_cast<size_t>(f.max_history);
  if (f.max_history > 0) o.trainer.model.max_history = f.max_history;
  if (f.window_s >= 0) o.history.horizon_ms = f.window_s * 1000;
  if (f.tau > 0) o.trainer.model.temperature = f.tau;
  if (f.lr > 0) o.trainer.learning_rate = f.lr;
  if (f.weight_decay >= 0) o.trainer.weight_decay = f.weight_decay;
  if (f.blend_weight >= 0) o.blend_weight = f.blend_weight;
  if (f.half_life_days >= 0) o.affinity_half_life_s = f.half_life_days * 86400.0;
  if (f.cooc_window > 0) o.cooc_window.max_items = static_cast<size_t>(f.cooc_window);
  if (!f.optimizer.empty()) o.trainer.optimizer = f.optimizer;
  if (!f.history_encoder.empty() &&
      !training::ParseHistoryEncoder(f.history_encoder, &o.trainer.model.history_encoder)) {
    std::fprintf(stderr, "streamrec eval: --history must be mean or gru\n");
    return 2;
  }
  if (!f.similarity.empty()) {
    auto s = operators::ParseSimilarity(f.similarity);
    if (!s.ok()) {
      std::fprintf(stderr, "streamrec eval: %s\n", s.status().message().c_str());
      return 2;
    }
    o.similarity = *s;
  }
  o.loss_curve_path = f.loss_curve;
  auto result = RunOfflineEval(*train, *test, o);
  if (!result.ok()) {
    std::fprintf(stderr, "streamrec eval: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::printf("model %s: %lld train events, %lld steps, final loss %.4f, %.1f s\n",
              f.model.c_str(), static_cast<long long>(result->train_events),
              static_cast<long long>(result->steps), result->final_loss, result->train_seconds);
  std::printf("%s", training::FormatRankingMetrics(result->metrics).c_str());
  return WriteReport(f.report,
                     training::RankingMetricsJson(result->metrics, {{"model", "\"" + f.model + "\""}}));
}

const CommandRegistration kEval(
    "eval", "Offline ranking metrics: of a prediction file, or of a model trained on a split",
    [](CLI::App* sub) -> RunFn {
      auto f = std::make_shared<EvalFlags>();
      sub->add_option("--predictions", f->predictions, "user<TAB>item<TAB>score file");
      sub->add_option("--truth", f->truth, "user<TAB>item<TAB>rating[<TAB>ts] relevant items");
      sub->add_option("--train", f->train, "user<TAB>item<TAB>rating<TAB>ts training file");
      sub->add_option("--test", f->test, "user<TAB>item<TAB>rating<TAB>ts test file");
      sub->add_option("--model", f->model, "pop | cooc | two_tower | blend")
          ->capture_default_str();
      sub->add_option("--k", f->k, "cut-off (metrics at 1, 5 and k)")->capture_default_str();
      sub->add_option("--report", f->report, "write the metrics as JSON to this file");
      sub->add_option("--seed", f->seed, "random seed of the model")->capture_default_str();
      sub->add_flag("--no-logq", f->no_logq, "train without the logQ correction");
      sub->add_flag("--no-mask", f->no_mask, "do not mask accidental hits in the batch");
      sub->add_flag("--user-id", f->user_id, "add a user-id embedding to the user tower");
      sub->add_flag("--no-user-id", f->no_user_id, "user tower from the history alone (default)");
      sub->add_option("--epochs", f->epochs, "passes over the train stream (default 5)");
      sub->add_option("--dim", f->dim, "embedding and output width (default 64)");
      sub->add_option("--hidden", f->hidden, "tower MLP hidden width, 0 = linear (default 128)");
      sub->add_option("--batch", f->batch, "batch size (default 256)");
      sub->add_option("--tau", f->tau, "temperature (default 0.1)");
      sub->add_option("--lr", f->lr, "learning rate (default 1e-3)");
      sub->add_option("--weight-decay", f->weight_decay, "L2 weight decay (default 0)");
      sub->add_option("--optimizer", f->optimizer, "adam | adagrad (default adam)");
      sub->add_option("--history", f->history_encoder, "mean | gru (default mean)");
      sub->add_option("--max-history", f->max_history, "history window size (default 200)");
      sub->add_option("--window-s", f->window_s, "history time window in seconds, 0 = none");
      sub->add_option("--similarity", f->similarity, "cooc: count|cosine|jaccard|lift (default jaccard)");
      sub->add_option("--cooc-window", f->cooc_window, "cooc: pair window size (default 300)");
      sub->add_option("--half-life-days", f->half_life_days,
                      "cooc: time-decay half-life of the user's history, 0 = off (default 0)");
      sub->add_option("--blend-weight", f->blend_weight, "blend: two-tower share (default 0.5)");
      sub->add_option("--loss-curve", f->loss_curve, "write the training loss per step (CSV)");
      return [f](const CommandContext&) -> int {
        if (f->k < 1) {
          std::fprintf(stderr, "streamrec eval: --k must be >= 1\n");
          return 2;
        }
        if (!f->predictions.empty() && !f->truth.empty()) return RunPredictions(*f);
        if (!f->train.empty() && !f->test.empty()) return RunTrainTest(*f);
        std::fprintf(stderr,
                     "streamrec eval: give --predictions and --truth, or --train and --test\n");
        return 2;
      };
    });

}  // namespace
}  // namespace streamrec::apps
