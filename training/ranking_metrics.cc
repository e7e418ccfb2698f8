#include "training/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace streamrec::training {
namespace {

// Splits a line on tabs or spaces, dropping empty fields.
std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == '\t' || c == ' ' || c == '\r') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool ParseDouble(const std::string& s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end != s.c_str() && *end == '\0' && std::isfinite(*out);
}

bool ParseInt(const std::string& s, int64_t* out) {
  char* end = nullptr;
  *out = std::strtoll(s.c_str(), &end, 10);
  return end != s.c_str() && *end == '\0';
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

Result<std::vector<Rating>> ReadRatingsTsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot open " + path);
  std::vector<Rating> out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto f = SplitFields(line);
    if (f.empty()) continue;
    Rating r;
    if (f.size() < 3 || f.size() > 4 || !ParseDouble(f[2], &r.rating) ||
        (f.size() == 4 && !ParseInt(f[3], &r.ts))) {
      return Status::InvalidArgument(path + ":" + std::to_string(lineno) +
                                     ": expected user, item, rating[, timestamp]");
    }
    r.user = std::move(f[0]);
    r.item = std::move(f[1]);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Prediction>> ReadPredictionsTsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot open " + path);
  std::vector<Prediction> out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto f = SplitFields(line);
    if (f.empty()) continue;
    Prediction s;
    if (f.size() != 3 || !ParseDouble(f[2], &s.score)) {
      return Status::InvalidArgument(path + ":" + std::to_string(lineno) +
                                     ": expected user, item, score");
    }
    s.user = std::move(f[0]);
    s.item = std::move(f[1]);
    out.push_back(std::move(s));
  }
  return out;
}

RankedLists TopKPerUser(const std::vector<Prediction>& predictions, int k) {
  std::unordered_map<std::string, std::vector<const Prediction*>> by_user;
  for (const auto& p : predictions) by_user[p.user].push_back(&p);
  RankedLists out;
  for (auto& [user, items] : by_user) {
    std::stable_sort(items.begin(), items.end(),
                     [](const Prediction* a, const Prediction* b) { return a->score > b->score; });
    auto& list = out[user];
    for (size_t i = 0; i < items.size() && static_cast<int>(i) < k; ++i) {
      list.push_back(items[i]->item);
    }
  }
  return out;
}

RelevantSets RelevantFromRatings(const std::vector<Rating>& truth) {
  RelevantSets out;
  for (const auto& r : truth) out[r.user].insert(r.item);
  return out;
}

RankingMetrics ComputeRankingMetrics(const RankedLists& ranked, const RelevantSets& relevant,
                                     int k, int64_t catalogue_size) {
  RankingMetrics m;
  m.k = k;
  std::unordered_set<std::string> recommended;
  // Sum in a fixed (sorted) user order so results do not depend on hash order.
  std::vector<const std::string*> users;
  for (const auto& [user, rel] : relevant) {
    if (!rel.empty() && ranked.count(user)) users.push_back(&user);
  }
  std::sort(users.begin(), users.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* user : users) {
    const auto& rel = relevant.at(*user);
    const auto& list = ranked.at(*user);
    const int n = std::min<int>(k, static_cast<int>(list.size()));
    int hits = 0;
    double dcg = 0, ap = 0, rr = 0;
    for (int i = 0; i < n; ++i) {
      recommended.insert(list[i]);
      if (!rel.count(list[i])) continue;
      ++hits;
      const int rank = i + 1;
      dcg += 1.0 / std::log2(rank + 1.0);
      ap += static_cast<double>(hits) / rank;
      if (hits == 1) rr = 1.0 / rank;
    }
    double idcg = 0;
    const int ideal = std::min<int>(k, static_cast<int>(rel.size()));
    for (int i = 1; i <= ideal; ++i) idcg += 1.0 / std::log2(i + 1.0);
    const double nrel = static_cast<double>(rel.size());
    m.precision += static_cast<double>(hits) / k;
    m.recall += hits / nrel;
    m.ndcg += dcg / idcg;
    m.map += ap / nrel;
    m.hit_rate += hits > 0 ? 1.0 : 0.0;
    m.mrr += rr;
  }
  m.users = static_cast<int64_t>(users.size());
  if (m.users > 0) {
    const double n = static_cast<double>(m.users);
    m.precision /= n;
    m.recall /= n;
    m.ndcg /= n;
    m.map /= n;
    m.hit_rate /= n;
    m.mrr /= n;
  }
  if (catalogue_size > 0) {
    m.coverage = static_cast<double>(recommended.size()) / static_cast<double>(catalogue_size);
  }
  return m;
}

AucMetrics ComputeAuc(const RankedLists& ranked, const RelevantSets& relevant, int64_t catalogue_size,
                      const RelevantSets* excluded) {
  AucMetrics m;
  static const std::unordered_set<std::string> kNone;
  std::vector<const std::string*> users;
  for (const auto& [user, rel] : relevant) users.push_back(&user);
  // A fixed order: sums do not depend on hash order.
  std::sort(users.begin(), users.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  double weight_sum = 0;
  for (const std::string* user : users) {
    const std::unordered_set<std::string>* ex = &kNone;
    if (excluded != nullptr) {
      auto it = excluded->find(*user);
      if (it != excluded->end()) ex = &it->second;
    }
    int64_t positives = 0;
    for (const auto& item : relevant.at(*user)) positives += ex->count(item) ? 0 : 1;
    const int64_t negatives = catalogue_size - static_cast<int64_t>(ex->size()) - positives;
    if (positives == 0 || negatives <= 0) continue;
    static const std::vector<std::string> kEmpty;
    auto list_it = ranked.find(*user);
    const std::vector<std::string>& list = list_it != ranked.end() ? list_it->second : kEmpty;
    const auto& rel = relevant.at(*user);
    std::unordered_set<std::string> listed;
    double correct = 0;  // pairs ranked right, ties half
    int64_t negatives_above = 0, positives_listed = 0;
    for (const std::string& item : list) {
      if (ex->count(item) || !listed.insert(item).second) continue;
      if (rel.count(item)) {
        correct += static_cast<double>(negatives - negatives_above);
        ++positives_listed;
      } else if (negatives_above < negatives) {  // (an item outside the catalogue: no pair)
        ++negatives_above;
      }
    }
    // Unlisted relevant items tie with the unlisted negatives.
    correct += 0.5 * static_cast<double>((positives - positives_listed) * (negatives - negatives_above));
    const double auc_u = correct / (static_cast<double>(positives) * static_cast<double>(negatives));
    m.auc += auc_u;
    m.gauc += static_cast<double>(positives) * auc_u;
    weight_sum += static_cast<double>(positives);
    m.pairs += positives * negatives;
    ++m.users;
  }
  if (m.users > 0) {
    m.auc /= static_cast<double>(m.users);
    m.gauc /= weight_sum;
  }
  return m;
}

std::string RankingMetricsJson(const std::vector<RankingMetrics>& metrics,
                               const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> kv;
  for (const auto& m : metrics) {
    const std::string at = "@" + std::to_string(m.k);
    kv["precision" + at] = FormatDouble(m.precision);
    kv["recall" + at] = FormatDouble(m.recall);
    kv["ndcg" + at] = FormatDouble(m.ndcg);
    kv["map" + at] = FormatDouble(m.map);
    kv["hit_rate" + at] = FormatDouble(m.hit_rate);
    kv["mrr" + at] = FormatDouble(m.mrr);
    kv["coverage" + at] = FormatDouble(m.coverage);
  }
  for (const auto& [key, value] : extra) kv[key] = value;
  std::ostringstream out;
  out << "{\n";
  bool first = true;
  for (const auto& [key, value] : kv) {
    if (!first) out << ",\n";
    first = false;
    out << " \"" << key << "\": " << value;
  }
  out << "\n}\n";
  return out.str();
}

std::string FormatRankingMetrics(const std::vector<RankingMetrics>& metrics) {
  std::ostringstream out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%4s %6s %9s %9s %9s %9s %9s %9s %9s\n", "k", "users", "map",
                "ndcg", "precision", "recall", "hit_rate", "mrr", "coverage");
  out << buf;
  for (const auto& m : metrics) {
    std::snprintf(buf, sizeof(buf), "%4d %6lld %9.6f %9.6f %9.6f %9.6f %9.6f %9.6f %9.6f\n", m.k,
                  static_cast<long long>(m.users), m.map, m.ndcg, m.precision, m.recall,
                  m.hit_rate, m.mrr, m.coverage);
    out << buf;
  }
  return out.str();
}

}  // namespace streamrec::training
