#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"

namespace streamrec::training {

// Offline ranking metrics with DESIGN §7's definitions (the recommenders-team library,
// Spark MLlib style). No torch here: serving and apps may include this freely.
// Free functions and plain structs; thread-compatible.

// One line of a MovieLens u.data-style file: user, item, rating, timestamp (seconds),
// tab- (or whitespace-) separated. The timestamp column is optional (0 when absent).
struct Rating {
  std::string user;
  std::string item;
  double rating = 0;
  int64_t ts = 0;
};

// One line of a prediction file: user, item, score.
struct Prediction {
  std::string user;
  std::string item;
  double score = 0;
};

// Reads the files above; the error names the file and line of the first bad line.
Result<std::vector<Rating>> ReadRatingsTsv(const std::string& path);
Result<std::vector<Prediction>> ReadPredictionsTsv(const std::string& path);

// user -> recommended items, best first.
using RankedLists = std::unordered_map<std::string, std::vector<std::string>>;
// user -> the items that are relevant to that user (the test set).
using RelevantSets = std::unordered_map<std::string, std::unordered_set<std::string>>;

// The `k` highest-scoring items of each user, best first. Ties keep file order (a stable
// sort, as pandas' multi-key sort_values in the reference library).
RankedLists TopKPerUser(const std::vector<Prediction>& predictions, int k);

// Relevant sets from truth ratings: every (user, item) line is relevant.
RelevantSets RelevantFromRatings(const std::vector<Rating>& truth);

struct RankingMetrics {
  int k = 0;
  int64_t users = 0;       // users evaluated: relevant set non-empty and a ranked list given
  double precision = 0;    // hits / k
  double recall = 0;       // hits / |relevant|
  double ndcg = 0;         // binary gain, log2 discount, IDCG over min(|relevant|, k)
  double map = 0;          // (sum over hits of hits-so-far / rank) / |relevant|
  double hit_rate = 0;     // fraction of users with at least one hit
  double mrr = 0;          // 1 / rank of the first hit (0 without a hit)
  double coverage = 0;     // distinct recommended items (top k) / catalogue size
};

// Averages over users present in both `ranked` and `relevant` (with a non-empty
// relevant set), as the reference library does. Only the first `k` entries of each
// list count. `catalogue_size` is the denominator of coverage (0 leaves coverage 0).
RankingMetrics ComputeRankingMetrics(const RankedLists& ranked, const RelevantSets& relevant,
                                     int k, int64_t catalogue_size);

// Pairwise ranking quality of ranked lists (issue 9): for each user, AUC_u is the share
// of (relevant, non-relevant) item pairs ranked the right way round, ties counting half.
// The items of the catalogue that are not in the list are ranked below every listed item
// and tied among themselves, so a top-N list of a recommender is a full ranking. An
// item of `excluded` (e.g. the user's training items, which serving filters) is neither
// relevant nor a negative. Users with no relevant item or no negative are skipped.
struct AucMetrics {
  int64_t users = 0;     // users counted
  int64_t pairs = 0;     // (relevant, negative) pairs, summed over users
  double auc = 0;        // mean of AUC_u over users
  double gauc = 0;       // AUC_u averaged with weights |relevant_u| (GAUC)
};
AucMetrics ComputeAuc(const RankedLists& ranked, const RelevantSets& relevant, int64_t catalogue_size,
                      const RelevantSets* excluded = nullptr);

// {"map@1": .., "map@10": .., "ndcg@1": .., ...} with the keys of the golden
// metrics.json (map, ndcg, precision, recall) plus hit_rate@k, mrr@k and coverage@k,
// keys sorted, full double precision. `extra` entries (already-encoded JSON values) are
// added as they are.
std::string RankingMetricsJson(const std::vector<RankingMetrics>& metrics,
                               const std::vector<std::pair<std::string, std::string>>& extra = {});

// A table for humans: one line per k.
std::string FormatRankingMetrics(const std::vector<RankingMetrics>& metrics);

}  // namespace streamrec::training
