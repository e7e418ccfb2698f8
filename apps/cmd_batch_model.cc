// `streamrec-model batch-model`: the model part of the batch layer (issue 11 item 1).
// `streamrec batch` (torch-free) writes the training input of its run and runs this
// command as a child process to train the two-tower model from scratch over the whole
// history (stages/batch_model.h); the snapshot goes into the version being built.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/progress_bar.h"
#include "apps/stop_signal.h"
#include "batch/batch_manifest.h"
#include "batch/training_input.h"
#include "stages/batch_model.h"
#include "training/trainer_config.h"

namespace streamrec::apps {
namespace {

struct BatchModelFlags {
  std::string input;
  std::string out;
  std::string summary;
  int epochs = 5;
  bool no_progress = false;
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "streamrec batch-model: %s\n", msg.c_str());
  return code;
}

int RunBatchModel(const CommandContext& ctx, const BatchModelFlags& flags) {
  auto trainer = training::TrainerOptionsFromConfig(ctx.config);
  if (!trainer.ok()) return Fail("config: " + trainer.status().message(), 2);
  InstallStopSignalHandlers();
  const auto start = std::chrono::steady_clock::now();
  auto input = batch::ReadTrainingInput(flags.input);
  if (!input.ok()) return Fail(input.status().ToString());
  stages::BatchModelOptions options;
  options.trainer = *trainer;
  options.epochs = flags.epochs;
  ProgressBar bar(0, !flags.no_progress, "training", /*lines_when_not_a_terminal=*/true);
  int64_t trained = 0;
  auto result = stages::TrainBatchModel(
      *input, options, flags.out, [] { return StopRequested(); },
      [&](int64_t done, int64_t total) {
        bar.set_total(total);
        bar.Update(done);
        trained = done;
      });
  bar.Finish(trained);
  if (!result.ok()) {
    if (StopRequested()) return Fail("stopped; no model written", 130);
    return Fail(result.status().ToString());
  }
  const batch::BatchModelSummary s = stages::SummarizeBatchModel(
      *result, flags.epochs, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!flags.summary.empty()) {
    std::ofstream f(flags.summary, std::ios::binary | std::ios::trunc);
    f << batch::ModelSummaryToJson(s) << "\n";
    if (!f.good()) return Fail("cannot write " + flags.summary);
  }
  std::printf("batch-model: %d epochs over %zu examples, %lld steps, final loss %.4f, %lld items, %lld users -> %s; "
              "%.2f s\n",
              flags.epochs, input->examples.size(), static_cast<long long>(s.steps), s.final_loss,
              static_cast<long long>(s.num_items), static_cast<long long>(s.num_users), flags.out.c_str(),
              s.train_seconds);
  return 0;
}

const CommandRegistration kBatchModel(
    "batch-model", ModelCommandDescription("batch-model"), [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<BatchModelFlags>();
      sub->add_option("--input", flags->input, "Training input written by `streamrec batch`")->required();
      sub->add_option("--out", flags->out, "Directory to write the model snapshot into (must not exist)")
          ->required();
      sub->add_option("--summary", flags->summary, "Also write the result as JSON to this file");
      sub->add_option("--epochs", flags->epochs, "Passes over the examples, in time order")
          ->capture_default_str()
          ->check(CLI::Range(1, 1000));
      sub->add_flag("--no-progress", flags->no_progress, "No progress on stderr");
      sub->footer("The model options are the trainer's (trainer.* config keys); replay is off (epochs replace it).");
      return [flags](const CommandContext& ctx) { return RunBatchModel(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
