// The stages of `streamrec stage` that need a model (LibTorch): the trainer and serving.
// Compiled only into streamrec-model; apps/cmd_stage.cc parses the flags, runs the checks
// common to every stage and calls these mains (apps/stage_command.h).
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "apps/command.h"
#include "apps/stage_command.h"
#include "apps/stop_signal.h"
#include "core/config.h"
#include "http/metrics_server.h"
#include "serving/serving_config.h"
#include "serving/serving_operator.h"
#include "stages/trainer_stage.h"

namespace streamrec::apps {
namespace {

int RunTrainerStage(const CommandContext& ctx, const StageFlags& flags) {
  auto options = stages::TrainerStageOptionsFromConfig(ctx.config, flags.brokers);
  if (!options.ok()) return StageFail("config", options.status());
  // The model store defaults to <state-dir>/models unless trainer.model_dir is set.
  if (!ctx.config.Has("trainer.model_dir")) options->trainer.model_dir = flags.state_dir + "/models";
  if (!flags.group.empty()) options->group_id = flags.group;
  const std::string group = options->group_id;
  const std::string model_dir = options->trainer.model_dir;
  auto stage = stages::TrainerStage::Create(std::move(options).value());
  if (!stage.ok()) return StageFail("starting", stage.status());
  const stages::TrainerStage* trainer = stage->get();
  auto endpoints = StartStageEndpoints(flags, [trainer] { return trainer->Readiness(); });
  if (!endpoints.ok()) return StageFail("endpoints", endpoints.status());
  std::fprintf(stderr, "streamrec stage trainer: group %s, model store %s, metrics %s\n", group.c_str(),
               model_dir.c_str(), flags.metrics.c_str());
  Status st = (*stage)->Run([] { return StopRequested(); });
  if (!st.ok()) return StageFail("stage trainer", st);
  return 0;
}

int RunServingStage(const CommandContext& ctx, const StageFlags& flags) {
  auto options = serving::ServingOptionsFromConfig(ctx.config, flags.brokers, flags.http);
  if (!options.ok()) return StageFail("config", options.status());
  // Models are loaded only from inside the model store; like the trainer's, it defaults to
  // <state-dir>/models.
  if (options->loader.model_store.empty()) options->loader.model_store = flags.state_dir + "/models";
  if (!flags.group.empty()) options->group_id = flags.group;
  serving::ServingOperator op(std::move(options).value());
  // /readyz of the metrics and health ports says what the HTTP API's does.
  auto endpoints = StartStageEndpoints(flags, [&op]() -> Status {
    const serving::Readiness r = op.service().GetReadiness();
    return r.ready ? Status::Ok() : Status::Unavailable(r.reason);
  });
  if (!endpoints.ok()) return StageFail("endpoints", endpoints.status());
  Status st = op.Start();
  if (!st.ok()) return StageFail("starting", st);
  if (op.http() != nullptr) {
    std::printf("streamrec stage serving: HTTP API on http://%s\n", op.http()->address().c_str());
    std::printf("streamrec stage serving: storefront page on http://%s/\n", op.http()->address().c_str());
    std::fflush(stdout);
  }
  // Until SIGINT/SIGTERM, or until one of its loops fails (then exit non-zero with why).
  st = op.Run([] { return StopRequested(); });
  if (!st.ok()) return StageFail("stage serving", st);
  return 0;
}

const ModelStageRegistration kTrainer("trainer", RunTrainerStage);
const ModelStageRegistration kServing("serving", RunServingStage);

}  // namespace
}  // namespace streamrec::apps
