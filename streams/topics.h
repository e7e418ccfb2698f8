#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace streamrec {

// Default names of the public and internal topics (DESIGN §2). Every name is
// configurable under `topics.<field>` (e.g. `topics.clicks: my-clicks`); these are the
// defaults users and other stages rely on.
inline constexpr char kClicksTopic[] = "clicks";
inline constexpr char kClicksDlqTopic[] = "clicks.dlq";
inline constexpr char kItemsTopic[] = "items";
inline constexpr char kRecRequestsTopic[] = "rec-requests";
inline constexpr char kRecommendationsTopic[] = "recommendations";
inline constexpr char kCoocDeltasTopic[] = "streamrec.cooc-deltas";
inline constexpr char kTrainingExamplesTopic[] = "streamrec.training-examples";
inline constexpr char kItemNeighborsTopic[] = "streamrec.item-neighbors";
inline constexpr char kItemStatsTopic[] = "streamrec.item-stats";
inline constexpr char kModelsTopic[] = "streamrec.models";
inline constexpr char kBatchViewsTopic[] = "streamrec.batch";
// The changelogs of the partition-store stages (runtime/README.md, "Changelog"):
// compacted, as many partitions as clicks.
inline constexpr char kUserChangelogTopic[] = "streamrec.user-changelog";
inline constexpr char kItemChangelogTopic[] = "streamrec.item-changelog";
// Serving replicas announce their HTTP address and the clicks partitions they own here
// (compacted, one partition; serving/README.md "Routing").
inline constexpr char kServingMembersTopic[] = "streamrec.serving-members";
// Serving publishes the ranker's training lists here (serving/ranking_example.h; key
// user id), the trainer trains the ranker on them (docs/DESIGN.md "The ranking stage").
inline constexpr char kRankerExamplesTopic[] = "streamrec.ranker-examples";

// Header on `clicks.dlq` naming the RejectReason (RejectReasonName), and the header
// carrying the human-readable detail.
inline constexpr char kRejectReasonHeader[] = "streamrec.reject.reason";
inline constexpr char kRejectDetailHeader[] = "streamrec.reject.detail";

// The topic names in use, built once from the config. Thread-compatible.
struct TopicNames {
  std::string clicks = kClicksTopic;
  std::string clicks_dlq = kClicksDlqTopic;
  std::string items = kItemsTopic;
  std::string rec_requests = kRecRequestsTopic;
  std::string recommendations = kRecommendationsTopic;
  std::string cooc_deltas = kCoocDeltasTopic;
  std::string training_examples = kTrainingExamplesTopic;
  std::string item_neighbors = kItemNeighborsTopic;
  std::string item_stats = kItemStatsTopic;
  std::string models = kModelsTopic;
  std::string batch_views = kBatchViewsTopic;
  std::string user_changelog = kUserChangelogTopic;
  std::string item_changelog = kItemChangelogTopic;
  std::string serving_members = kServingMembersTopic;
  std::string ranker_examples = kRankerExamplesTopic;

  // Reads `topics.clicks`, `topics.clicks_dlq`, `topics.items`, `topics.rec_requests`,
  // `topics.recommendations`, `topics.cooc_deltas`, `topics.training_examples`,
  // `topics.item_neighbors`, `topics.item_stats`, `topics.models`, `topics.batch_views`, `topics.user_changelog`,
  // `topics.item_changelog`, `topics.serving_members`, `topics.ranker_examples`;
  // absent keys keep the defaults above.
  static Result<TopicNames> FromConfig(const Config& config);
};

// How a topic is to be created.
struct TopicSpec {
  std::string name;
  int partitions = 1;
  // true for tables (items, item-neighbors, item-stats, models, batch) and the stages'
  // changelogs: cleanup.policy=compact.
  bool compacted = false;
};

// Every topic of DESIGN §2 with `partitions` partitions, except the ones that must stay
// single-partition (streamrec.models, streamrec.batch, streamrec.serving-members:
// totally ordered announcement logs).
// clicks and rec-requests share the partition count so they stay co-partitioned.
std::vector<TopicSpec> DefaultTopicSpecs(const TopicNames& names, int partitions);

// Whether the default topic named `name` is compacted (items, streamrec.item-neighbors,
// streamrec.item-stats, streamrec.models, streamrec.batch, the two changelogs,
// streamrec.serving-members).
bool IsCompactedTopic(const TopicNames& names, const std::string& name);

}  // namespace streamrec
