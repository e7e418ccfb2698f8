#pragma once

#include <cstdint>
#include <string>

namespace streamrec::training {

// How the user tower pools the recent-item history: a masked mean of the item embeddings,
// the last state of a GRU over them (oldest first), or that GRU with two time-gap features
// per step beside each embedding (the seed's time-window recurrent encoder, W-RNN; the
// features: HistoryTimeFeatures in training/two_tower.h).
enum class HistoryEncoder { kMean = 0, kGru = 1, kWrnn = 2 };
const char* HistoryEncoderName(HistoryEncoder e);  // "mean", "gru", "wrnn"
bool ParseHistoryEncoder(const std::string& name, HistoryEncoder* out);

// Shape of the two-tower model (DESIGN §4). Stored in every snapshot manifest so a
// reader rebuilds exactly the trained module. Plain struct; no torch.
struct TwoTowerOptions {
  int64_t embedding_dim = 64;      // id / category embedding width
  int64_t hidden_dim = 128;        // MLP hidden width; 0: a single linear layer
  int64_t output_dim = 64;         // tower output (L2-normalised) width
  int64_t user_capacity = 100000;  // user rows (LRU eviction beyond, training/id_table.h)
  int64_t item_capacity = 100000;  // item rows (same policy)
  // Item side features (issue 9 item 4): the item tower adds a category and a brand
  // embedding to an item's id embedding when the catalogue gives them. Each table has this
  // many hashed buckets (row 1 + key % capacity; row 0 = none); 0 disables the feature.
  // `trainer.item_side_features: auto` sets both (training/trainer_config.h).
  int64_t category_capacity = 0;
  int64_t brand_capacity = 0;
  bool use_user_id = true;         // user tower input includes a user-id embedding
  // wrnn: the served blend is ahead of mean on MovieLens-100k over all events and level
  // on the golden split and the synthetic stream (bench/RESULTS.md "The W-RNN over all
  // 100,000 events"); it costs ~1.8x mean's training CPU.
  HistoryEncoder history_encoder = HistoryEncoder::kWrnn;
  int64_t max_history = 50;        // most recent items used
  int64_t history_window_s = 0;    // only items at most this old (vs the event); 0 = all
  // τ in s = <u, v> / τ (trainer.temperature). 0.2: the two-tower channel alone is above
  // SAR on the golden split with it (0.05 and 0.15 are below), and with serving's blend
  // reading the logit on the 0.05 scale (serving/two_tower_model.h) the served blend
  // keeps the default's figures on MovieLens and the synthetic stream (bench/RESULTS.md,
  // "τ between 0.05 and 0.2").
  double temperature = 0.2;
};

// Loss settings (DESIGN §4): in-batch softmax with logQ correction.
struct LossOptions {
  bool logq_correction = true;       // logits s(x_i, y_j) - log p̂(y_j); off for ablation
  bool mask_accidental_hits = true;  // mask columns j != i whose item equals row i's item
  double min_sampling_prob = 1e-6;   // p̂ is clamped to [min, 1] before the log
};

}  // namespace streamrec::training
