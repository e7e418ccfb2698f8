#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "batch/batch_input.h"
#include "batch/batch_manifest.h"
#include "core/config.h"
#include "core/status.h"
#include "operators/batch_view.h"

namespace streamrec::batch {

// Options of a batch run.
struct BatchJobOptions {
  // The state to recompute: the user and item stages' options from the same config keys
  // (operators.window.*, operators.weights.*, operators.cooc.half_life_s,
  // operators.similarity, operators.top_k, operators.popularity.half_life_s,
  // operators.estimator.*), so a view matches the stages it stands beside.
  operators::BatchViewOptions view;
  // operators.max_future_ms, for reading a topic (TopicInputOptions).
  int64_t max_future_ms = 86400000;
  // The output root: versions go to <root>/batch-v<N>. Required.
  std::string root;
  // The view's name (manifest, announcement key). Default "items".
  std::string view_name = "items";

  // Everything but root from the config.
  static Result<BatchJobOptions> FromConfig(const Config& config);
};

// Trains the batch model (run between writing the view and committing the version):
// reads the training input at `training_input` (batch/training_input.h) and writes the
// snapshot into `model_dir`, which does not exist yet. `streamrec batch` runs
// `streamrec-model batch-model` for it (the library stays torch-free).
using ModelTrainerFn =
    std::function<Result<BatchModelSummary>(const std::string& training_input, const std::string& model_dir)>;

// Recomputes the item-side views from `input` (operators::BatchViewBuilder: the stages'
// own window, pair, popularity, estimator and similarity code) and writes them as a new
// complete version under options.root (batch_manifest.h). `progress` gets (events
// applied, events in all) while recomputing. When `stop` returns true the run ends with
// Unavailable("stopped") and no version is left behind (nor a temporary directory).
// Returns the manifest as written. With `train_model`, the training examples of every
// event (the user stage's) and every item's stats (p̂ of the batch estimator) are
// written to a training input in the temporary directory, `train_model` trains the model
// into <version>/model, and the input is removed before the commit.
Result<BatchManifest> BuildBatchView(const BatchInput& input, const BatchJobOptions& options,
                                     const StopFn& stop = {}, const ProgressFn& progress = {},
                                     const ModelTrainerFn& train_model = {});

inline constexpr char kTrainingInputFileName[] = "training-input.bin";
inline constexpr char kModelDirName[] = "model";

}  // namespace streamrec::batch
