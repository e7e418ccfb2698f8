#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace streamrec::stages {

// Removes what a stage stored about its inputs, so that it starts over from what the
// broker holds now (`--reset-state` of `streamrec stage` and `streamrec run`):
// - user, item: every partition store <state_dir>/<stage>-<partition> (state, stored
//   offsets, outbox, dedup marks);
// - trainer: its model store `model_dir` (each snapshot holds the trainer's input
//   positions beside the parameters; it starts from fresh parameters);
// - serving: nothing (it stores no input position: it reads its tables and clicks from
//   the beginning on every start).
// Returns the paths removed (empty when there was nothing). A stage's downstream keeps
// its own marks: reset every stage whose inputs were recreated (after a broker reset,
// all of them), see runtime/README.md.
Result<std::vector<std::string>> ResetStageState(const std::string& stage, const std::string& state_dir,
                                                 const std::string& model_dir);

// The start-over hint of a stage's "stored position beyond the end offset" error.
std::string StartOverHint(const std::string& stage, const std::string& state_dir, const std::string& model_dir);

}  // namespace streamrec::stages
