#pragma once

#include "core/config.h"
#include "core/status.h"
#include "training/trainer.h"

namespace streamrec::training {

// trainer.item_side_features' default and the bucket count of each side table under auto.
inline constexpr const char* kDefaultItemSideFeatures = "off";
inline constexpr int64_t kSideFeatureBuckets = 4096;

// The trainer's options from config keys (defaults as in TrainerOptions / TwoTowerOptions),
// read in one place so the trainer stage and the in-process evaluation (eval/) train the
// same model:
//   trainer.model_dir ("streamrec-models"), trainer.device (auto|cpu|cuda),
//   trainer.optimizer (adam|adagrad), trainer.embedding_updates (auto|dense|sparse), trainer.learning_rate, trainer.batch_size,
//   trainer.snapshot_every_steps, trainer.snapshot_every_seconds, trainer.keep_snapshots,
//   trainer.logq_correction, trainer.seed, trainer.embedding_dim, trainer.hidden_dim,
//   trainer.output_dim, trainer.temperature, trainer.history_encoder (mean|gru|wrnn),
//   trainer.max_history, trainer.item_capacity, trainer.user_capacity,
//   trainer.item_side_features (auto|off, default kDefaultItemSideFeatures; auto: the item
//   tower adds category and brand embeddings for items the catalogue describes),
//   trainer.category_capacity and trainer.brand_capacity (their hashed buckets, default
//   kSideFeatureBuckets each; read only with auto).
Result<TrainerOptions> TrainerOptionsFromConfig(const Config& config);

}  // namespace streamrec::training
