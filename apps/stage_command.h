#pragma once

#include <functional>
#include <memory>
#include <string>

#include "apps/command.h"
#include "core/status.h"
#include "http/metrics_server.h"

namespace streamrec::apps {

// `streamrec stage NAME` (apps/cmd_stage.cc). The user and item stages need no model and
// run in both executables; the trainer and serving stages (apps/cmd_stage_model.cc) are
// compiled only into streamrec-model and register their mains here, so the torch-free
// `streamrec` finds none for them and hands the command line to streamrec-model
// (apps/model_binary.h).

// Flags shared by every stage.
struct StageFlags {
  std::string name;
  std::string brokers;
  std::string state_dir = "streamrec-state";
  std::string group;  // default "streamrec-<stage>"
  std::string metrics = "127.0.0.1:9464";
  std::string health;  // HOST:PORT of the probe-only endpoint; empty or "off" = none
  bool dump_state = false;
  int partitions = 0;  // for --dump-state / --checkpoint
  std::string checkpoint_dir;
  std::string http;          // serving: HOST:PORT of the HTTP API
  bool reset_state = false;  // remove stored state and positions first
};

// Runs one stage until a stop signal; returns the exit status.
using StageMain = std::function<int(const CommandContext&, const StageFlags&)>;

// Registers the main of a stage that needs a model, during static initialisation (one
// static ModelStageRegistration per stage in apps/cmd_stage_model.cc).
class ModelStageRegistration {
 public:
  ModelStageRegistration(std::string name, StageMain main);
};

// The registered main of model stage `name`; empty when this binary has none.
StageMain FindModelStage(const std::string& name);

// A stage's HTTP endpoints: `--metrics` (/metrics, /healthz, /readyz) and `--health`
// (/healthz and /readyz only, for the kubelet's probes), either one off. Both answer
// /readyz with `ready`.
struct StageEndpoints {
  std::unique_ptr<http::MetricsServer> metrics;
  std::unique_ptr<http::MetricsServer> health;
};
// Starts those of `flags` that are on; an error names the flag and the address.
Result<StageEndpoints> StartStageEndpoints(const StageFlags& flags, std::function<Status()> ready);

// Prints "streamrec stage: WHAT: STATUS" on stderr and returns 1.
int StageFail(const std::string& what, const Status& st);

}  // namespace streamrec::apps
