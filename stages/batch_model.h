#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "batch/batch_job.h"
#include "batch/training_input.h"
#include "core/status.h"
#include "training/trainer.h"

namespace streamrec::stages {

// The batch layer's model (issue 11 item 1): a two-tower model trained from scratch on
// the whole history, for several epochs, by the same training::Trainer as the online
// trainer stage (the same model, loss, logQ correction and snapshot format).
struct BatchModelOptions {
  // From the trainer.* config keys (training::TrainerOptionsFromConfig), except:
  // model_dir and resume are not used (the snapshot is written to the given directory),
  // and replay_steps is set to 0 (epochs over the whole history replace replay).
  training::TrainerOptions trainer;
  // Passes over the examples, each in the batch layer's order (time order). Default 5
  // (as `streamrec eval`).
  int epochs = 5;
};

struct BatchModelResult {
  int64_t examples = 0;  // examples trained on, all epochs
  int64_t steps = 0;
  double final_loss = 0;
  int64_t num_items = 0;
  int64_t num_users = 0;
};

// The summary a batch version's manifest records for a model trained with `epochs`
// passes in `train_seconds`.
batch::BatchModelSummary SummarizeBatchModel(const BatchModelResult& result, int epochs, double train_seconds);

// Trains on `input` with training::TrainEpochs (as `streamrec eval` trains: each example
// with its item's p̂, here the batch estimator's from the input's item stats) and writes
// the snapshot into `out_dir` (training/snapshot.h layout; created). `stop` is
// polled between examples: true ends the training with Unavailable("stopped") and
// nothing written. `progress` gets (examples done, examples in all epochs).
Result<BatchModelResult> TrainBatchModel(const batch::TrainingInput& input, const BatchModelOptions& options,
                                         const std::string& out_dir, const std::function<bool()>& stop = {},
                                         const std::function<void(int64_t, int64_t)>& progress = {});

// The model step of a batch run in this process (the scheduled batch layer of
// `streamrec run`, batch/batch_scheduler.h): reads the run's training input and trains
// with TrainBatchModel, as `streamrec-model batch-model` does for `streamrec batch`.
batch::ModelTrainerFn InProcessBatchModelTrainer(BatchModelOptions options, std::function<bool()> stop);

}  // namespace streamrec::stages
