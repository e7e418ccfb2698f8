// `streamrec batch`: the batch layer (DESIGN §2, "Batch layer"). Recomputes the item-side
// views (pair counts, exact top-K neighbours, popularity, the p̂ estimator) from a history
// file or from a topic up to a cutoff, with the stages' own code (batch/), and writes
// them as a new complete version <out>/batch-v<N> with a manifest.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/batch_run.h"
#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/model_binary.h"
#include "apps/progress_bar.h"
#include "apps/stop_signal.h"
#include "batch/batch_announcement.h"
#include "batch/batch_input.h"
#include "batch/batch_job.h"
#include "batch/batch_run.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct BatchFlags {
  std::string file;
  std::string format;
  bool skip_bad = false;
  bool rating_events = false;
  std::string from_topic;
  std::string brokers;
  std::string bootstrap_file;
  std::string end_offsets;
  std::string cutoff_group;
  std::string out = "streamrec-batch";
  bool no_progress = false;
  bool no_announce = false;
  bool no_model = false;
  int epochs = 5;
  int keep = 0;  // 0: keep every version
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "streamrec batch: %s\n", msg.c_str());
  return code;
}

// "120,97,0": one end offset per partition, in partition order.
Result<std::vector<int64_t>> ParseEndOffsets(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size() || v < 0) {
      return Status::InvalidArgument("--end-offsets: '" + part +
                                     "' is not an offset (give one per partition, in partition order: 120,97,0)");
    }
    out.push_back(v);
  }
  if (out.empty()) return Status::InvalidArgument("--end-offsets: no offsets given");
  return out;
}

std::string Describe(const batch::BatchSource& s) {
  if (s.kind == batch::BatchSource::Kind::kFile) {
    return s.path + " (" + s.format + ", " + std::to_string(s.lines) + " lines)";
  }
  std::string out = s.topic + " up to offsets ";
  for (size_t i = 0; i < s.partitions.size(); ++i) {
    out += (i ? "," : "") + std::to_string(s.partitions[i].end);
  }
  return out;
}

int RunBatch(const CommandContext& ctx, const BatchFlags& flags) {
  auto options = batch::BatchJobOptions::FromConfig(ctx.config);
  if (!options.ok()) return Fail("config: " + options.status().message(), 2);
  if (!flags.no_model) {
    if (Status st = CheckModelBinary(); !st.ok()) {
      return Fail("the model needs " + st.message() + " (--no-model writes the views only)", kModelBinaryMissing);
    }
  }
  options->root = flags.out;
  InstallStopSignalHandlers();
  const auto stop = [] { return StopRequested(); };
  const bool progress_on = !flags.no_progress;
  const auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> end_offsets;
  if (!flags.end_offsets.empty()) {
    auto ends = ParseEndOffsets(flags.end_offsets);
    if (!ends.ok()) return Fail(ends.status().message(), 2);
    end_offsets = *ends;
  }
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) return Fail(names.status().message(), 2);
  // The cluster: the topic's, or, for a file, the one to announce on (when named).
  std::string brokers;
  const bool from_topic = flags.file.empty();
  if (from_topic || !flags.brokers.empty() || !flags.bootstrap_file.empty()) {
    auto b = RequireBrokers(ctx.config, flags.brokers, flags.bootstrap_file);
    if (!b.ok()) return Fail(b.status().message(), 2);
    brokers = *b;
    if (int rc = RequireKafka("batch", ctx.config, brokers); rc != 0) return rc;
  }
  const bool announce = !flags.no_announce && !brokers.empty();

  Result<batch::BatchInput> input = Status::Internal("no input");
  if (!from_topic) {
    auto format = ParseHistoryFormat(flags.format);
    if (!format.ok()) return Fail(format.status().message(), 2);
    HistoryReaderOptions ropts;
    ropts.format = *format;
    ropts.movielens_rating_events = flags.rating_events;
    input = batch::ReadFileInput(flags.file, ropts, flags.skip_bad);
    if (!input.ok()) {
      return Fail(input.status().message() +
                  (input.status().code() == Status::Code::kInvalidArgument ? " (--skip-bad skips bad lines)" : ""));
    }
  } else {
    const std::string topic = flags.from_topic.empty() ? names->clicks : flags.from_topic;
    // --cutoff-group: where the user stage's output parts end, so the item stage can merge
    // the view exactly.
    batch::TopicCutoff cutoff{end_offsets, flags.cutoff_group};
    ProgressBar bar(0, progress_on, "reading " + topic, /*lines_when_not_a_terminal=*/true);
    int64_t read = 0;
    input = batch::ReadTopicUpToCutoff(ctx.config, brokers, topic, cutoff, options->max_future_ms, stop,
                                [&](int64_t done, int64_t total) {
                                  bar.set_total(total);
                                  bar.Update(done);
                                  read = done;
                                });
    bar.Finish(read);
    if (!input.ok()) {
      if (StopRequested()) return Fail("stopped; no version written", kInterruptedExitCode);
      return Fail(input.status().ToString());
    }
  }
  if (input->rejected > 0) {
    std::string reasons;
    for (const auto& [reason, n] : input->rejected_by_reason) {
      reasons += (reasons.empty() ? " (" : ", ") + reason + " " + std::to_string(n);
    }
    if (!reasons.empty()) reasons += ")";
    std::fprintf(stderr, "streamrec batch: %lld records left out, as the user stage rejects them%s\n",
                 static_cast<long long>(input->rejected), reasons.c_str());
  }

  ProgressBar bar(static_cast<int64_t>(input->events.size()), progress_on, "recomputing",
                  /*lines_when_not_a_terminal=*/true);
  int64_t applied = 0;
  bool bar_finished = false;
  // The model: streamrec-model batch-model, a child process (LibTorch stays out of this
  // one), on the training input the recomputation wrote into the version being built.
  batch::ModelTrainerFn train_model;
  if (!flags.no_model) {
    train_model = BatchModelTrainer(GlobalArguments(ctx.argv, "batch"), flags.epochs, !flags.no_progress, stop, [&] {
      bar.Finish(applied);
      bar_finished = true;
    });
  }
  auto manifest = batch::BuildBatchView(
      *input, *options, stop,
      [&](int64_t done, int64_t) {
        bar.Update(done);
        applied = done;
      },
      train_model);
  if (!bar_finished) bar.Finish(applied);
  if (!manifest.ok()) {
    if (StopRequested()) return Fail("stopped; no version written", kInterruptedExitCode);
    return Fail(manifest.status().ToString());
  }
  std::string model = "no model (--no-model)";
  if (manifest->has_model) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "model: %lld epochs, %lld steps, loss %.4f", static_cast<long long>(manifest->model.epochs),
                  static_cast<long long>(manifest->model.steps), manifest->model.final_loss);
    model = buf;
  }
  std::string announced = "not announced (no --brokers)";
  if (flags.no_announce) announced = "not announced (--no-announce)";
  if (announce) {
    if (Status st = batch::AnnounceBatchVersion(ctx.config, brokers, *manifest, stop); !st.ok()) {
      return Fail("version " + std::to_string(manifest->version) + " is complete at " + manifest->dir +
                  " but was not announced: " + st.ToString());
    }
    announced = "announced on " + names->batch_views;
  }
  std::string pruned;
  if (flags.keep > 0) {
    // After the announcement: the new version is out before an old one goes.
    auto removed = batch::PruneBatchVersions(flags.out, flags.keep);
    if (!removed.ok()) {
      return Fail("version " + std::to_string(manifest->version) + " is complete and " + announced +
                  ", but removing old versions failed: " + removed.status().ToString());
    }
    if (!removed->empty()) pruned = "; removed " + std::to_string(removed->size()) + " old version(s)";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "batch: version %lld at %s: %lld events (%lld left out) from %s; %lld items, %lld pairs, %lld neighbour "
      "lists (%s, top %lld); %s; %s%s; %.2f s, %.0f events/s\n",
      static_cast<long long>(manifest->version), manifest->dir.c_str(), static_cast<long long>(manifest->events),
      static_cast<long long>(manifest->rejected), Describe(manifest->source).c_str(),
      static_cast<long long>(manifest->items), static_cast<long long>(manifest->pairs),
      static_cast<long long>(manifest->neighbor_lists), manifest->similarity.c_str(),
      static_cast<long long>(manifest->top_k), model.c_str(), announced.c_str(), pruned.c_str(), secs, secs > 0 ? static_cast<double>(manifest->events) / secs : 0.0);
  return 0;
}

const CommandRegistration kBatch(
    "batch",
    "Recompute the item views (pair counts, exact top-K neighbours, popularity, p̂) from a history file or "
    "from clicks up to a cutoff, as a new versioned batch view",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<BatchFlags>();
      sub->add_option("FILE", flags->file,
                      "History file (\"-\" for stdin), as `streamrec replay` reads; without it the topic is read");
      sub->add_option("--format", flags->format, "movielens (u.data) | jsonl | csv; required with FILE")
          ->check(CLI::IsMember({"movielens", "jsonl", "csv"}));
      sub->add_flag("--skip-bad", flags->skip_bad, "FILE: skip (and count) unreadable lines instead of failing");
      sub->add_flag("--rating-events", flags->rating_events,
                    "MovieLens: ratings 1-2 view, 3 click, 4 add_to_cart, 5 purchase (default all purchase, "
                    "as replay)");
      sub->add_option("--from-topic", flags->from_topic,
                      "Topic to read when no FILE is given (default: topics.clicks, \"clicks\")");
      sub->add_option("--brokers", flags->brokers, "bootstrap.servers (default: kafka.bootstrap.servers)");
      sub->add_option("--bootstrap-file", flags->bootstrap_file,
                      "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
      sub->add_option("--end-offsets", flags->end_offsets,
                      "The cutoff: one end offset (exclusive) per partition, in partition order, e.g. "
                      "120,97,0 (default: each partition's end offset when the run starts)");
      sub->add_option("--cutoff-group", flags->cutoff_group,
                      "The cutoff: the offsets this consumer group committed on the topic; the user stage's "
                      "(streamrec-user) for a view the item stage merges exactly (lambda.merge)")
          ->excludes("--end-offsets");
      sub->add_option("--out", flags->out, "Output root: the view is written to OUT/batch-v<N>")
          ->capture_default_str();
      sub->add_flag("--no-progress", flags->no_progress, "No progress on stderr");
      sub->add_option("--keep", flags->keep,
                      "After writing (and announcing) the new version, remove all but the newest KEEP versions "
                      "under OUT (default 0: remove none)")
          ->check(CLI::NonNegativeNumber);
      sub->add_option("--epochs", flags->epochs,
                      "Passes of the model's training over the whole history, in time order")
          ->capture_default_str()
          ->check(CLI::Range(1, 1000));
      sub->add_flag("--no-model", flags->no_model,
                    "Views only: no two-tower model (trained by streamrec-model batch-model, LibTorch, with the "
                    "trainer.* config keys)");
      sub->add_flag("--no-announce", flags->no_announce,
                    "Do not announce the new version on topics.batch_views (\"streamrec.batch\"; by default "
                    "it is announced whenever a cluster is known: the topic read, or --brokers with a FILE)");
      sub->footer(
          "Each run writes a new complete version OUT/batch-v<N> (a RocksDB in the item stage's layout, view/, "
          "the two-tower model trained from scratch over the history, model/, and manifest.json naming the "
          "cutoff, counts and checksums); it is built in a "
          "temporary directory and renamed, so Ctrl-C (exit 130) or a crash leaves no partial version, and "
          "a rerun makes a fresh one. The window, weights, similarity, top_k, popularity and estimator come "
          "from the operators.* config keys, as the stages read them.\n"
          "Examples: streamrec batch ml-100k/u.data --format movielens --out views\n"
          "          streamrec batch --brokers 127.0.0.1:9092 --out views\n"
          "          streamrec batch --brokers 127.0.0.1:9092 --cutoff-group streamrec-user --out views   "
          "(for lambda.merge)");
      return [flags](const CommandContext& ctx) {
        if (!flags->file.empty()) {
          if (flags->format.empty()) return Fail("--format is required with FILE", 2);
          if (!flags->from_topic.empty() || !flags->end_offsets.empty() || !flags->cutoff_group.empty()) {
            return Fail("FILE or --from-topic: not both (--end-offsets and --cutoff-group go with the topic)", 2);
          }
        } else if (!flags->format.empty() || flags->skip_bad || flags->rating_events) {
          return Fail("--format, --skip-bad and --rating-events go with a history FILE", 2);
        }
        if (flags->out.empty()) return Fail("--out must name a directory", 2);
        return RunBatch(ctx, *flags);
      };
    });

}  // namespace
}  // namespace streamrec::apps
