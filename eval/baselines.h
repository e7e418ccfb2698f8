#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"

namespace streamrec::eval {

// The built-in online baselines of the prequential harness (`bench prequential --model
// top|mc|itemknn`), the usual reference points of streaming recommender evaluation
// (Alpenglow's popularity, transition and online item-KNN models). Each sees the stream
// one event at a time: Recommend() before the event, Observe() after it. They rank on
// their own (they are the yardsticks, not the served system); items in `exclude` (the
// user's served window, as serving filters it) never come back. Deterministic: ties go
// to the smaller item id. Thread-compatible.
class Baseline {
 public:
  virtual ~Baseline() = default;
  virtual const char* name() const = 0;
  // Up to k item ids for `user_id`, best first.
  virtual std::vector<std::string> Recommend(const std::string& user_id,
                                             const std::unordered_set<std::string>& exclude,
                                             size_t k) = 0;
  virtual void Observe(const std::string& user_id, const std::string& item_id) = 0;
};

// `top`: items by number of events so far.
std::unique_ptr<Baseline> NewPopularityBaseline();

// `mc`: first-order Markov chain: items by how often they followed the user's last item
// (in any user's stream). Nothing when the user has no last item or it has no successor.
std::unique_ptr<Baseline> NewMarkovBaseline();

struct ItemKnnOptions {
  // Weight of the t-th newest item of the user's history: gamma^t (t = 0 newest).
  double gamma = 0.8;
  // History items with weight below this are not used (0.8^20 ≈ 0.012: ~20 items).
  double gamma_threshold = 0.01;
};

// `itemknn`: online item-KNN over each user's history. Co-occurrence c_ij counts users
// with both i and j in their history (every new item pairs with every earlier one,
// both directions); similarity is cosine, c_ij / sqrt(n_i · n_j) with n_i the users of i;
// an item's score is the gamma-decayed sum of its similarity to the user's newest items.
std::unique_ptr<Baseline> NewItemKnnBaseline(ItemKnnOptions options = {});

// By name: "top", "mc", "itemknn"; InvalidArgument otherwise.
Result<std::unique_ptr<Baseline>> NewBaseline(const std::string& name);

}  // namespace streamrec::eval
