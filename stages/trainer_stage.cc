#include "stages/trainer_stage.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/id_hash.h"
#include "core/metrics.h"
#include "core/records.h"
#include "runtime/table_reader.h"
#include "streams/catalog.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "training/trainer_config.h"

namespace streamrec::stages {

Result<TrainerStageOptions> TrainerStageOptionsFromConfig(const Config& config,
                                                          const std::string& brokers) {
  TrainerStageOptions o;
  o.brokers = brokers;
  o.kafka = KafkaPropertiesFromConfig(config);
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  o.topics = *topics;
  auto trainer = training::TrainerOptionsFromConfig(config);
  if (!trainer.ok()) return trainer.status();
  o.trainer = *trainer;
  auto group = config.GetString("trainer.group_id", o.group_id);
  if (!group.ok()) return group.status();
  o.group_id = *group;
  if (o.brokers.empty()) return Status::InvalidArgument("no brokers given (--brokers)");
  return o;
}

namespace {

prometheus::Counter& DuplicatesDropped() {
  static prometheus::Counter& c = prometheus::BuildCounter()
                                      .Name("streamrec_trainer_duplicates_dropped_total")
                                      .Help("Training examples dropped as re-sends (streamrec.src mark already applied)")
                                      .Register(*MetricsRegistry())
                                      .Add({});
  return c;
}

}  // namespace

Result<std::unique_ptr<TrainingFeed>> TrainingFeed::Create(const training::TrainerOptions& options,
                                                           const TopicNames& topics) {
  auto trainer = training::Trainer::Create(options);
  if (!trainer.ok()) return trainer.status().WithContext("trainer");
  std::unique_ptr<TrainingFeed> feed(new TrainingFeed(std::move(trainer).value(), topics, options.model_dir));
  const std::string& stored = feed->trainer_->stream_state();
  if (!stored.empty()) {
    auto position = runtime::InputPosition::Decode(stored);
    if (!position.ok()) return position.status().WithContext("trainer snapshot's stream state");
    feed->read_ = *position;
    feed->trained_ = *position;
  } else if (feed->trainer_->version() > 0) {
    feed->resumed_without_position_ = true;
  }
  feed->last_step_ = feed->trainer_->step();
  feed->snapshot_step_ = feed->trainer_->step();
  return feed;
}

void TrainingFeed::OnTableRecord(const Record& record) {
  if (record.topic == topics_.item_stats) {
    auto stats = DecodeItemStats(record.value);
    if (stats.ok()) trainer_->UpdateItemStats(*stats);
    return;
  }
  if (record.topic != topics_.items) return;
  auto item = ParseCatalogItem(record.value);
  if (item.ok() && !item->category.empty()) {
    trainer_->SetItemCategory(HashId(item->item_id), HashId(item->category));
  }
}

void TrainingFeed::NoteStep() {
  // After a step the trainer's buffer is empty: everything read is in the parameters.
  if (trainer_->step() == last_step_) return;
  last_step_ = trainer_->step();
  trained_ = read_;
}

Status TrainingFeed::OnExample(const Record& record) {
  const runtime::InputPosition::Verdict verdict = read_.Admit(record);
  if (verdict == runtime::InputPosition::Verdict::kDuplicate) {
    DuplicatesDropped().Increment();
    return Status::Ok();
  }
  auto example = DecodeTrainingExample(record.value);
  if (!example.ok()) {
    // A malformed example cannot be trained on; skipping it keeps the stage running.
    spdlog::warn("trainer: skipping {}[{}]@{}: {}", record.topic, record.partition, record.offset,
                 example.status().ToString());
    return Status::Ok();
  }
  STREAMREC_RETURN_IF_ERROR(trainer_->AddExample(*example));
  NoteStep();
  return Status::Ok();
}

Result<std::optional<training::SnapshotManifest>> TrainingFeed::MaybeSnapshot(int64_t now_ms) {
  trainer_->SetStreamState(trained_.Encode());
  auto m = trainer_->MaybeSnapshot(now_ms);
  if (m.ok() && m->has_value()) snapshot_step_ = trainer_->step();
  return m;
}

Result<std::optional<training::SnapshotManifest>> TrainingFeed::Finish(int64_t now_ms) {
  STREAMREC_RETURN_IF_ERROR(trainer_->Flush());
  NoteStep();
  if (model_dir_.empty() || trainer_->step() == snapshot_step_) {
    return std::optional<training::SnapshotManifest>();
  }
  trainer_->SetStreamState(trained_.Encode());
  auto m = trainer_->WriteSnapshot(now_ms);
  if (!m.ok()) return m.status();
  snapshot_step_ = trainer_->step();
  return std::optional<training::SnapshotManifest>(std::move(m).value());
}

struct TrainerStage::Rep : public RebalanceListener {
  TrainerStageOptions options;
  std::unique_ptr<TrainingFeed> feed;
  std::unique_ptr<runtime::TableReader> tables;  // item-stats and items, no group
  std::unique_ptr<KafkaConsumer> examples;       // group member: training examples
  std::unique_ptr<KafkaProducer> producer;       // announcements
  std::set<int32_t> assigned;  // examples partitions this member owns now

  Status Announce(const training::SnapshotManifest& manifest);
  // Moves the group's offsets of `partitions` (owned ones only: a commit outside the
  // group's generation is refused) to the read position.
  void CommitReadPositions(KafkaConsumer* consumer, const std::set<int32_t>& partitions);

  // RebalanceListener (runs inside examples->Poll*, on the stage's thread).
  void OnPartitionsAssigned(KafkaConsumer*, std::vector<TopicPartitionOffset>* partitions) override {
    for (TopicPartitionOffset& tp : *partitions) {
      if (tp.topic != options.topics.training_examples) continue;
      // Resume where the parameters stand; with no model store, the group's offset.
      auto next = feed->read_position().next_offset(tp.partition);
      if (next) {
        tp.offset = *next;
      } else if (!options.trainer.model_dir.empty() && !feed->resumed_without_position()) {
        tp.offset = kOffsetBeginning;  // nothing of this partition is in the model yet
      }
      assigned.insert(tp.partition);
      spdlog::info("[trainer] assigned {}:{} from offset {}", tp.topic, tp.partition, tp.offset);
    }
  }
  void OnPartitionsRevoked(KafkaConsumer* consumer,
                           const std::vector<TopicPartitionOffset>& partitions) override {
    std::set<int32_t> revoked;
    for (const auto& tp : partitions) {
      if (tp.topic == options.topics.training_examples) revoked.insert(tp.partition);
    }
    CommitReadPositions(consumer, revoked);
    for (int32_t p : revoked) assigned.erase(p);
  }
  void OnPartitionsLost(KafkaConsumer*, const std::vector<TopicPartitionOffset>& partitions) override {
    for (const auto& tp : partitions) assigned.erase(tp.partition);
  }
};

void TrainerStage::Rep::CommitReadPositions(KafkaConsumer* consumer, const std::set<int32_t>& partitions) {
  std::vector<TopicPartitionOffset> offsets;
  for (int32_t partition : partitions) {
    auto next = feed->read_position().next_offset(partition);
    if (next) offsets.push_back({options.topics.training_examples, partition, *next});
  }
  if (offsets.empty()) return;
  Status st = consumer->CommitSync(offsets);
  if (!st.ok()) spdlog::warn("[trainer] committing group offsets (lag only): {}", st.ToString());
}

Status TrainerStage::Rep::Announce(const training::SnapshotManifest& manifest) {
  const training::ModelAnnouncement a = training::ModelAnnouncement::FromManifest(manifest);
  STREAMREC_RETURN_IF_ERROR(producer->Produce(options.topics.models, a.component, a.ToJson()));
  STREAMREC_RETURN_IF_ERROR(producer->Flush(30000));
  if (producer->failed_count() > 0) {
    return Status::Unavailable("announcing model version " + std::to_string(a.version) + " on " +
                               options.topics.models + " failed");
  }
  spdlog::info("[trainer] snapshot v{} (step {}, {} examples, {} items, loss {:.4f}) announced", a.version,
               a.step, manifest.examples, a.num_items, manifest.last_loss);
  return Status::Ok();
}

TrainerStage::TrainerStage(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
TrainerStage::~TrainerStage() = default;

Result<std::unique_ptr<TrainerStage>> TrainerStage::Create(TrainerStageOptions options) {
  auto rep = std::make_unique<Rep>();
  rep->options = std::move(options);
  const TrainerStageOptions& o = rep->options;

  auto feed = TrainingFeed::Create(o.trainer, o.topics);
  if (!feed.ok()) return feed.status();
  rep->feed = std::move(feed).value();

  runtime::TableReaderOptions to;
  to.brokers = o.brokers;
  to.properties = o.kafka;
  to.topics = {o.topics.item_stats, o.topics.items};
  to.name = "trainer-tables";
  to.max_poll_records = o.max_batch;
  auto tables = runtime::TableReader::Create(to);
  if (!tables.ok()) return tables.status();
  rep->tables = std::move(tables).value();

  ConsumerOptions eo;
  eo.brokers = o.brokers;
  eo.properties = o.kafka;
  eo.group_id = o.group_id;
  eo.stage = "trainer";
  eo.listener = rep.get();
  auto examples = KafkaConsumer::Create(eo);
  if (!examples.ok()) return examples.status().WithContext("training-examples consumer");
  rep->examples = std::move(examples).value();

  ProducerOptions po;
  po.brokers = o.brokers;
  po.properties = o.kafka;
  auto producer = KafkaProducer::Create(po);
  if (!producer.ok()) return producer.status().WithContext("producer");
  rep->producer = std::move(producer).value();
  return std::unique_ptr<TrainerStage>(new TrainerStage(std::move(rep)));
}

Status TrainerStage::Run(const std::function<bool()>& stop) {
  Rep& r = *rep_;
  const TrainerStageOptions& o = r.options;
  TrainingFeed& feed = *r.feed;
  STREAMREC_RETURN_IF_ERROR(r.tables->Start(stop));
  spdlog::info("[trainer] group {}, model store {}, resumed at version {} step {} ({} examples)",
               o.group_id, o.trainer.model_dir, feed.trainer().version(), feed.trainer().step(),
               feed.trainer().examples());
  bool subscribed = false;
  std::vector<Record> batch;
  int64_t last_lag_commit = SystemClock().NowMillis();
  Status st;
  while (st.ok() && !stop()) {
    batch.clear();
    const bool caught_up = r.tables->caught_up();
    auto n_tables = r.tables->Poll(caught_up ? 0 : o.poll_timeout_ms, &batch);
    if (!n_tables.ok()) {
      st = n_tables.status();
      break;
    }
    for (const Record& rec : batch) feed.OnTableRecord(rec);
    // No example before p̂ is known for what the item stage published so far.
    if (!r.tables->caught_up()) continue;
    if (!subscribed) {
      st = r.examples->Subscribe({o.topics.training_examples});
      if (!st.ok()) break;
      subscribed = true;
    }
    batch.clear();
    auto n = r.examples->PollBatch(o.max_batch, o.poll_timeout_ms, &batch);
    if (!n.ok()) {
      st = n.status();
      break;
    }
    for (const Record& rec : batch) {
      st = feed.OnExample(rec);
      if (!st.ok()) break;
    }
    if (!st.ok()) break;
    const int64_t now = SystemClock().NowMillis();
    auto manifest = feed.MaybeSnapshot(now);
    if (!manifest.ok()) {
      st = manifest.status().WithContext("snapshot");
      break;
    }
    if (manifest->has_value()) {
      st = r.Announce(**manifest);
      if (!st.ok()) break;
    }
    if (now - last_lag_commit >= o.lag_commit_interval_ms) {
      r.CommitReadPositions(r.examples.get(), r.assigned);
      last_lag_commit = now;
    }
    r.producer->Poll(0);
  }
  if (st.ok()) {
    auto manifest = feed.Finish(SystemClock().NowMillis());
    if (!manifest.ok()) {
      st = manifest.status().WithContext("final snapshot");
    } else if (manifest->has_value()) {
      st = r.Announce(**manifest);
    }
  }
  if (subscribed) {
    Status closed = r.examples->Close();
    if (st.ok()) st = closed;
  }
  (void)r.tables->Close();
  const runtime::InputPosition& trained = feed.trained_position();
  spdlog::info(
      "[trainer] stopped: version {}, examples_trained={} duplicates_dropped={} unmarked={} "
      "untrained={} logq_fallbacks={}",
      feed.trainer().version(), feed.trainer().examples(), trained.duplicates(), trained.unmarked(),
      feed.untrained(), feed.trainer().logq_fallbacks());
  if (!st.ok()) spdlog::error("[trainer] {}", st.ToString());
  return st;
}

}  // namespace streamrec::stages
