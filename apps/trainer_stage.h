#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"
#include "training/trainer.h"

namespace streamrec::apps {

struct TrainerStageOptions {
  // bootstrap.servers (required) and librdkafka properties passed verbatim.
  std::string brokers;
  KafkaProperties kafka;
  TopicNames topics;
  // Consumer group of the training-examples reader. Default "streamrec-trainer".
  std::string group_id = "streamrec-trainer";
  training::TrainerOptions trainer;
  // Poll timeout and batch of each loop turn. Defaults 50 ms, 1000 records.
  int poll_timeout_ms = 50;
  size_t max_batch = 1000;
};

// Builds the options from config keys (defaults as in TrainerOptions / TwoTowerOptions):
//   trainer.model_dir ("streamrec-models"), trainer.group_id, trainer.device (auto|cpu|cuda),
//   trainer.optimizer (adam|adagrad), trainer.learning_rate, trainer.batch_size,
//   trainer.snapshot_every_steps, trainer.snapshot_every_seconds, trainer.keep_snapshots,
//   trainer.logq_correction, trainer.seed, trainer.embedding_dim, trainer.hidden_dim,
//   trainer.output_dim, trainer.temperature, trainer.history_encoder (mean|gru),
//   trainer.max_history, trainer.item_capacity, trainer.user_capacity,
//   trainer.category_capacity; kafka.*, topics.*.
Result<TrainerStageOptions> TrainerStageOptionsFromConfig(const Config& config,
                                                          const std::string& brokers);

// `streamrec stage trainer` (DESIGN §2): the online trainer as a Kafka consumer.
// - streamrec.training-examples (group member) feed Trainer::AddExample;
// - streamrec.item-stats and items are read whole as tables (no group): p̂ for the logQ
//   correction and item categories;
// - each snapshot the trainer writes is announced on streamrec.models (key: the model
//   component, value: training::ModelAnnouncement JSON), and only then are the
//   training-examples offsets committed, up to the first example the snapshot does not
//   contain; a restart resumes from the latest snapshot and those offsets, so an example
//   is trained on at least once and a crash loses no example.
// One thread (the one calling Run) owns the consumers, the producer and the trainer.
class TrainerStage {
 public:
  static Result<std::unique_ptr<TrainerStage>> Create(TrainerStageOptions options);
  ~TrainerStage();

  // Trains until `stop` returns true, then writes a final snapshot if anything was
  // trained since the last one, announces it and commits. Returns the first fatal error.
  Status Run(const std::function<bool()>& stop);

  struct Rep;

 private:
  explicit TrainerStage(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::apps
