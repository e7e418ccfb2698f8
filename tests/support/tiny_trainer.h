#pragma once

// A tiny two-tower trainer on the CPU for tests that need real snapshots (serving's
// loader and registry, the snapshot format): 8-dimensional towers, 50 users and 50
// items by default, batches of 8, every snapshot kept.

#include <cstdint>
#include <string>

#include "training/trainer.h"

namespace streamrec::testing {

inline training::TrainerOptions TinyTrainerOptions(const std::string& model_dir,
                                                   int64_t item_capacity = 50,
                                                   int64_t batch_size = 8) {
  training::TrainerOptions o;
  o.model.embedding_dim = 8;
  o.model.hidden_dim = 16;
  o.model.output_dim = 8;
  o.model.user_capacity = 50;
  o.model.item_capacity = item_capacity;
  o.batch_size = batch_size;
  o.model_dir = model_dir;
  o.device = "cpu";
  o.keep_snapshots = 0;
  return o;
}

}  // namespace streamrec::testing
