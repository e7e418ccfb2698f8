#pragma once

#include <functional>
#include <string>
#include <vector>

#include "batch/batch_job.h"

namespace streamrec::apps {

// The model step of `streamrec batch`: `streamrec-model batch-model` as a child process
// (LibTorch stays out of `streamrec`) with `global_args` (the parent's global flags,
// GlobalArguments), training `epochs` passes. `before` runs first (a progress bar to
// finish).
batch::ModelTrainerFn BatchModelTrainer(std::vector<std::string> global_args, int epochs, bool progress,
                                        batch::StopFn stop, std::function<void()> before = {});

}  // namespace streamrec::apps
