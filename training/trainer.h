#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.h"
#include "core/status.h"
#include "training/model_options.h"
#include "training/ranker_trainer.h"
#include "training/snapshot.h"

namespace streamrec::training {

struct TrainerOptions {
  TwoTowerOptions model;
  LossOptions loss;
  std::string optimizer = "adam";   // "adam" or "adagrad"
  double learning_rate = 1e-3;
  double weight_decay = 0.0;        // L2 on every parameter (optimizer's weight_decay)
  int64_t batch_size = 1024;        // a step runs when this many examples are buffered
  std::string model_dir;            // model store; empty: no snapshots, no resume
  int64_t snapshot_every_steps = 1000;   // MaybeSnapshot writes after this many steps...
  double snapshot_every_seconds = 300;   // ...or this long since the last one (and >= 1 step)
  int64_t keep_snapshots = 3;       // older versions are deleted; 0 keeps all
  bool resume = true;               // start from the latest snapshot in model_dir
  uint64_t seed = 42;               // torch RNG seed (initialisation)
  std::string device = "auto";      // "auto" (CUDA when available), "cpu", "cuda"
  // How the embedding tables are updated. "sparse": they get sparse gradients and their
  // own optimizer of the same kind that touches only the batch's rows (SparseRowOptimizer:
  // lazy Adam / row-wise Adagrad); the towers' dense layers keep the dense torch optimizer.
  // "dense": one torch optimizer whose step reads and writes every row of every table
  // (and its moments) at every step. "auto": sparse on the CPU (3x faster there), dense
  // on CUDA (where the fused dense step is cheaper): bench/RESULTS.md, "The CUDA path".
  std::string embedding_updates = "auto";
  // Time each step's phases (phase_seconds()); synchronises the device at each boundary.
  bool profile_phases = false;
  // Experience replay: after each step on a fresh batch, this many more steps, each on
  // batch_size examples drawn uniformly without replacement from the last replay_capacity
  // fresh examples (these included). An online stream shows each example once; replay lets
  // a slow stream train the model more without waiting for more events, at (1 +
  // replay_steps)x the trainer's CPU per event. Drawn uniformly, a replayed batch keeps the
  // stream's item distribution, so the logQ correction stays valid. 0 turns it off; the
  // buffer is not part of a snapshot (it refills after a restart). 0 here; the
  // configuration's default (`trainer.replay_steps`, what the stages use) is 7.
  int64_t replay_steps = 0;
  int64_t replay_capacity = 16384;  // examples; at least batch_size
  // p̂ for an item with no ItemStats yet: 1 / (number of items with stats), i.e. the
  // uniform guess; this value is used until any stats arrive.
  double default_sampling_prob = 1e-3;
  // The ranking stage's MLP (issue 9 item 3), trained from AddRankingList only.
  RankerOptions ranker;
};

// Wall seconds spent in each phase of the optimizer steps taken with profile_phases on.
struct TrainerPhaseSeconds {
  double lookup = 0;     // id -> row assignment for the batch's users and items (id tables),
                         // re-drawing the rows of new ids
  double assemble = 0;   // history rows, p̂ and weights, BuildUserFeatures (host side)
  double transfer = 0;   // host vectors -> tensors on the device
  double forward = 0;    // both towers and the loss
  double backward = 0;
  double optimizer = 0;  // zero_grad is in `forward`; the step(s) of both optimizers
  double loss_read = 0;  // reading the loss back to the host (waits for the device)
  int64_t steps = 0;
};

// The online two-tower trainer (DESIGN §4, issue 4). Feed it training examples and item
// statistics in stream order; it batches, takes an optimizer step per full batch and
// writes versioned snapshots to the model store. The Kafka loop is thin:
//
//   for each message:  training-examples -> AddExample(Decode...(value))
//                      item-stats        -> UpdateItemStats(Decode...(value))
//     if (auto m = trainer->MaybeSnapshot(now_ms); m.ok() && m->has_value())
//       produce "streamrec.models", ModelAnnouncement::FromManifest(**m).ToJson()
//     store the input position in the snapshot (SetStreamState) so both resume together
//
// (stages/trainer_stage.h is that loop, with dedup by the examples' streamrec.src marks.)
//
// Not thread-safe: one thread (the trainer stage's) owns it. LibTorch errors are
// caught here and returned as Status.
class Trainer {
 public:
  static Result<std::unique_ptr<Trainer>> Create(const TrainerOptions& options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Buffers an example; runs an optimizer step when a full batch is buffered.
  Status AddExample(const TrainingExample& example);
  // Trains on what is buffered if at least 2 examples (in-batch negatives need two).
  Status Flush();
  // One ranking stage example (the candidates recall returned for a click's moment, their
  // features, the clicked one): trains the ranker, created at the first list with
  // `num_features` (a later list with another count: InvalidArgument). Once it has taken
  // a step, every snapshot carries it (ranker.bin, manifest ranker_checksum); the lists
  // buffered in a partial batch are trained on before a snapshot. A resume restores its
  // parameters (not its optimizer state) from the snapshot's ranker.bin, continued at
  // the first list of the same shape.
  Status AddRankingList(const RankingList& list, int64_t num_features);
  // The ranker's trainer; null until the first AddRankingList.
  const RankerTrainer* ranker() const;
  // Records p̂ (sampling_prob) and the item's id string.
  void UpdateItemStats(const ItemStats& stats);
  // p̂ of an item as last given by UpdateItemStats; nullopt when none arrived.
  std::optional<double> sampling_prob(uint64_t item_key) const;
  // Examples trained with the fallback p̂ because their item had no stats (also the
  // metric streamrec_trainer_logq_fallback_total).
  int64_t logq_fallbacks() const;
  // Whether the embedding tables are updated sparsely (embedding_updates, resolved).
  bool sparse_embeddings() const;
  // Phase times of the steps taken so far with options.profile_phases (zeros otherwise).
  const TrainerPhaseSeconds& phase_seconds() const;

  // Opaque bytes stored in every snapshot written from now on (file stream_state.bin,
  // written before the manifest, so it is part of the same complete snapshot) and
  // restored by a resume: the caller's position in its input (offsets, dedup marks) as of
  // the parameters the snapshot holds. Set it to match the parameters before each
  // MaybeSnapshot / WriteSnapshot (i.e. what was fed up to the last optimizer step).
  void SetStreamState(std::string bytes);
  // The bytes restored from the snapshot resumed from (or last set); empty if none.
  const std::string& stream_state() const;
  // The catalogue's side features of an item (issue 9 item 4): its category and brand
  // keys (HashId of the strings; 0 = none) and its id string. Kept only when the model has
  // side tables (category_capacity / brand_capacity > 0; a key whose table is off is
  // dropped); both 0 forgets the item's entry. From then on the item tower adds the
  // category and brand embeddings to the item's id embedding in training and in the
  // exported vectors, and a snapshot also exports the vectors of catalogue items that
  // were never trained on (zero id embedding: their category and brand alone) when their
  // id string is known (given here, or by an example). Without
  // any catalogue entry a model with side tables trains and exports exactly as one without.
  void SetItemCatalog(uint64_t item_key, std::string_view item_id, uint64_t category_key,
                      uint64_t brand_key);
  // SetItemCatalog with the item's brand (and id string) left as they are.
  void SetItemCategory(uint64_t item_key, uint64_t category_key);
  // Items with catalogue side features kept (SetItemCatalog).
  int64_t catalog_items() const;

  // Warm start (lambda.model warm): the parameters and id tables become those of the
  // snapshot in `dir` (the batch layer's model, same model options), and training goes on
  // from there. The optimizer's state, the counters (step, examples, version), the
  // watermark, the stream state and the buffered examples are kept; item names and
  // categories are merged. FailedPrecondition when the snapshot's model shape differs,
  // Corruption on a checksum mismatch (the trainer is then unchanged).
  Status WarmStartFrom(const std::string& dir);

  // Writes a snapshot when due (options' steps / seconds); the manifest when written.
  Result<std::optional<SnapshotManifest>> MaybeSnapshot(int64_t now_ms);
  // Writes a snapshot now (the buffered partial batch is not trained on).
  Result<SnapshotManifest> WriteSnapshot(int64_t now_ms);
  // Writes a snapshot into `dir` (no versioning, no retention): for offline evaluation.
  Result<SnapshotManifest> WriteSnapshotTo(const std::string& dir, int64_t now_ms);

  // The current model's L2-normalised user vector for `example`'s user and history, its
  // inputs assembled exactly as a training step assembles them (the clicked item is not
  // used). For checking that serving computes the same vector for the same window
  // (tests); not used in training.
  Result<std::vector<float>> UserVector(const TrainingExample& example) const;

  int64_t step() const;
  int64_t examples() const;
  int64_t version() const;       // last snapshot version written or resumed from
  double last_loss() const;      // loss of the last step on fresh examples (not replayed)
  int64_t watermark_ms() const;
  bool on_cuda() const;
  int64_t known_items() const;
  int64_t known_users() const;

  struct Rep;

 private:
  explicit Trainer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::training
