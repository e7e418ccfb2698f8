#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/records.h"
#include "core/status.h"

namespace streamrec::training {

class Trainer;

// A training example as the user stage produced it, with the item's p̂ as the item stage
// had estimated it when the example was made. Collected once, trained on for epochs: the
// offline evaluation's two-tower model (eval/offline_eval.h), and the same training on
// another machine (`streamrec eval --examples-out`, then `training_bench train-examples`
// on a GPU, then `streamrec eval --model-dir`).
struct OfflineExample {
  TrainingExample example;
  double sampling_prob = 0;  // 0: unknown (the trainer's default p̂ applies)
};

// `epochs` passes over `examples` in order: for each, the item's p̂ is handed to the trainer,
// then the example is added (a step runs every batch_size examples); Flush() at the end.
// `curve`, when not null, gets a "step,epoch,examples,loss" CSV row for each step taken.
// `keep_going`, when set, is asked every 1024 examples with (examples done, examples in
// all epochs): false ends the training with Unavailable("stopped") (the batch model's
// Ctrl-C and progress).
Status TrainEpochs(Trainer* trainer, const std::vector<OfflineExample>& examples, int epochs,
                   std::FILE* curve = nullptr,
                   const std::function<bool(int64_t done, int64_t total)>& keep_going = {});

// An examples file: the line "streamrec-examples 1\n", then per example a little-endian
// u32 byte length, that many bytes of EncodeTrainingExample, and p̂ as a little-endian
// IEEE-754 double. Write creates or replaces `path` (via a temporary file and rename);
// Read rejects a wrong header, a truncated record or an example that does not decode.
Status WriteExampleFile(const std::string& path, const std::vector<OfflineExample>& examples);
Result<std::vector<OfflineExample>> ReadExampleFile(const std::string& path);

}  // namespace streamrec::training
