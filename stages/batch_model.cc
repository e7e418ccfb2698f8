#include "stages/batch_model.h"

#include <chrono>

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
  for (const ItemStats& s : input.item_stats) (*trainer)->UpdateItemStats(s);
  const int64_t total = static_cast<int64_t>(input.examples.size()) * options.epochs;
  int64_t done = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    for (const TrainingExample& ex : input.examples) {
      STREAMREC_RETURN_IF_ERROR((*trainer)->AddExample(ex));
      if ((++done & 1023) == 0) {
        if (stop && stop()) return Status::Unavailable("stopped");
        if (progress) progress(done, total);
      }
    }
  }
  STREAMREC_RETURN_IF_ERROR((*trainer)->Flush());
  if (progress) progress(done, total);
  if (stop && stop()) return Status::Unavailable("stopped");
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

}  // namespace streamrec::stages
