#include "streams/topics.h"

namespace streamrec {

Result<TopicNames> TopicNames::FromConfig(const Config& config) {
  TopicNames names;
  struct Field {
    const char* key;
    std::string* value;
  };
  const Field fields[] = {
      {"topics.clicks", &names.clicks},
      {"topics.clicks_dlq", &names.clicks_dlq},
      {"topics.items", &names.items},
      {"topics.rec_requests", &names.rec_requests},
      {"topics.recommendations", &names.recommendations},
      {"topics.cooc_deltas", &names.cooc_deltas},
      {"topics.training_examples", &names.training_examples},
      {"topics.item_neighbors", &names.item_neighbors},
      {"topics.item_stats", &names.item_stats},
      {"topics.models", &names.models},
      {"topics.batch_views", &names.batch_views},
      {"topics.user_changelog", &names.user_changelog},
      {"topics.item_changelog", &names.item_changelog},
      {"topics.serving_members", &names.serving_members},
      {"topics.ranker_examples", &names.ranker_examples},
  };
  for (const Field& f : fields) {
    auto v = config.GetString(f.key, *f.value);
    if (!v.ok()) return v.status();
    if (v.value().empty()) return Status::InvalidArgument(std::string(f.key) + " is empty");
    *f.value = std::move(v).value();
  }
  return names;
}

std::vector<TopicSpec> DefaultTopicSpecs(const TopicNames& n, int partitions) {
  if (partitions < 1) partitions = 1;
  return {
      {n.clicks, partitions, false},
      {n.clicks_dlq, partitions, false},
      {n.items, partitions, true},
      {n.rec_requests, partitions, false},
      {n.recommendations, partitions, false},
      {n.cooc_deltas, partitions, false},
      {n.training_examples, partitions, false},
      {n.item_neighbors, partitions, true},
      {n.item_stats, partitions, true},
      {n.models, 1, true},
      {n.batch_views, 1, true},
      {n.user_changelog, partitions, true},
      {n.item_changelog, partitions, true},
      {n.serving_members, 1, true},
      {n.ranker_examples, partitions, false},
  };
}

bool IsCompactedTopic(const TopicNames& n, const std::string& name) {
  return name == n.items || name == n.item_neighbors || name == n.item_stats || name == n.models ||
         name == n.batch_views || name == n.user_changelog || name == n.item_changelog ||
         name == n.serving_members;
}

}  // namespace streamrec
