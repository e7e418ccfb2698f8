#include "stages/pipeline.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch/batch_scheduler.h"
#include "batch/batch_view_follower.h"
#include "core/file_system.h"
#include "core/shutdown_steps.h"
#include "operators/item_stage.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "serving/serving_config.h"
#include "serving/serving_operator.h"
#include "stages/batch_model.h"
#include "training/trainer_config.h"
#include "stages/stage_state.h"
#include "stages/topology_stage.h"
#include "stages/trainer_stage.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_properties.h"

namespace streamrec::stages {
namespace {

// A stage running on its own thread until asked to stop (or a stop signal arrives).
class StageThread {
 public:
  StageThread(std::string name, std::function<Status(const std::function<bool()>&)> run,
              std::function<bool()> external_stop)
      : name_(std::move(name)) {
    thread_ = std::thread([this, run = std::move(run), external_stop = std::move(external_stop)] {
      status_ = run([this, &external_stop] { return stop_.load() || (external_stop && external_stop()); });
      done_.store(true);
    });
  }
  ~StageThread() { Join(); }
  Status Join() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  bool done() const { return done_.load(); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  Status status_;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace

struct Pipeline::Rep {
  Config config;
  PipelineOptions options;
  TopicNames topics;
  std::unique_ptr<EmbeddedBroker> broker;  // null with an external cluster
  std::string brokers;
  std::string state_dir;
  bool remove_state_dir = false;
  std::vector<std::unique_ptr<StageThread>> stages;  // user, item, trainer
  std::unique_ptr<serving::ServingOperator> serving;
  // lambda.merge: follows streamrec.batch for the item stage (null otherwise).
  std::unique_ptr<batch::BatchViewFollower> batch_views;
  // lambda.batch_interval_minutes > 0: the batch layer on a schedule (null otherwise).
  std::unique_ptr<batch::BatchScheduler> batch_scheduler;
  std::string batch_dir;

  Status StartBroker();
  Status PrepareStateDir();
  Status StartTopologyStage(const std::string& name, runtime::Topology topology,
                            int64_t commit_interval_ms);
  Status StartStages();
  Status StartBatchScheduler();
};

Status Pipeline::Rep::StartBroker() {
  brokers = ResolveBrokers(config, options.brokers);
  if (!brokers.empty()) return Status::Ok();  // an external cluster
  EmbeddedBrokerOptions bo;
  bo.topics = DefaultTopicSpecs(topics, options.partitions);
  auto started = EmbeddedBroker::Start(bo);
  if (!started.ok()) return started.status().WithContext("embedded broker");
  broker = std::move(started).value();
  brokers = broker->bootstrap_servers();
  if (!options.bootstrap_file.empty()) {
    STREAMREC_RETURN_IF_ERROR(WriteBootstrapFile(options.bootstrap_file, brokers));
  }
  return Status::Ok();
}

Status Pipeline::Rep::PrepareStateDir() {
  if (!options.state_dir.empty()) {
    state_dir = options.state_dir;
    if (options.reset_state) {
      // What each stage stored about its inputs (stage_state.h); the trainer's model
      // store is where StartStages puts it.
      auto model_dir = config.GetString("trainer.model_dir", state_dir + "/models");
      if (!model_dir.ok()) return model_dir.status();
      for (const char* stage : {"user", "item", "trainer"}) {
        auto removed = ResetStageState(stage, state_dir, *model_dir);
        if (!removed.ok()) return removed.status().WithContext("--reset-state");
        for (const std::string& path : *removed) spdlog::warn("--reset-state: removed {}", path);
      }
    }
  } else {
    // The embedded broker forgets everything on exit, so state (and the offsets stored in
    // it) from an earlier run would not match: each run starts from a fresh directory.
    auto made = file_system::MakeTempDirectory("streamrec-run-");
    if (!made.ok()) return made.status().WithContext("state directory");
    state_dir = *made;
    remove_state_dir = !options.keep_state;
  }
  return file_system::CreateDirectories(state_dir).WithContext("state directory " + state_dir);
}

Status Pipeline::Rep::StartTopologyStage(const std::string& name, runtime::Topology topology,
                                         int64_t commit_interval_ms) {
  auto ro = TopologyRunnerOptions(config, brokers, name, "", state_dir, commit_interval_ms);
  if (!ro.ok()) return ro.status();
  ro->changelog_reset = options.reset_state;  // the changelog's copy is discarded too
  auto runner = runtime::StageRunner::Create(std::move(topology), *ro);
  if (!runner.ok()) return runner.status().WithContext(name + " stage");
  std::shared_ptr<runtime::StageRunner> shared = std::move(runner).value();
  stages.push_back(std::make_unique<StageThread>(
      name, [shared](const std::function<bool()>& stop) { return shared->Run(stop); }, options.external_stop));
  return Status::Ok();
}

Status Pipeline::Rep::StartStages() {
  auto user = operators::UserStageOptions::FromConfig(config);
  if (!user.ok()) return user.status();
  if (user->item_partitions == 0) {
    if (broker) {
      user->item_partitions = options.partitions;
    } else {
      auto n = DiscoverPartitions(config, brokers, user->topics.cooc_deltas, options.external_stop);
      if (!n.ok()) return n.status();
      user->item_partitions = *n;
    }
  }
  STREAMREC_RETURN_IF_ERROR(
      StartTopologyStage("user", operators::UserStageTopology(*user), user->flush_interval_ms));
  auto item = operators::ItemStageOptions::FromConfig(config);
  if (!item.ok()) return item.status();
  if (item->merge_batch_views) {
    auto follow = batch::BatchViewFollowerOptions::FromConfig(config, brokers);
    if (!follow.ok()) return follow.status();
    item->batch_views = std::make_shared<operators::BatchViewInbox>();
    auto follower = batch::BatchViewFollower::Start(std::move(follow).value(), item->batch_views);
    if (!follower.ok()) return follower.status();
    batch_views = std::move(follower).value();
  }
  STREAMREC_RETURN_IF_ERROR(
      StartTopologyStage("item", operators::ItemStageTopology(*item), item->flush_interval_ms));

  auto trainer_options = stages::TrainerStageOptionsFromConfig(config, brokers);
  if (!trainer_options.ok()) return trainer_options.status();
  if (!config.Has("trainer.model_dir")) trainer_options->trainer.model_dir = state_dir + "/models";
  if (!config.Has("trainer.snapshot_every_seconds")) {
    trainer_options->trainer.snapshot_every_seconds = options.snapshot_every_seconds;
  }
  if (!config.Has("trainer.batch_size")) trainer_options->trainer.batch_size = options.batch_size;
  const std::string model_store = trainer_options->trainer.model_dir;
  auto trainer = stages::TrainerStage::Create(std::move(trainer_options).value());
  if (!trainer.ok()) return trainer.status().WithContext("trainer stage");
  std::shared_ptr<stages::TrainerStage> shared = std::move(trainer).value();
  stages.push_back(std::make_unique<StageThread>(
      "trainer", [shared](const std::function<bool()>& stop) { return shared->Run(stop); },
      options.external_stop));

  auto serving_options = serving::ServingOptionsFromConfig(config, brokers, options.http);
  if (!serving_options.ok()) return serving_options.status();
  if (serving_options->loader.model_store.empty()) serving_options->loader.model_store = model_store;
  serving = std::make_unique<serving::ServingOperator>(std::move(serving_options).value());
  return serving->Start().WithContext("serving stage");
}

Status Pipeline::Rep::StartBatchScheduler() {
  auto so = batch::BatchSchedulerOptions::FromConfig(config, brokers, batch_dir);
  if (!so.ok()) return so.status();
  if (!so->enabled()) return Status::Ok();
  batch::ModelTrainerFactory model;
  if (so->model) {
    auto trainer = training::TrainerOptionsFromConfig(config);
    if (!trainer.ok()) return trainer.status();
    BatchModelOptions mo;
    mo.trainer = *trainer;
    mo.epochs = so->epochs;
    model = [mo](const std::function<bool()>& stop) { return InProcessBatchModelTrainer(mo, stop); };
  }
  auto started = batch::BatchScheduler::Start(std::move(so).value(), std::move(model), options.external_stop);
  if (!started.ok()) return started.status();
  batch_scheduler = std::move(started).value();
  return Status::Ok();
}

Pipeline::Pipeline(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

Pipeline::~Pipeline() {
  Stop();
  ShutdownStep step("pipeline teardown (serving, broker, state)");
  rep_->serving.reset();  // its clients go before the broker they talk to
  rep_->broker.reset();
  if (rep_->remove_state_dir) {
    Status removed = file_system::RemoveAll(rep_->state_dir);
    if (!removed.ok()) spdlog::warn("removing {}: {}", rep_->state_dir, removed.ToString());
  }
}

Result<std::unique_ptr<Pipeline>> Pipeline::Start(const Config& config,
                                                  const PipelineOptions& options) {
  auto rep = std::make_unique<Rep>();
  rep->config = config;
  rep->options = options;
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  rep->topics = *topics;
  std::unique_ptr<Pipeline> pipeline(new Pipeline(std::move(rep)));
  Rep& r = *pipeline->rep_;
  STREAMREC_RETURN_IF_ERROR(r.StartBroker());
  STREAMREC_RETURN_IF_ERROR(r.PrepareStateDir());
  // The batch views (lambda.merge adopts them, the scheduled batch layer writes them):
  // lambda.batch_dir, by default beside the stages' state.
  auto batch_dir = r.config.GetString("lambda.batch_dir", r.state_dir + "/batch");
  if (!batch_dir.ok()) return batch_dir.status();
  r.batch_dir = *batch_dir;
  if (!r.config.Has("lambda.batch_dir")) STREAMREC_RETURN_IF_ERROR(r.config.Set("lambda.batch_dir", r.batch_dir));
  STREAMREC_RETURN_IF_ERROR(r.StartStages());  // on error the destructor stops what started
  batch::RegisterBatchSchedulerMetrics();  // exported (at 0) whether scheduled or not
  STREAMREC_RETURN_IF_ERROR(r.StartBatchScheduler().WithContext("batch layer"));
  return pipeline;
}

Status Pipeline::Stop() {
  Status first;
  // A batch run in progress is interrupted first (it writes no partial version).
  if (rep_->batch_scheduler) {
    ShutdownStep step("batch scheduler");
    rep_->batch_scheduler->Stop();
  }
  if (rep_->serving) {
    ShutdownStep step("serving");
    rep_->serving->Stop();
    first = rep_->serving->error();
  }
  for (auto it = rep_->stages.rbegin(); it != rep_->stages.rend(); ++it) {
    ShutdownStep step("stage " + (*it)->name());
    Status st = (*it)->Join();
    if (!st.ok() && first.ok()) first = st.WithContext("stage " + (*it)->name());
  }
  rep_->stages.clear();
  if (rep_->batch_views) {
    ShutdownStep step("batch views");
    rep_->batch_views->Stop();
  }
  return first;
}

const std::string& Pipeline::brokers() const { return rep_->brokers; }
bool Pipeline::embedded_broker() const { return rep_->broker != nullptr; }
const std::string& Pipeline::state_dir() const { return rep_->state_dir; }
const std::string& Pipeline::batch_dir() const { return rep_->batch_dir; }
bool Pipeline::batch_scheduled() const { return rep_->batch_scheduler != nullptr; }
bool Pipeline::temporary_state() const { return rep_->remove_state_dir; }
const TopicNames& Pipeline::topics() const { return rep_->topics; }
serving::ServingOperator& Pipeline::serving() { return *rep_->serving; }

bool Pipeline::StageEnded() const {
  if (rep_->serving && rep_->serving->failed()) return true;
  for (const auto& stage : rep_->stages) {
    if (stage->done()) return true;
  }
  return false;
}

}  // namespace streamrec::stages
