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
#include "runtime/stage_runner.h"
#include "serving/ranking_example.h"
#include "stages/stage_state.h"
#include "streams/kafka_consumer.h"
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
  auto ranker = config.GetBool("trainer.ranker_examples", o.train_ranker);
  if (!ranker.ok()) return ranker.status();
  o.train_ranker = *ranker;
  if (o.brokers.empty()) return Status::InvalidArgument("no brokers given (--brokers)");
  auto served = batch::ServedModelFromConfig(config);
  if (!served.ok()) return served.status();
  if (*served == batch::ServedModel::kWarm) {
    auto follow = batch::BatchViewFollowerOptions::FromConfig(config, brokers, "lambda.model warm");
    if (!follow.ok()) return follow.status();
    o.warm_from_batch = true;
    o.batch_views = std::move(follow).value();
  }
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

prometheus::Family<prometheus::Counter>& RankingExamples() {
  static prometheus::Family<prometheus::Counter>& f =
      prometheus::BuildCounter()
          .Name("streamrec_trainer_ranking_examples_total")
          .Help("Ranking lists read from the ranker-examples topic: trained, or skipped (not "
                "decodable, another feature count, refused by the ranker)")
          .Register(*MetricsRegistry());
  return f;
}

}  // namespace

Result<std::unique_ptr<TrainingFeed>> TrainingFeed::Create(const training::TrainerOptions& options,
                                                           const TopicNames& topics) {
  DuplicatesDropped();  // exists at 0 from the start
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
  if (!item.ok()) return;
  // Category and brand for the item tower's side tables (when trainer.item_side_features
  // gives it any), and the id string, so a catalogue item no click has named yet is
  // exported (its category and brand alone); an entry with neither forgets the item's.
  const uint64_t key = item->item_key != 0 ? item->item_key : HashId(item->item_id);
  trainer_->SetItemCatalog(key, item->item_id, item->category.empty() ? 0 : HashId(item->category),
                           item->brand.empty() ? 0 : HashId(item->brand));
}

void TrainingFeed::NoteStep() {
  // After a step the trainer's buffer is empty: everything read is in the parameters.
  // With nothing buffered (e.g. only re-sends read since the last step) the same holds:
  // the trained position takes the read one's offsets and counts.
  if (trainer_->step() != last_step_ || read_.admitted() == trained_.admitted()) {
    last_step_ = trainer_->step();
    trained_ = read_;
  }
}

Status TrainingFeed::OnExample(const Record& record) {
  const runtime::InputPosition::Verdict verdict = read_.Admit(record);
  if (verdict == runtime::InputPosition::Verdict::kDuplicate) {
    DuplicatesDropped().Increment();
    NoteStep();
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

Status TrainingFeed::OnRankingExample(const Record& record) {
  static prometheus::Counter& trained = RankingExamples().Add({{"result", "trained"}});
  static prometheus::Counter& skipped = RankingExamples().Add({{"result", "skipped"}});
  ++ranking_read_;
  auto skip = [&](const Status& why) {
    ++ranking_skipped_;
    skipped.Increment();
    if (ranking_skipped_ == 1 || ranking_skipped_ % 1000 == 0) {
      spdlog::warn("[trainer] skipping ranking example {}[{}]@{} ({} skipped so far): {}", record.topic,
                   record.partition, record.offset, ranking_skipped_, why.ToString());
    }
    return Status::Ok();
  };
  auto example = serving::DecodeRankingExample(record.value);
  if (!example.ok()) return skip(example.status());
  if (example->num_features != static_cast<uint32_t>(serving::kRankerFeatures)) {
    return skip(Status::InvalidArgument(std::to_string(example->num_features) + " features, serving's ranker has " +
                                        std::to_string(serving::kRankerFeatures)));
  }
  training::RankingList list;
  list.features = std::move(example->features);
  list.positive = example->positive;
  Status st = trainer_->AddRankingList(list, serving::kRankerFeatures);
  if (st.code() == Status::Code::kInvalidArgument) return skip(st);
  STREAMREC_RETURN_IF_ERROR(st);
  trained.Increment();
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

namespace {

prometheus::Counter& WarmStarts() {
  static prometheus::Counter& c = prometheus::BuildCounter()
                                      .Name("streamrec_trainer_warm_starts_total")
                                      .Help("Times the online trainer started from a batch model (lambda.model warm)")
                                      .Register(*MetricsRegistry())
                                      .Add({});
  return c;
}

}  // namespace

// lambda.model warm: the newest batch model announced on streamrec.batch becomes the
// online trainer's starting point, once per version, unless the trainer resumed from a
// snapshot written after that version (its parameters are already past it).
class WarmStarter {
 public:
  static Result<std::unique_ptr<WarmStarter>> Start(const batch::BatchViewFollowerOptions& options,
                                                    int64_t resumed_created_ms) {
    auto inbox = std::make_shared<operators::BatchViewInbox>();
    auto follower = batch::BatchViewFollower::Start(options, inbox);
    if (!follower.ok()) return follower.status();
    std::unique_ptr<WarmStarter> w(new WarmStarter());
    w->inbox_ = std::move(inbox);
    w->follower_ = std::move(follower).value();
    w->resumed_created_ms_ = resumed_created_ms;
    return w;
  }
  ~WarmStarter() {
    if (follower_) follower_->Stop();
  }

  // Between batches (the trainer's own thread).
  void MaybeWarmStart(training::Trainer& trainer) {
    std::shared_ptr<const operators::BatchViewRef> ref = inbox_->Latest();
    if (!ref || ref->version <= tried_version_) return;
    tried_version_ = ref->version;
    if (ref->model_dir.empty()) {
      spdlog::warn("[trainer] batch view v{} has no model (written with --no-model): no warm start", ref->version);
      return;
    }
    if (ref->created_ms > 0 && ref->created_ms <= resumed_created_ms_) {
      spdlog::info("[trainer] batch model v{} predates the snapshot resumed from: not applied", ref->version);
      return;
    }
    Status st = trainer.WarmStartFrom(ref->model_dir);
    if (!st.ok()) {
      spdlog::error("[trainer] warm start from batch model v{} ({}) failed, training goes on unchanged: {}",
                    ref->version, ref->model_dir, st.ToString());
      return;
    }
    WarmStarts().Increment();
    spdlog::info("[trainer] warm-started from batch model v{} ({}); training online from here", ref->version,
                 ref->model_dir);
  }

 private:
  WarmStarter() = default;
  std::shared_ptr<operators::BatchViewInbox> inbox_;
  std::unique_ptr<batch::BatchViewFollower> follower_;
  int64_t resumed_created_ms_ = 0;
  int64_t tried_version_ = 0;
};

// The ranker's lists (TrainerStageOptions::train_ranker): topics.ranker_examples read by
// a consumer of its own (group `group_id`-ranker; its start is the group's committed
// offset, else the beginning), between polls of the training examples, on the
// trainer's thread. Offsets are committed only after a snapshot was written (it holds
// every list read so far), so a restart re-reads, at least once, the lists the model
// store lacks. A poll or commit failure is logged, never fatal: the two-tower model goes
// on without the ranker's data.
class RankerExamplesReader {
 public:
  static Result<std::unique_ptr<RankerExamplesReader>> Create(const TrainerStageOptions& o) {
    ConsumerOptions co;
    co.brokers = o.brokers;
    co.properties = o.kafka;
    co.group_id = o.group_id + "-ranker";
    co.auto_offset_reset = "earliest";
    auto consumer = KafkaConsumer::Create(co);
    if (!consumer.ok()) return consumer.status().WithContext("ranker examples consumer");
    std::unique_ptr<RankerExamplesReader> r(new RankerExamplesReader());
    r->consumer_ = std::move(consumer).value();
    r->topic_ = o.topics.ranker_examples;
    r->max_batch_ = o.max_batch;
    STREAMREC_RETURN_IF_ERROR(r->consumer_->Subscribe({r->topic_}));
    return r;
  }

  // Trains on what arrived (without waiting). Fails only when training fails.
  Status Poll(TrainingFeed& feed) {
    batch_.clear();
    auto got = consumer_->PollBatch(max_batch_, 0, &batch_);
    if (!got.ok()) {
      if (!poll_failed_) spdlog::warn("[trainer] reading {}: {}", topic_, got.status().ToString());
      poll_failed_ = true;
      return Status::Ok();
    }
    poll_failed_ = false;
    for (const Record& r : batch_) {
      if (r.topic != topic_) continue;
      STREAMREC_RETURN_IF_ERROR(feed.OnRankingExample(r));
      ++since_commit_;
    }
    return Status::Ok();
  }

  // After a snapshot: what was read is in the model store. Waits at most `timeout_ms`.
  void CommitRead(int timeout_ms) {
    if (since_commit_ == 0) return;
    auto assigned = consumer_->Assignment();
    if (!assigned.ok() || assigned->empty()) return;
    auto positions = consumer_->Positions(*assigned);
    if (!positions.ok()) return;
    std::vector<TopicPartitionOffset> offsets;
    for (const TopicPartitionOffset& tp : *positions) {
      if (tp.offset >= 0) offsets.push_back(tp);
    }
    if (offsets.empty()) return;
    Status st = consumer_->CommitSync(offsets, timeout_ms);
    if (!st.ok()) {
      spdlog::warn("[trainer] committing {} offsets: {} (the lists since are re-read after a restart)", topic_,
                   st.ToString());
      return;
    }
    since_commit_ = 0;
  }

  // Leaves the group, waiting at most kCloseTimeoutMs (a stopping trainer must not wait
  // on a broker that went away: the stages stop within 10 s, tests/e2e/outage).
  void Close() { (void)consumer_->Close(kCloseTimeoutMs); }

  static constexpr int kCommitTimeoutMs = 5000;  // between polls
  static constexpr int kCloseTimeoutMs = 1000;   // commit and leave on shutdown

 private:
  RankerExamplesReader() = default;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::string topic_;
  size_t max_batch_ = 1000;
  std::vector<Record> batch_;
  int64_t since_commit_ = 0;
  bool poll_failed_ = false;
};

// The trainer as a processor-managed topology: one processor (one model) for every
// training-examples partition this member owns. Its input position lives in the
// snapshots (TrainingFeed), so each assigned partition starts there, and the group's
// offsets only follow the read position (lag). Runs on the runner's thread.
class TrainerProcessor : public runtime::Processor {
 public:
  TrainerProcessor(const TrainerStageOptions* options, TrainingFeed* feed, runtime::TableReader* tables,
                   WarmStarter* warm, RankerExamplesReader* ranker)
      : options_(*options), feed_(*feed), tables_(*tables), warm_(warm), ranker_(ranker) {}

  Status Init(runtime::ProcessorContext* context) override {
    context_ = context;
    // After every poll: new p̂ and categories from the tables, then a snapshot if due.
    context->Schedule(1, runtime::PunctuationType::kWallClock, [this](int64_t now_ms) { return Tick(now_ms); });
    return Status::Ok();
  }

  Status Process(const Record& record) override { return feed_.OnExample(record); }

  Status Flush(bool closing) override {
    if (!closing) return Status::Ok();  // snapshots are taken by time (Tick), not per commit
    auto manifest = feed_.Finish(context_->clock().NowMillis());
    if (!manifest.ok()) return manifest.status().WithContext("final snapshot");
    if (manifest->has_value()) {
      Announce(**manifest);
      if (ranker_ != nullptr) ranker_->CommitRead(RankerExamplesReader::kCloseTimeoutMs);
    }
    return Status::Ok();
  }

  std::optional<int64_t> StartOffset(const std::string& topic, int32_t partition) override {
    if (topic != options_.topics.training_examples) return std::nullopt;
    // Resume where the parameters stand; with no model store, the group's offset.
    auto next = feed_.read_position().next_offset(partition);
    if (next) return next;
    if (!options_.trainer.model_dir.empty() && !feed_.resumed_without_position()) {
      return kOffsetBeginning;  // nothing of this partition is in the model yet
    }
    return std::nullopt;
  }

  std::optional<int64_t> CommittableOffset(const std::string& topic, int32_t partition) override {
    if (topic != options_.topics.training_examples) return std::nullopt;
    return feed_.read_position().next_offset(partition);
  }

 private:
  Status Tick(int64_t now_ms) {
    batch_.clear();
    auto n = tables_.Poll(0, &batch_);
    if (!n.ok()) return n.status().WithContext("reading tables");
    for (const Record& rec : batch_) feed_.OnTableRecord(rec);
    if (warm_ != nullptr) warm_->MaybeWarmStart(feed_.trainer());
    if (ranker_ != nullptr) STREAMREC_RETURN_IF_ERROR(ranker_->Poll(feed_).WithContext("ranker"));
    auto manifest = feed_.MaybeSnapshot(now_ms);
    if (!manifest.ok()) return manifest.status().WithContext("snapshot");
    if (manifest->has_value()) {
      Announce(**manifest);
      if (ranker_ != nullptr) ranker_->CommitRead(RankerExamplesReader::kCommitTimeoutMs);
    }
    return Status::Ok();
  }

  // Forwarded on streamrec.models (produced at once; a failed delivery ends the stage).
  void Announce(const training::SnapshotManifest& manifest) {
    const training::ModelAnnouncement a = training::ModelAnnouncement::FromManifest(manifest);
    runtime::OutputRecord out;
    out.topic = options_.topics.models;
    out.key = a.component;
    out.value = a.ToJson();
    context_->Forward(std::move(out));
    spdlog::info("[trainer] snapshot v{} (step {}, {} examples, {} items, loss {:.4f}) announced", a.version,
                 a.step, manifest.examples, a.num_items, manifest.last_loss);
  }

  const TrainerStageOptions& options_;
  TrainingFeed& feed_;
  runtime::TableReader& tables_;
  WarmStarter* warm_;  // null unless lambda.model warm
  RankerExamplesReader* ranker_;  // null unless train_ranker
  runtime::ProcessorContext* context_ = nullptr;
  std::vector<Record> batch_;
};

struct TrainerStage::Rep {
  TrainerStageOptions options;
  std::unique_ptr<TrainingFeed> feed;
  std::unique_ptr<runtime::TableReader> tables;  // item-stats and items, no group
  std::unique_ptr<runtime::StageRunner> runner;  // training-examples, announcements
  std::unique_ptr<WarmStarter> warm;             // lambda.model warm
  std::unique_ptr<RankerExamplesReader> ranker;  // train_ranker
};

TrainerStage::TrainerStage(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
TrainerStage::~TrainerStage() = default;

Result<std::unique_ptr<TrainerStage>> TrainerStage::Create(TrainerStageOptions options) {
  auto rep = std::make_unique<Rep>();
  rep->options = std::move(options);
  const TrainerStageOptions& o = rep->options;

  auto feed = TrainingFeed::Create(o.trainer, o.topics);
  if (!feed.ok()) return feed.status();
  rep->feed = std::move(feed).value();
  if (o.warm_from_batch) {
    // The snapshot resumed from (if any): batch models older than it are not applied.
    int64_t resumed_created_ms = 0;
    if (!o.trainer.model_dir.empty()) {
      auto latest = training::LatestSnapshotDir(o.trainer.model_dir);
      if (latest.ok()) {
        auto m = training::ReadSnapshotManifest(*latest);
        if (m.ok()) resumed_created_ms = m->created_ms;
      }
    }
    auto warm = WarmStarter::Start(o.batch_views, resumed_created_ms);
    if (!warm.ok()) return warm.status().WithContext("lambda.model warm");
    rep->warm = std::move(warm).value();
  }

  runtime::TableReaderOptions to;
  to.brokers = o.brokers;
  to.properties = o.kafka;
  to.topics = {o.topics.item_stats, o.topics.items};
  to.name = "trainer-tables";
  to.max_poll_records = o.max_batch;
  auto tables = runtime::TableReader::Create(to);
  if (!tables.ok()) return tables.status();
  rep->tables = std::move(tables).value();
  if (o.train_ranker) {
    auto ranker = RankerExamplesReader::Create(o);
    if (!ranker.ok()) return ranker.status();
    rep->ranker = std::move(ranker).value();
  }

  runtime::Topology topology;
  topology.name = "trainer";
  topology.source_topic = o.topics.training_examples;
  topology.state_kind = runtime::StateKind::kProcessorManaged;
  Rep* raw = rep.get();
  topology.processor_supplier = [raw]() -> std::unique_ptr<runtime::Processor> {
    return std::make_unique<TrainerProcessor>(&raw->options, raw->feed.get(), raw->tables.get(), raw->warm.get(),
                                              raw->ranker.get());
  };
  runtime::StageRunnerOptions ro;
  ro.brokers = o.brokers;
  ro.properties = o.kafka;
  ro.group_id = o.group_id;
  ro.commit_interval_ms = o.lag_commit_interval_ms;
  ro.max_poll_records = o.max_batch;
  ro.start_over_hint = StartOverHint("trainer", "", o.trainer.model_dir);
  auto runner = runtime::StageRunner::Create(std::move(topology), std::move(ro));
  if (!runner.ok()) return runner.status().WithContext("trainer runner");
  rep->runner = std::move(runner).value();
  return std::unique_ptr<TrainerStage>(new TrainerStage(std::move(rep)));
}

Status TrainerStage::Readiness() const {
  STREAMREC_RETURN_IF_ERROR(rep_->tables->Readiness());
  return rep_->runner->Readiness();
}

Status TrainerStage::Run(const std::function<bool()>& stop) {
  Rep& r = *rep_;
  const TrainerStageOptions& o = r.options;
  TrainingFeed& feed = *r.feed;
  Status st = r.tables->Start(stop);
  spdlog::info("[trainer] group {}, model store {}, resumed at version {} step {} ({} examples)",
               o.group_id, o.trainer.model_dir, feed.trainer().version(), feed.trainer().step(),
               feed.trainer().examples());
  // No example before p̂ is known for what the item stage published so far.
  std::vector<Record> batch;
  while (st.ok() && !r.tables->caught_up() && !stop()) {
    batch.clear();
    auto n = r.tables->Poll(o.poll_timeout_ms, &batch);
    if (!n.ok()) {
      st = n.status().WithContext("reading tables");
      break;
    }
    for (const Record& rec : batch) feed.OnTableRecord(rec);
  }
  if (st.ok() && !stop()) st = r.runner->Run(stop);
  (void)r.tables->Close();
  if (r.ranker != nullptr) r.ranker->Close();
  // Drops happen at read time: the read position counts every re-send read, also those
  // read after the last step while one example stayed buffered (the trained position,
  // which snapshots store, catches up only when nothing is buffered).
  const runtime::InputPosition& read = feed.read_position();
  spdlog::info(
      "[trainer] stopped: version {}, examples_trained={} duplicates_dropped={} unmarked={} "
      "untrained={} logq_fallbacks={} ranking_lists={} ranking_skipped={} ranker_steps={}",
      feed.trainer().version(), feed.trainer().examples(), read.duplicates(), read.unmarked(),
      feed.untrained(), feed.trainer().logq_fallbacks(), feed.ranking_examples_read() - feed.ranking_examples_skipped(),
      feed.ranking_examples_skipped(), feed.trainer().ranker() ? feed.trainer().ranker()->steps() : 0);
  if (!st.ok()) spdlog::error("[trainer] {}", st.ToString());
  return st;
}

}  // namespace streamrec::stages
