#include "apps/trainer_stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/id_hash.h"
#include "core/records.h"
#include "streams/catalog.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "training/trainer_config.h"

namespace streamrec::apps {

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

struct TrainerStage::Rep {
  TrainerStageOptions options;
  std::unique_ptr<training::Trainer> trainer;
  std::unique_ptr<KafkaConsumer> examples;  // group member: training examples
  std::unique_ptr<KafkaConsumer> tables;    // no group: item-stats and items, from the start
  std::unique_ptr<KafkaProducer> producer;  // announcements

  // Examples handed to the trainer since its last optimizer step (not yet in any
  // parameters): the commit after a snapshot must not move past the first of them.
  std::map<int32_t, int64_t> first_untrained_offset;
  // Next offset to read per partition of the examples topic.
  std::map<int32_t, int64_t> next_offset;
  int64_t last_step = 0;

  Status Announce(const training::SnapshotManifest& manifest);
  Status CommitTrained();
  Status OnExample(const Record& record);
  void OnTable(const Record& record);
};

TrainerStage::TrainerStage(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
TrainerStage::~TrainerStage() = default;

Result<std::unique_ptr<TrainerStage>> TrainerStage::Create(TrainerStageOptions options) {
  auto rep = std::make_unique<Rep>();
  rep->options = std::move(options);
  const TrainerStageOptions& o = rep->options;

  auto trainer = training::Trainer::Create(o.trainer);
  if (!trainer.ok()) return trainer.status().WithContext("trainer");
  rep->trainer = std::move(trainer).value();
  rep->last_step = rep->trainer->step();

  ConsumerOptions eo;
  eo.brokers = o.brokers;
  eo.properties = o.kafka;
  eo.group_id = o.group_id;
  eo.stage = "trainer";
  auto examples = KafkaConsumer::Create(eo);
  if (!examples.ok()) return examples.status().WithContext("training-examples consumer");
  rep->examples = std::move(examples).value();

  ConsumerOptions to;
  to.brokers = o.brokers;
  to.properties = o.kafka;
  to.stage = "trainer-tables";
  auto tables = KafkaConsumer::Create(to);
  if (!tables.ok()) return tables.status().WithContext("tables consumer");
  rep->tables = std::move(tables).value();

  ProducerOptions po;
  po.brokers = o.brokers;
  po.properties = o.kafka;
  auto producer = KafkaProducer::Create(po);
  if (!producer.ok()) return producer.status().WithContext("producer");
  rep->producer = std::move(producer).value();
  return std::unique_ptr<TrainerStage>(new TrainerStage(std::move(rep)));
}

Status TrainerStage::Rep::Announce(const training::SnapshotManifest& manifest) {
  const training::ModelAnnouncement a = training::ModelAnnouncement::FromManifest(manifest);
  STREAMREC_RETURN_IF_ERROR(producer->Produce(options.topics.models, a.component, a.ToJson()));
  // The announcement must be durable before the offsets it covers are committed.
  STREAMREC_RETURN_IF_ERROR(producer->Flush(30000));
  if (producer->failed_count() > 0) {
    return Status::Unavailable("announcing model version " + std::to_string(a.version) +
                               " on " + options.topics.models + " failed");
  }
  spdlog::info("trainer: snapshot v{} (step {}, {} items, loss {:.4f}) announced", a.version,
               a.step, a.num_items, manifest.last_loss);
  return CommitTrained();
}

Status TrainerStage::Rep::CommitTrained() {
  std::vector<TopicPartitionOffset> offsets;
  for (const auto& [partition, next] : next_offset) {
    auto untrained = first_untrained_offset.find(partition);
    const int64_t commit = untrained == first_untrained_offset.end() ? next : untrained->second;
    offsets.push_back({options.topics.training_examples, partition, commit});
  }
  if (offsets.empty()) return Status::Ok();
  return examples->CommitSync(offsets);
}

Status TrainerStage::Rep::OnExample(const Record& record) {
  next_offset[record.partition] = record.offset + 1;
  auto example = DecodeTrainingExample(record.value);
  if (!example.ok()) {
    // A malformed example cannot be trained on; skipping it keeps the stage running.
    spdlog::warn("trainer: skipping {}[{}]@{}: {}", record.topic, record.partition, record.offset,
                 example.status().ToString());
    return Status::Ok();
  }
  first_untrained_offset.emplace(record.partition, record.offset);
  STREAMREC_RETURN_IF_ERROR(trainer->AddExample(*example));
  if (trainer->step() != last_step) {  // the buffered examples are in the parameters now
    last_step = trainer->step();
    first_untrained_offset.clear();
  }
  return Status::Ok();
}

void TrainerStage::Rep::OnTable(const Record& record) {
  if (record.topic == options.topics.item_stats) {
    auto stats = DecodeItemStats(record.value);
    if (stats.ok()) trainer->UpdateItemStats(*stats);
    return;
  }
  auto item = ParseCatalogItem(record.value);
  if (item.ok() && !item->category.empty()) {
    trainer->SetItemCategory(HashId(item->item_id), HashId(item->category));
  }
}

Status TrainerStage::Run(const std::function<bool()>& stop) {
  Rep& r = *rep_;
  const TrainerStageOptions& o = r.options;
  std::vector<TopicPartitionOffset> table_partitions;
  for (const std::string& topic : {o.topics.item_stats, o.topics.items}) {
    auto n = r.tables->PartitionCount(topic, 10000);
    if (!n.ok()) return n.status().WithContext("partitions of " + topic);
    for (int p = 0; p < *n; ++p) table_partitions.push_back({topic, p, kOffsetBeginning});
  }
  STREAMREC_RETURN_IF_ERROR(r.tables->Assign(table_partitions));
  STREAMREC_RETURN_IF_ERROR(r.examples->Subscribe({o.topics.training_examples}));
  spdlog::info("trainer: group {}, model store {}, resumed at version {} step {}", o.group_id,
               o.trainer.model_dir, r.trainer->version(), r.trainer->step());

  std::vector<Record> batch;
  int64_t trained_since_snapshot = 0;
  while (!stop()) {
    batch.clear();
    auto n_tables = r.tables->PollBatch(o.max_batch, 0, &batch);
    if (!n_tables.ok()) return n_tables.status();
    for (const Record& rec : batch) r.OnTable(rec);

    batch.clear();
    auto n = r.examples->PollBatch(o.max_batch, o.poll_timeout_ms, &batch);
    if (!n.ok()) return n.status();
    for (const Record& rec : batch) STREAMREC_RETURN_IF_ERROR(r.OnExample(rec));
    trained_since_snapshot += static_cast<int64_t>(batch.size());

    auto manifest = r.trainer->MaybeSnapshot(SystemClock().NowMillis());
    if (!manifest.ok()) return manifest.status().WithContext("snapshot");
    if (manifest->has_value()) {
      STREAMREC_RETURN_IF_ERROR(r.Announce(**manifest));
      trained_since_snapshot = 0;
    }
    r.producer->Poll(0);
  }
  if (trained_since_snapshot > 0 && r.trainer->step() > 0) {
    auto manifest = r.trainer->WriteSnapshot(SystemClock().NowMillis());
    if (!manifest.ok()) return manifest.status().WithContext("final snapshot");
    STREAMREC_RETURN_IF_ERROR(r.Announce(*manifest));
  }
  return r.examples->Close();
}

}  // namespace streamrec::apps
