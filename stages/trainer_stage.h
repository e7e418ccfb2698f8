#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "batch/batch_view_follower.h"
#include "core/config.h"
#include "core/status.h"
#include "runtime/input_position.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"
#include "streams/topics.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec::stages {

struct TrainerStageOptions {
  // bootstrap.servers (required) and librdkafka properties passed verbatim.
  std::string brokers;
  KafkaProperties kafka;
  TopicNames topics;
  // Consumer group of the training-examples reader. Default "streamrec-trainer". Its
  // committed offsets are informational (lag); the stage resumes from its snapshots.
  // Run one trainer per model store.
  std::string group_id = "streamrec-trainer";
  training::TrainerOptions trainer;
  // Poll timeout and batch of each loop turn. Defaults 50 ms, 1000 records.
  int poll_timeout_ms = 50;
  size_t max_batch = 1000;
  // How often the group's offsets are moved to the read position (lag monitoring).
  // Default 1000 ms.
  int64_t lag_commit_interval_ms = 1000;
  // lambda.model warm: follow streamrec.batch (batch_views: lambda.batch_dir, topics) and
  // start the model from each new batch model (Trainer::WarmStartFrom), then train on
  // online. A version older than the snapshot the trainer resumed from is not applied (its
  // parameters are already past it). Default false.
  bool warm_from_batch = false;
  batch::BatchViewFollowerOptions batch_views;
  // The ranker (docs/DESIGN.md "The ranking stage"): the lists serving publishes on
  // topics.ranker_examples are read by a consumer of their own, in group
  // `group_id` + "-ranker", between polls of the training examples, and trained on
  // (Trainer::AddRankingList); its offsets are committed after each snapshot written
  // (which holds every list read: a snapshot steps the ranker on its partial batch), so
  // a restart re-reads the lists since the last snapshot (at least once). Default true
  // (the topic stays empty while serving's ranker is off).
  bool train_ranker = true;
};

// Builds the options from config keys (defaults as in TrainerOptions / TwoTowerOptions):
//   trainer.model_dir ("streamrec-models"), trainer.group_id, trainer.device (auto|cpu|cuda),
//   trainer.optimizer (adam|adagrad), trainer.learning_rate, trainer.batch_size,
//   trainer.snapshot_every_steps, trainer.snapshot_every_seconds, trainer.keep_snapshots,
//   trainer.logq_correction, trainer.seed, trainer.embedding_dim, trainer.hidden_dim,
//   trainer.output_dim, trainer.temperature, trainer.history_encoder (mean|gru|wrnn),
//   trainer.max_history, trainer.item_capacity, trainer.user_capacity,
//   trainer.category_capacity; kafka.*, topics.*; lambda.model (warm: warm_from_batch, with
//   lambda.batch_dir).
Result<TrainerStageOptions> TrainerStageOptionsFromConfig(const Config& config,
                                                          const std::string& brokers);

// The trainer's exactly-once bookkeeping, without Kafka (so tests drive it with records,
// e.g. the outputs of the user and item stages' TopologyTestDrivers). It feeds a Trainer:
// - table records (item-stats: p̂ for the logQ correction; items: categories);
// - training examples, each judged by its `streamrec.src` mark (runtime::InputPosition):
//   a re-sent example (mark at or below the one applied for its partition and source
//   partition) is dropped and counted;
// and keeps, besides the live position, the position as of the last optimizer step (the
// examples the parameters hold). That one is stored in every snapshot
// (Trainer::SetStreamState) and restored on resume, so after a kill -9 of the trainer
// (or of a user stage that re-sends) no example is trained twice and none is lost: the
// stage re-reads from the stored offsets, and the stored marks drop re-sends.
// One thread uses it.
class TrainingFeed {
 public:
  // Creates the trainer (resuming from the latest snapshot in options.model_dir, with the
  // position stored there).
  static Result<std::unique_ptr<TrainingFeed>> Create(const training::TrainerOptions& options,
                                                      const TopicNames& topics);

  // An item-stats or items record.
  void OnTableRecord(const Record& record);
  // A training-examples record. Malformed examples are skipped (logged, counted as read).
  Status OnExample(const Record& record);
  // A ranker-examples record (serving/ranking_example.h): its list trains the ranker
  // (Trainer::AddRankingList). One that does not decode, has another feature count than
  // serving's (serving::kRankerFeatures) or that the ranker refuses is skipped (logged
  // once, counted in ranking_examples_skipped()); an error only when training fails.
  // A re-sent list is trained again (at least once; docs/DESIGN.md "The ranking stage").
  Status OnRankingExample(const Record& record);
  int64_t ranking_examples_read() const { return ranking_read_; }
  int64_t ranking_examples_skipped() const { return ranking_skipped_; }
  // Writes a snapshot if the trainer says one is due (holding the trained position).
  Result<std::optional<training::SnapshotManifest>> MaybeSnapshot(int64_t now_ms);
  // On shutdown: trains what is buffered (when at least two examples) and writes a
  // snapshot if anything was trained since the last one.
  Result<std::optional<training::SnapshotManifest>> Finish(int64_t now_ms);

  training::Trainer& trainer() { return *trainer_; }
  // What was read (live) and what the parameters hold (as of the last step).
  const runtime::InputPosition& read_position() const { return read_; }
  const runtime::InputPosition& trained_position() const { return trained_; }
  // True when the trainer resumed from a snapshot written before snapshots stored the
  // position: the stage then starts from the group's committed offsets, as it used to.
  bool resumed_without_position() const { return resumed_without_position_; }
  // Examples read and admitted but not yet in the parameters (the trainer's buffer).
  int64_t untrained() const { return read_.admitted() - trained_.admitted(); }

 private:
  TrainingFeed(std::unique_ptr<training::Trainer> trainer, TopicNames topics, std::string model_dir)
      : trainer_(std::move(trainer)), topics_(std::move(topics)), model_dir_(std::move(model_dir)) {}
  void NoteStep();

  std::unique_ptr<training::Trainer> trainer_;
  TopicNames topics_;
  std::string model_dir_;
  runtime::InputPosition read_;
  runtime::InputPosition trained_;
  int64_t last_step_ = 0;      // trainer step when trained_ was last brought up to date
  int64_t snapshot_step_ = 0;  // trainer step of the last snapshot written or resumed
  bool resumed_without_position_ = false;
  int64_t ranking_read_ = 0;
  int64_t ranking_skipped_ = 0;
};

// `streamrec stage trainer` (DESIGN §2): the online trainer on Kafka, a processor-managed
// topology on runtime::StageRunner.
// - streamrec.item-stats and items are read whole as tables (runtime::TableReader): p̂
//   for the logQ correction and item categories. No example is read before they are
//   caught up (read to the end offsets seen at start), so the first step has p̂; after
//   that they are followed after every poll.
// - streamrec.training-examples: the runner's source; on assignment each partition starts
//   at the offset stored in the latest snapshot (beginning when none). Examples go
//   through TrainingFeed (dedup by mark).
// - each snapshot is forwarded to streamrec.models (key: the model component, value:
//   training::ModelAnnouncement JSON); a failed delivery ends the stage. The group's
//   offsets follow the read position (for lag monitoring) and are never read back.
// One thread (the one calling Run) owns the readers, the runner and the trainer.
class TrainerStage {
 public:
  static Result<std::unique_ptr<TrainerStage>> Create(TrainerStageOptions options);
  ~TrainerStage();

  // Trains until `stop` returns true, then Finish()es (final snapshot, announced) and logs
  // a last line "trainer: stopped: ..." with the counts. Returns the first fatal error.
  Status Run(const std::function<bool()>& stop);
  // Readiness (DESIGN §3): OK once the tables were read to their end offsets as of start
  // and every assigned training-examples partition to its end offset as of assignment;
  // else Unavailable naming what is behind. Thread-safe (a /readyz worker calls it).
  Status Readiness() const;

  struct Rep;

 private:
  explicit TrainerStage(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::stages
