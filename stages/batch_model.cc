#include "stages/batch_model.h"

#include <chrono>
#include <unordered_map>
#include <vector>

#include "training/offline_examples.h"

namespace streamrec::stages {

Result<BatchModelResult> TrainBatchModel(const batch::TrainingInput& input, const BatchModelOptions& options,
                                         const std::string& out_dir, const std::function<bool()>& stop,
                                         const std::function<void(int64_t, int64_t)>& progress) {
  if (options.epochs < 1) return Status::InvalidArgument("epochs must be >= 1");
  if (input.examples.size() < 2) {
    return Status::InvalidArgument("the batch model needs at least 2 training examples, the history has " +
                                   std::to_string(input.examples.size()));
  }
  training::TrainerOptions to = options.trainer;
  to.model_dir.clear();
  to.resume = false;
  to.snapshot_every_steps = 0;
  to.snapshot_every_seconds = 0;
  to.replay_steps = 0;
  auto trainer = training::Trainer::Create(to);
  if (!trainer.ok()) return trainer.status();
  // The offline evaluation's training (training::TrainEpochs), each example with its
  // item's p̂ from the batch estimator.
  std::unordered_map<uint64_t, double> p_hat;
  for (const ItemStats& s : input.item_stats) p_hat[s.item_key] = s.sampling_prob;
  std::vector<training::OfflineExample> examples;
  examples.reserve(input.examples.size());
  for (const TrainingExample& ex : input.examples) {
    auto p = p_hat.find(ex.item_key);
    examples.push_back({ex, p == p_hat.end() ? 0.0 : p->second});
  }
  STREAMREC_RETURN_IF_ERROR(training::TrainEpochs(trainer->get(), examples, options.epochs, nullptr,
                                                  [&](int64_t done, int64_t total) {
                                                    if (progress) progress(done, total);
                                                    return !(stop && stop());
                                                  }));
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto m = (*trainer)->WriteSnapshotTo(out_dir, now_ms);
  if (!m.ok()) return m.status();
  BatchModelResult r;
  r.examples = (*trainer)->examples();
  r.steps = (*trainer)->step();
  r.final_loss = (*trainer)->last_loss();
  r.num_items = m->num_items;
  r.num_users = m->num_users;
  return r;
}

batch::BatchModelSummary SummarizeBatchModel(const BatchModelResult& result, int epochs, double train_seconds) {
  batch::BatchModelSummary s;
  s.epochs = epochs;
  s.examples = result.examples;
  s.steps = result.steps;
  s.final_loss = result.final_loss;
  s.num_items = result.num_items;
  s.num_users = result.num_users;
  s.train_seconds = train_seconds;
  return s;
}

batch::ModelTrainerFn InProcessBatchModelTrainer(BatchModelOptions options, std::function<bool()> stop) {
  return [options = std::move(options), stop = std::move(stop)](
             const std::string& training_input, const std::string& model_dir) -> Result<batch::BatchModelSummary> {
    const auto start = std::chrono::steady_clock::now();
    auto input = batch::ReadTrainingInput(training_input);
    if (!input.ok()) return input.status();
    auto result = TrainBatchModel(*input, options, model_dir, stop);
    if (!result.ok()) return result.status().WithContext("the batch model");
    return SummarizeBatchModel(*result, options.epochs,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  };
}

}  // namespace streamrec::stages
