#include "serving/serving_config.h"

#include <fstream>
#include <sstream>

#include "batch/batch_view_follower.h"
#include "http/server_socket.h"

namespace streamrec::serving {
namespace {

// The HTTP API's bearer token: the file's content without surrounding whitespace (a
// mounted Secret often ends in a newline). A token in a file, not in the configuration,
// stays out of ConfigMaps, command lines and logs.
Result<std::string> ReadBearerToken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read the bearer token file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const size_t begin = token.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return Status::InvalidArgument(path + " holds no token");
  token = token.substr(begin, token.find_last_not_of(" \t\r\n") - begin + 1);
  for (char ch : token) {
    if (ch < 0x21 || ch > 0x7e) {
      return Status::InvalidArgument(path + ": a bearer token is printable ASCII without spaces");
    }
  }
  return token;
}

// Reads an integer key into a size_t/int field, rejecting negatives.
template <typename T>
Status ReadCount(const Config& c, const char* key, T* field) {
  Result<int64_t> v = c.GetInt(key, static_cast<int64_t>(*field));
  if (!v.ok()) return v.status();
  if (*v < 0) return Status::InvalidArgument(std::string(key) + " must not be negative");
  *field = static_cast<T>(*v);
  return Status::Ok();
}

Status ReadDouble(const Config& c, const char* key, double* field) {
  Result<double> v = c.GetDouble(key, *field);
  if (!v.ok()) return v.status();
  *field = *v;
  return Status::Ok();
}

Status ReadBool(const Config& c, const char* key, bool* field) {
  Result<bool> v = c.GetBool(key, *field);
  if (!v.ok()) return v.status();
  *field = *v;
  return Status::Ok();
}

}  // namespace

Result<ServingOperatorOptions> ServingOptionsFromConfig(const Config& c,
                                                        const std::string& brokers_flag,
                                                        const std::string& http_flag) {
  ServingOperatorOptions o;
  o.brokers = ResolveBrokers(c, brokers_flag);
  o.kafka = KafkaPropertiesFromConfig(c);
  Result<TopicNames> topics = TopicNames::FromConfig(c);
  if (!topics.ok()) return topics.status();
  o.topics = *topics;

  Result<std::string> http = c.GetString("serving.http", "127.0.0.1:8080");
  if (!http.ok()) return http.status();
  STREAMREC_RETURN_IF_ERROR(
      http::ParseHostPort(http_flag.empty() ? *http : http_flag, &o.http.host, &o.http.port));
  STREAMREC_RETURN_IF_ERROR(ReadBool(c, "serving.http_enabled", &o.serve_http));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.http_threads", &o.http.threads));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.http_max_queued", &o.http.max_queued_connections));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.http_max_body_bytes", &o.http.max_body_bytes));
  if (o.http.threads < 1) return Status::InvalidArgument("serving.http_threads must be at least 1");
  Result<std::string> token_file = c.GetString("serving.http_bearer_token_file", "");
  if (!token_file.ok()) return token_file.status();
  if (!token_file->empty()) {
    Result<std::string> token = ReadBearerToken(*token_file);
    if (!token.ok()) return token.status().WithContext("serving.http_bearer_token_file");
    o.http.bearer_token = *token;
  }
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.events_ack_timeout_ms", &o.events_ack_timeout_ms));
  // The user stage's limit on event time (operators/user_stage.h), applied at the API too.
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "operators.max_future_ms", &o.http.max_future_ms));
  if (o.events_ack_timeout_ms < 1) {
    return Status::InvalidArgument("serving.events_ack_timeout_ms must be at least 1");
  }

  Result<std::string> group = c.GetString("serving.group_id", o.group_id);
  if (!group.ok()) return group.status();
  o.group_id = *group;

  RecommendationServiceOptions& s = o.service;
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.default_k", &s.limits.default_k));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.max_k", &s.limits.max_k));
  if (s.limits.max_k < 1 || s.limits.default_k < 1 || s.limits.default_k > s.limits.max_k) {
    return Status::InvalidArgument("serving.default_k and serving.max_k need 1 <= default <= max");
  }
  RecommenderOptions& r = s.recommender;
  Result<std::string> channels = c.GetString("serving.channels", "all");
  if (!channels.ok()) return channels.status();
  Result<uint8_t> parsed_channels = ParseChannels(*channels);
  if (!parsed_channels.ok()) return parsed_channels.status().WithContext("serving.channels");
  r.channels = *parsed_channels;
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.weights.two_tower", &r.two_tower_weight));
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.weights.cooc", &r.cooc_weight));
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.weights.popular", &r.popular_weight));
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.weights.renewed", &r.renewed_weight));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.candidates.renewed", &r.renewed_candidates));
  STREAMREC_RETURN_IF_ERROR(
      ReadDouble(c, "serving.renewed_half_life_hours", &r.renewed_half_life_hours));
  if (!(r.renewed_half_life_hours > 0)) {
    return Status::InvalidArgument("serving.renewed_half_life_hours must be positive");
  }
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.candidates.cooc_history_items", &r.cooc_history_items));
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.candidates.cooc_per_item", &r.cooc_neighbors_per_item));
  STREAMREC_RETURN_IF_ERROR(
      ReadDouble(c, "serving.candidates.cooc_recency_decay", &r.cooc_recency_decay));
  if (r.cooc_recency_decay < 0 || r.cooc_recency_decay > 1) {
    return Status::InvalidArgument("serving.candidates.cooc_recency_decay must be in [0, 1]");
  }
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.candidates.two_tower", &r.two_tower_candidates));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.candidates.popular", &r.popular_candidates));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.candidates.fallback", &r.fallback_candidates));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.max_per_category", &r.max_per_category));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.max_per_brand", &r.max_per_brand));
  STREAMREC_RETURN_IF_ERROR(ReadBool(c, "serving.filter_seen", &r.filter_seen));
  STREAMREC_RETURN_IF_ERROR(ReadBool(c, "serving.require_in_catalogue", &r.require_in_catalogue));
  STREAMREC_RETURN_IF_ERROR(ReadBool(c, "serving.ranker.enabled", &r.ranker_enabled));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.ranker.depth", &r.ranker_depth));
  Result<std::string> filter_events = c.GetString("serving.seen.filter_events", "purchase");
  if (!filter_events.ok()) return filter_events.status();
  Result<uint8_t> parsed_events = ParseEventTypes(*filter_events);
  if (!parsed_events.ok()) return parsed_events.status().WithContext("serving.seen.filter_events");
  r.filter_seen_events = *parsed_events;
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.user_embedding_cache.max_entries",
                                      &s.embedding_cache.max_entries));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.seen.max_items", &s.history.seen_max_items));
  if (s.history.seen_max_items > 100000) {
    return Status::InvalidArgument("serving.seen.max_items must be at most 100000");
  }
  size_t user_state_mb = s.history.max_bytes >> 20;
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.user_state_mb", &user_state_mb));
  if (user_state_mb > (size_t{1} << 24)) {
    return Status::InvalidArgument("serving.user_state_mb must be at most 16777216 (16 TiB)");
  }
  s.history.max_bytes = user_state_mb << 20;
  // One history: the user stage's window rules (operators.window.*), not serving's own.
  Result<operators::UserWindowOptions> window = operators::UserWindowOptions::FromConfig(c);
  if (!window.ok()) return window.status();
  s.history.window = *window;
  Result<std::string> component = c.GetString("serving.model_component", s.models.component);
  if (!component.ok()) return component.status();
  s.models.component = *component;

  Result<batch::ServedModel> served = batch::ServedModelFromConfig(c);
  if (!served.ok()) return served.status();
  if (*served == batch::ServedModel::kBatch) {
    Result<std::string> dir = c.GetString("lambda.batch_dir", "");
    if (!dir.ok()) return dir.status();
    if (dir->empty()) {
      return Status::InvalidArgument("lambda.model batch needs lambda.batch_dir: the directory `streamrec batch --out` "
                                     "writes to");
    }
    o.serve_batch_model = true;
    o.batch_dir = *dir;
  }

  Result<std::string> ann = c.GetString("serving.ann", "auto");
  if (!ann.ok()) return ann.status();
  if (*ann == "auto") {
    o.loader.index.kind = EmbeddingIndexOptions::Kind::kAuto;
  } else if (*ann == "exact") {
    o.loader.index.kind = EmbeddingIndexOptions::Kind::kExact;
  } else if (*ann == "hnsw") {
    o.loader.index.kind = EmbeddingIndexOptions::Kind::kHnsw;
  } else {
    return Status::InvalidArgument("serving.ann must be auto, exact or hnsw, got '" + *ann + "'");
  }
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.hnsw.auto_min_items", &o.loader.index.auto_hnsw_min_items));
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.hnsw.build_threads", &o.loader.index.hnsw_build_threads));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.hnsw.m", &o.loader.index.hnsw_m));
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.hnsw.ef_construction", &o.loader.index.hnsw_ef_construction));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.hnsw.ef", &o.loader.index.hnsw_ef_search));
  STREAMREC_RETURN_IF_ERROR(
      ReadBool(c, "serving.hnsw.background", &o.loader.index.hnsw_background_build));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.sanity.min_events", &o.loader.sanity.min_events));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.sanity.max_events", &o.loader.sanity.max_events));
  STREAMREC_RETURN_IF_ERROR(
      ReadDouble(c, "serving.sanity.min_accuracy", &o.loader.sanity.min_pairwise_accuracy));
  STREAMREC_RETURN_IF_ERROR(
      ReadDouble(c, "serving.sanity.max_drop", &o.loader.sanity.max_drop_vs_serving));
  // Where announced models may be loaded from: serving.model_store, else the trainer's
  // trainer.model_dir when configured (the callers default it to <state-dir>/models, as the
  // trainer does).
  Result<std::string> trainer_store = c.GetString("trainer.model_dir", "");
  if (!trainer_store.ok()) return trainer_store.status();
  Result<std::string> store = c.GetString("serving.model_store", *trainer_store);
  if (!store.ok()) return store.status();
  o.loader.model_store = *store;
  // Routing by user (serving/README.md "Routing").
  STREAMREC_RETURN_IF_ERROR(ReadBool(c, "serving.routing", &o.routing));
  Result<std::string> replica = c.GetString("serving.replica_id", "");
  if (!replica.ok()) return replica.status();
  o.replica_id = *replica;
  Result<std::string> advertised = c.GetString("serving.advertised_http", "");
  if (!advertised.ok()) return advertised.status();
  o.advertised_http = *advertised;
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.forward_timeout_ms", &o.forward_timeout_ms));
  if (o.forward_timeout_ms < 1) return Status::InvalidArgument("serving.forward_timeout_ms must be at least 1");
  STREAMREC_RETURN_IF_ERROR(
      ReadCount(c, "serving.members_announce_interval_ms", &o.members_announce_interval_ms));
  if (o.members_announce_interval_ms < 100) {
    return Status::InvalidArgument("serving.members_announce_interval_ms must be at least 100");
  }
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.leave_grace_ms", &o.leave_grace_ms));
  STREAMREC_RETURN_IF_ERROR(ReadCount(c, "serving.members_removal_settle_ms", &o.members_removal_settle_ms));
  double lookback_hours = static_cast<double>(o.windows_lookback_ms) / 3'600'000.0;
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.windows_lookback_hours", &lookback_hours));
  if (lookback_hours < 0) return Status::InvalidArgument("serving.windows_lookback_hours must not be negative");
  o.windows_lookback_ms = static_cast<int64_t>(lookback_hours * 3600.0 * 1000.0);
  STREAMREC_RETURN_IF_ERROR(ReadDouble(c, "serving.ranker.examples_rate", &o.ranker_examples_rate));
  if (!(o.ranker_examples_rate >= 0 && o.ranker_examples_rate <= 1)) {
    return Status::InvalidArgument("serving.ranker.examples_rate must be in [0, 1]");
  }
  return o;
}

}  // namespace streamrec::serving
