#include "eval/baselines.h"

#include <algorithm>
#include <cmath>

namespace streamrec::eval {
namespace {

// Dense indices for item ids (first-seen order) so the models index vectors.
class ItemIndex {
 public:
  uint32_t Intern(const std::string& id) {
    auto [it, inserted] = index_.try_emplace(id, static_cast<uint32_t>(ids_.size()));
    if (inserted) ids_.push_back(id);
    return it->second;
  }
  const std::string& id(uint32_t i) const { return ids_[i]; }
  size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> ids_;
};

// Scores over dense item indices -> the k best not excluded (score desc, id asc).
std::vector<std::string> TopK(const std::vector<std::pair<uint32_t, double>>& scored,
                              const ItemIndex& items,
                              const std::unordered_set<std::string>& exclude, size_t k) {
  std::vector<std::pair<uint32_t, double>> c;
  c.reserve(scored.size());
  for (const auto& s : scored) {
    if (s.second > 0 && exclude.count(items.id(s.first)) == 0) c.push_back(s);
  }
  auto better = [&](const std::pair<uint32_t, double>& a, const std::pair<uint32_t, double>& b) {
    if (a.second != b.second) return a.second > b.second;
    return items.id(a.first) < items.id(b.first);
  };
  const size_t n = std::min(k, c.size());
  std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n), c.end(), better);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(items.id(c[i].first));
  return out;
}

class PopularityBaseline : public Baseline {
 public:
  const char* name() const override { return "top"; }

  std::vector<std::string> Recommend(const std::string&, const std::unordered_set<std::string>& exclude,
                                     size_t k) override {
    std::vector<std::string> out;
    for (size_t p = 0; p < order_.size() && out.size() < k; ++p) {
      const std::string& id = items_.id(order_[p]);
      if (exclude.count(id) == 0) out.push_back(id);
    }
    return out;
  }

  void Observe(const std::string&, const std::string& item_id) override {
    const uint32_t i = items_.Intern(item_id);
    if (i == count_.size()) {
      count_.push_back(0);
      pos_.push_back(order_.size());
      order_.push_back(i);
    }
    ++count_[i];
    // Keep `order_` sorted (count desc, id asc): the item only moves towards the front.
    size_t p = pos_[i];
    while (p > 0 && Better(i, order_[p - 1])) {
      order_[p] = order_[p - 1];
      pos_[order_[p]] = p;
      --p;
    }
    order_[p] = i;
    pos_[i] = p;
  }

 private:
  bool Better(uint32_t a, uint32_t b) const {
    if (count_[a] != count_[b]) return count_[a] > count_[b];
    return items_.id(a) < items_.id(b);
  }
  ItemIndex items_;
  std::vector<int64_t> count_;
  std::vector<size_t> pos_;
  std::vector<uint32_t> order_;
};

class MarkovBaseline : public Baseline {
 public:
  const char* name() const override { return "mc"; }

  std::vector<std::string> Recommend(const std::string& user_id,
                                     const std::unordered_set<std::string>& exclude,
                                     size_t k) override {
    auto last = last_.find(user_id);
    if (last == last_.end()) return {};
    auto next = transitions_.find(last->second);
    if (next == transitions_.end()) return {};
    std::vector<std::pair<uint32_t, double>> scored(next->second.begin(), next->second.end());
    return TopK(scored, items_, exclude, k);
  }

  void Observe(const std::string& user_id, const std::string& item_id) override {
    const uint32_t i = items_.Intern(item_id);
    auto [last, first] = last_.try_emplace(user_id, i);
    if (!first) {
      transitions_[last->second][i] += 1;
      last->second = i;
    }
  }

 private:
  ItemIndex items_;
  std::unordered_map<std::string, uint32_t> last_;
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, double>> transitions_;
};

class ItemKnnBaseline : public Baseline {
 public:
  explicit ItemKnnBaseline(ItemKnnOptions options) : options_(options) {}
  const char* name() const override { return "itemknn"; }

  std::vector<std::string> Recommend(const std::string& user_id,
                                     const std::unordered_set<std::string>& exclude,
                                     size_t k) override {
    auto h = history_.find(user_id);
    if (h == history_.end()) return {};
    score_.assign(items_.size(), 0.0);
    std::vector<uint32_t> touched;
    double weight = 1.0;
    const std::vector<uint32_t>& items = h->second.items;
    for (auto it = items.rbegin(); it != items.rend() && weight >= options_.gamma_threshold; ++it) {
      const uint32_t i = *it;
      const double ni = static_cast<double>(users_[i]);
      for (const auto& [j, c] : cooc_[i]) {
        if (score_[j] == 0) touched.push_back(j);
        score_[j] += weight * c / std::sqrt(ni * static_cast<double>(users_[j]));
      }
      weight *= options_.gamma;
    }
    std::vector<std::pair<uint32_t, double>> scored;
    scored.reserve(touched.size());
    for (uint32_t j : touched) scored.emplace_back(j, score_[j]);
    return TopK(scored, items_, exclude, k);
  }

  void Observe(const std::string& user_id, const std::string& item_id) override {
    const uint32_t j = items_.Intern(item_id);
    if (j == users_.size()) {
      users_.push_back(0);
      cooc_.emplace_back();
    }
    History& h = history_[user_id];
    if (!h.seen.insert(j).second) {
      // A repeat: it becomes the newest item; no new pairs, no new user of j.
      h.items.erase(std::find(h.items.begin(), h.items.end(), j));
      h.items.push_back(j);
      return;
    }
    for (uint32_t i : h.items) {
      cooc_[i][j] += 1;
      cooc_[j][i] += 1;
    }
    ++users_[j];
    h.items.push_back(j);
  }

 private:
  struct History {
    std::vector<uint32_t> items;  // distinct, oldest first
    std::unordered_set<uint32_t> seen;
  };
  const ItemKnnOptions options_;
  ItemIndex items_;
  std::vector<int64_t> users_;
  std::vector<std::unordered_map<uint32_t, double>> cooc_;
  std::unordered_map<std::string, History> history_;
  std::vector<double> score_;
};

}  // namespace

std::unique_ptr<Baseline> NewPopularityBaseline() { return std::make_unique<PopularityBaseline>(); }
std::unique_ptr<Baseline> NewMarkovBaseline() { return std::make_unique<MarkovBaseline>(); }
std::unique_ptr<Baseline> NewItemKnnBaseline(ItemKnnOptions options) {
  return std::make_unique<ItemKnnBaseline>(options);
}

Result<std::unique_ptr<Baseline>> NewBaseline(const std::string& name) {
  if (name == "top") return NewPopularityBaseline();
  if (name == "mc") return NewMarkovBaseline();
  if (name == "itemknn") return NewItemKnnBaseline();
  return Status::InvalidArgument("unknown baseline '" + name + "' (top, mc or itemknn)");
}

}  // namespace streamrec::eval
