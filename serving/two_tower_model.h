#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serving/embedding_index.h"
#include "serving/user_history.h"

namespace streamrec::training {
class RankerModel;  // training/ranker.h
}

namespace streamrec::serving {

// Computes a user's embedding (same space as the item embeddings) from the user id and
// the recent window. Implementations are thread-safe (called from serving threads).
class UserEncoder {
 public:
  virtual ~UserEncoder() = default;
  // NotFound when the user can't be embedded (e.g. no history and no id embedding).
  virtual Result<std::vector<float>> Encode(std::string_view user_id,
                                            const std::vector<HistoryEntry>& history) const = 0;
};

// The mean of the item embeddings of the window's items (those the model knows),
// L2-normalised — the mean-pooled history of DESIGN §4 without the MLP. Used when a
// snapshot carries no user tower, and in tests.
std::unique_ptr<UserEncoder> NewMeanPoolingUserEncoder(std::shared_ptr<const ItemEmbeddings> items);

// The softmax temperature the blend's two-tower weight (serving.weights.two_tower) is
// set for: the trainer's default τ.
inline constexpr double kBlendReferenceTemperature = 0.05;

// One loaded version of the two-tower model, as served: the item embeddings, their
// nearest-neighbour index, and the user encoder. Immutable; shared by serving threads
// through ServableHandle<TwoTowerModel>.
class TwoTowerModel {
 public:
  // `ranker` (may be null): the ranking stage's model stored with this version.
  // `temperature`: the τ the model was trained with (its snapshot's manifest).
  TwoTowerModel(int64_t version, std::shared_ptr<const ItemEmbeddings> items,
                std::unique_ptr<EmbeddingIndex> index, std::unique_ptr<UserEncoder> user_encoder,
                std::shared_ptr<const training::RankerModel> ranker = nullptr,
                double temperature = kBlendReferenceTemperature)
      : version_(version),
        items_(std::move(items)),
        index_(std::move(index)),
        user_encoder_(std::move(user_encoder)),
        ranker_(std::move(ranker)),
        blend_scale_(temperature > 0 ? kBlendReferenceTemperature / temperature : 1.0) {}

  int64_t version() const { return version_; }
  const ItemEmbeddings& items() const { return *items_; }
  // The same, shared (to build another index over them: benchmarks, tools).
  const std::shared_ptr<const ItemEmbeddings>& shared_items() const { return items_; }
  const EmbeddingIndex& index() const { return *index_; }
  const UserEncoder& user_encoder() const { return *user_encoder_; }
  // The ranking stage's MLP swapped in with this version; null when the snapshot has
  // none or it failed to load (the recommender then serves the blend's order).
  const training::RankerModel* ranker() const { return ranker_.get(); }
  // What the blend multiplies ⟨u, v⟩ by: kBlendReferenceTemperature / τ, so the two-tower
  // term is the model's logit ⟨u, v⟩/τ on the scale of the reference τ. A model trained at
  // a larger τ spreads its cosines wider for the same confidence; added raw, its term
  // would outweigh the [0, 1] co-occurrence and popularity terms (bench/RESULTS.md, "τ
  // between 0.05 and 0.2"). 1 at the reference τ.
  double blend_scale() const { return blend_scale_; }

 private:
  int64_t version_;
  std::shared_ptr<const ItemEmbeddings> items_;
  std::unique_ptr<EmbeddingIndex> index_;
  std::unique_ptr<UserEncoder> user_encoder_;
  std::shared_ptr<const training::RankerModel> ranker_;
  double blend_scale_;
};

struct SanityCheckOptions {
  // Recent events scored (from UserHistoryStore::RecentEvents, which keeps 1024); 0
  // disables the check.
  size_t max_events = 512;
  // Events needed before the accuracy bars apply (fewer: only finiteness is checked, and
  // the model is swapped in). A random model's accuracy has a standard deviation of
  // 0.5/sqrt(n): 0.035 at 200 events, 0.022 at 512.
  size_t min_events = 200;
  // The fraction of events whose clicked item scores above a fixed pseudo-random item
  // must reach this; 0.5 is what a random model gets, so a version has to be better than
  // chance to be served (at 512 events a random model passes 0.55 with probability
  // ~1%). Until one passes, the other channels (cooc, popular, fallback) serve.
  double min_pairwise_accuracy = 0.55;
  // With a version already serving: the new one must also reach the serving one's
  // accuracy on the same events (those both models know) minus this margin, so a
  // regression is refused even above the absolute bar. Negative: no comparison.
  double max_drop_vs_serving = 0.05;
};

// What CheckModelSanity measured.
struct SanityScore {
  size_t events = 0;    // events scored by the new model
  double accuracy = 0;  // its pairwise accuracy on them
  // Events both models could score, and each model's accuracy on them (0 when no
  // serving model was given).
  size_t compared = 0;
  double compared_accuracy = 0;
  double serving_accuracy = 0;
};

// The sanity score of a model on recent events: for each event with a non-empty window,
// the user is encoded from the window before the event, and the clicked item is
// compared with a deterministic other item (picked by key among the new model's items;
// the serving model is scored on the same pair). Error when any score is non-finite,
// the accuracy is below min_pairwise_accuracy, or (with `serving`, may be null) below
// the serving model's accuracy minus max_drop_vs_serving, once min_events events were
// scored. `score` (may be null) receives the figures.
Status CheckModelSanity(const TwoTowerModel& model,
                        const std::vector<UserHistoryStore::RecentEvent>& events,
                        const SanityCheckOptions& options, SanityScore* score,
                        const TwoTowerModel* serving = nullptr);
// The same, returning the new model's accuracy only.
Status CheckModelSanity(const TwoTowerModel& model,
                        const std::vector<UserHistoryStore::RecentEvent>& events,
                        const SanityCheckOptions& options, double* accuracy);

}  // namespace streamrec::serving
