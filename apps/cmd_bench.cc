// `streamrec bench`: whole-system benchmarks (micro-benchmarks live in bench/).
//   bench prequential   test-then-train over a history file in time order, through the
//                       served system run in process with a barrier after every event
//                       (eval/prequential.h): HitRate@k, NDCG@k, MRR, coverage, over all
//                       and warm events, and over time (DESIGN §7, streaming evaluation).
//   bench plot          draws prequential (and eval) JSON reports as one SVG with gnuplot:
//                       the curves over time and the channel ablation (eval/quality_plot.h).
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "eval/prequential.h"
#include "eval/quality_plot.h"
#include "serving/recommender.h"
#include "streams/catalog.h"
#include "streams/history_reader.h"
#include "streams/synthetic_clicks.h"

namespace streamrec::apps {
namespace {

struct PrequentialFlags {
  std::string data;
  std::string format = "movielens";
  std::string items;
  std::string model = "blend";  // blend | top | mc | itemknn
  std::string channels;         // ablation: the served recommender with these channels only
  int k = 10;
  int64_t limit = 0;            // 0 = every event
  int64_t window = 5000;        // events per reported window
  int64_t snapshot_every = 5000;
  int64_t batch_every = 0;
  std::string work_dir;
  std::string report;
  std::string plot;       // default: the report's path with .svg
  bool no_plot = false;
  int64_t synthetic = 0;  // > 0: this many events of the synthetic generator instead of --data
  uint64_t seed = 42;
  double funnels = 0;  // synthetic: funnel revisit probability (0 = off)
};

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "streamrec bench prequential: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

int RunPrequential(const CommandContext& ctx, const PrequentialFlags& flags) {
  const bool baseline = flags.model == "top" || flags.model == "mc" || flags.model == "itemknn";
  if (flags.model != "blend" && !baseline) {
    return Fail("--model", Status::InvalidArgument("must be blend, top, mc or itemknn, not '" +
                                                   flags.model + "'"));
  }
  if (baseline && !flags.channels.empty()) {
    return Fail("--channels", Status::InvalidArgument("only with --model blend"));
  }
  Config config = ctx.config;
  if (!flags.channels.empty()) {
    // Exactly the named channels of the served recommender (serving.channels).
    auto parsed = serving::ParseChannels(flags.channels);
    if (!parsed.ok()) return Fail("--channels", parsed.status());
    (void)config.Set("serving.channels", flags.channels);
  }
  auto options = eval::PrequentialOptions::FromConfig(config);
  if (!options.ok()) return Fail("configuration", options.status());
  options->model = baseline ? flags.model : "served";
  options->k = static_cast<size_t>(flags.k);
  options->window_events = flags.window;
  options->snapshot_every_events = flags.snapshot_every;
  options->batch_every_events = flags.batch_every;
  options->work_dir = flags.work_dir;

  Result<std::vector<ClickEvent>> events = std::vector<ClickEvent>();
  if (flags.synthetic > 0) {
    // The synthetic generator's stream (already in time order) and its catalogue.
    SyntheticOptions so;
    so.seed = flags.seed;
    so.funnel_revisit_prob = flags.funnels;
    SyntheticClickGenerator generator(so);
    for (int64_t i = 0; i < flags.synthetic; ++i) events->push_back(generator.Next());
    for (const SyntheticItem& item : generator.items()) options->catalog.push_back(item.catalog);
  } else {
    if (flags.data.empty()) return Fail("input", Status::InvalidArgument("give --data or --synthetic"));
    auto format = ParseHistoryFormat(flags.format);
    if (!format.ok()) return Fail("--format", format.status());
    HistoryReaderOptions ro;
    ro.format = *format;
    events = ReadHistoryFile(flags.data, ro, /*skip_bad=*/false, /*sort_by_time=*/true);
    if (!events.ok()) return Fail("reading " + flags.data, events.status());
  }
  if (flags.limit > 0 && static_cast<int64_t>(events->size()) > flags.limit) {
    events->resize(static_cast<size_t>(flags.limit));
  }
  if (!flags.items.empty()) {
    auto items = ReadMovieLensItems(flags.items);
    if (!items.ok()) return Fail("catalogue " + flags.items, items.status());
    options->catalog = std::move(items).value();
  }
  const int k = flags.k;
  auto report = eval::RunPrequential(*events, *options, [k](const eval::PrequentialWindow& w) {
    std::fprintf(stderr, "  events %7lld  HitRate@%d %.4f  NDCG@%d %.4f  MRR %.4f  model v%lld\n",
                 static_cast<long long>(w.end_event), k, w.metrics.hit_rate(), k,
                 w.metrics.mean_ndcg(), w.metrics.mrr(), static_cast<long long>(w.model_version));
  });
  if (!report.ok()) return Fail("run", report.status());
  std::printf("%s\n", report->SummaryLine().c_str());
  if (!flags.report.empty()) {
    std::ofstream out(flags.report);
    out << report->ToJson();
    out.flush();
    if (!out) return Fail("writing " + flags.report, Status::IoError("write failed"));
  }
  const std::string plot = flags.plot.empty() && !flags.report.empty() ? eval::PlotPathFor(flags.report) : flags.plot;
  if (!plot.empty() && !flags.no_plot) {
    const Status st = eval::PlotReport(report->ToJson(), report->model, "prequential: " + report->model, plot,
                                       "streamrec bench prequential");
    if (!st.ok()) return Fail("plot " + plot, st);
  }
  return 0;
}

struct PlotFlags {
  std::vector<std::string> reports;
  std::string out;
  std::string title = "streamrec quality";
};

int RunPlot(const PlotFlags& flags) {
  std::vector<eval::QualityReport> reports;
  for (const std::string& path : flags.reports) {
    auto r = eval::ReadQualityReport(path);
    if (!r.ok()) {
      std::fprintf(stderr, "streamrec bench plot: %s\n", r.status().message().c_str());
      return 1;
    }
    reports.push_back(std::move(r).value());
  }
  const Status st = eval::WriteQualityPlot(reports, flags.title, flags.out);
  if (!st.ok()) {
    std::fprintf(stderr, "streamrec bench plot: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("%s\n", flags.out.c_str());
  return 0;
}

const CommandRegistration kBench(
    "bench", ModelCommandDescription("bench"),
    [](CLI::App* sub) -> RunFn {
      sub->require_subcommand(1);
      auto flags = std::make_shared<PrequentialFlags>();
      CLI::App* preq = sub->add_subcommand(
          "prequential",
          "Test-then-train over a history file in time order: before each event ask the served "
          "recommender (or a baseline) for the user's top-k and score the event's item, then "
          "deliver the event to every stage (user, item, trainer, serving) and wait until all "
          "processed it. In process and deterministic: no rate, no broker");
      preq->add_option("--data", flags->data, "History file (MovieLens u.data, jsonl or csv)")
          ->check(CLI::ExistingFile);
      preq->add_option("--synthetic", flags->synthetic,
                       "Instead of --data: N events of the synthetic generator (with its catalogue)");
      preq->add_option("--seed", flags->seed, "Seed of the synthetic generator")
          ->capture_default_str();
      preq->add_option("--funnels", flags->funnels,
                       "With --synthetic: shopping funnels, this share of events returning to "
                       "an item viewed/carted but not bought (0 = off; streams/synthetic_clicks.h)")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str();
      preq->add_option("--format", flags->format, "movielens | jsonl | csv")->capture_default_str();
      preq->add_option("--items", flags->items, "MovieLens u.item catalogue for serving's table")
          ->check(CLI::ExistingFile);
      preq->add_option("--model", flags->model,
                       "blend (the served recommender) | top | mc | itemknn (baselines)")
          ->capture_default_str();
      preq->add_option("--channels", flags->channels,
                       "Run only these channels of the served recommender: cooc, two_tower, "
                       "popular, fallback, renewed (comma list); default: serving.channels");
      preq->add_option("--k", flags->k, "Cut-off of HitRate, NDCG and MRR")
          ->check(CLI::Range(1, 1000))
          ->capture_default_str();
      preq->add_option("--limit", flags->limit, "Only the first N events in time order (0 = all)");
      preq->add_option("--window", flags->window, "Events per point of the curve over time")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      preq->add_option("--snapshot-every", flags->snapshot_every,
                       "Events between model snapshots (written, loaded and swapped in as live; "
                       "0 = no model)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      preq->add_option("--batch-every", flags->batch_every,
                       "The lambda merge: every N events the batch layer recomputes the item views of "
                       "everything consumed and the item stage re-bases onto them (lambda.merge); 0 = the "
                       "speed layer alone")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      preq->add_option("--work-dir", flags->work_dir,
                       "Scratch directory for stage state and models (default: a temp dir, removed)");
      preq->add_option("--report", flags->report, "Write the metrics (and the curve) as JSON here");
      preq->add_option("--plot", flags->plot,
                       "Draw the curve over time as SVG here (gnuplot; default: the --report path "
                       "with .svg, and its gnuplot script with .gp)");
      preq->add_flag("--no-plot", flags->no_plot, "Write no plot");

      auto plot_flags = std::make_shared<PlotFlags>();
      CLI::App* plot = sub->add_subcommand(
          "plot",
          "Draw JSON reports of `bench prequential` and `eval` as one SVG with gnuplot: HitRate@k "
          "and NDCG@k over time (a line per report) and the overall figures side by side (the "
          "channel ablation when the reports are the channels alone)");
      plot->add_option("reports", plot_flags->reports, "Report files (JSON)")
          ->required()
          ->check(CLI::ExistingFile);
      plot->add_option("--out", plot_flags->out, "SVG to write (its gnuplot script goes beside, .gp)")
          ->required();
      plot->add_option("--title", plot_flags->title, "Title of the chart")->capture_default_str();
      return [flags, preq, plot_flags, plot](const CommandContext& ctx) -> int {
        if (preq->parsed()) return RunPrequential(ctx, *flags);
        if (plot->parsed()) return RunPlot(*plot_flags);
        std::fprintf(stderr, "streamrec bench: choose a benchmark; see --help\n");
        return 2;
      };
    });

}  // namespace
}  // namespace streamrec::apps
