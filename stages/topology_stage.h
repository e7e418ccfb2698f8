#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "runtime/stage_runner.h"

namespace streamrec::stages {

// What a topology stage (user, item) needs before it runs, shared by `streamrec stage`
// and the in-process pipeline of `streamrec run`. No LibTorch here (library target
// streamrec::stage_setup): the torch-free `streamrec` binary runs these stages.

// The partition count of `topic`, waiting up to 30 s for it to appear (a stage may start
// before the topics exist), less if `stop` (may be empty) turns true.
Result<int> DiscoverPartitions(const Config& config, const std::string& brokers,
                               const std::string& topic, const std::function<bool()>& stop = {});

// Runner options of a topology stage (user, item): brokers, kafka.* properties, group
// `group` (default "streamrec-<stage>"), state under `state_dir`, and
// operators.assignment_strategy from the config.
Result<runtime::StageRunnerOptions> TopologyRunnerOptions(const Config& config,
                                                            const std::string& brokers,
                                                            const std::string& stage,
                                                            const std::string& group,
                                                            const std::string& state_dir,
                                                            int64_t commit_interval_ms);

}  // namespace streamrec::stages
