#include "serving/recommendation_service.h"

#include "core/id_hash.h"

namespace streamrec::serving {

RecommendationService::RecommendationService(Options options)
    : options_(std::move(options)),
      catalog_(options_.fallback_size),
      stats_(options_.trending_size),
      history_(options_.history),
      models_(options_.models),
      recommender_(options_.recommender, RecommenderTables{&catalog_, &neighbors_, &stats_}),
      embedding_cache_(options_.embedding_cache) {}

void RecommendationService::Publish() {
  catalog_.Publish();
  stats_.Publish();
}

Readiness RecommendationService::GetReadiness() const {
  Readiness r;
  r.tables_loaded = tables_loaded_.load();
  r.models_loaded = models_loaded_.load();
  r.windows_loaded = windows_loaded_.load();
  r.kafka_reachable = kafka_reachable_.load();
  r.model_version = models_.version();
  const auto fallback = catalog_.Fallback();
  r.fallback_available =
      !stats_.Snapshot()->trending.empty() || (fallback != nullptr && !fallback->empty());
  if (!r.tables_loaded) {
    r.reason = "the global tables (items, item-neighbors, item-stats) are not yet read to their end offsets as of start";
  } else if (!r.models_loaded) {
    r.reason = "the models topic is not yet read to its end offset as of start";
  } else if (!r.windows_loaded) {
    r.reason = "the clicks partitions of this replica are not yet read to their end offsets as of assignment";
  } else if (r.model_version == 0 && !r.fallback_available) {
    r.reason = "no model loaded and no fallback items (trending or catalogue) yet";
  }
  r.ready = r.reason.empty();
  return r;
}

Result<RecResponse> RecommendationService::Recommend(const RecRequest& request,
                                                     RankerCapture* capture) const {
  STREAMREC_RETURN_IF_ERROR(ValidateUserId(request.user_id));
  if (request.k <= 0 || request.k > options_.limits.max_k) {
    return Status::InvalidArgument("k must be in [1, " + std::to_string(options_.limits.max_k) +
                                   "], got " + std::to_string(request.k));
  }
  // The handle pins this request's model version until the response is built.
  Result<ServableHandle<TwoTowerModel>> handle = models_.GetServableHandle();
  const TwoTowerModel* model = handle.ok() ? handle->get() : nullptr;
  const UserHistoryStore::UserState user =
      history_.GetUser(HashId(request.user_id), request.as_of_ms);
  RecResponse response;
  response.request_id = request.request_id;
  response.user_id = request.user_id;
  response.model_version = handle.ok() ? handle->version : 0;
  // Cold: nothing known of the user (a returning user has a seen record, not a window).
  response.cold_start = user.window.empty() && user.seen.empty();
  response.items = recommender_.Recommend(request.user_id, user.window,
                                          static_cast<size_t>(request.k), model, user.seen,
                                          &embedding_cache_, user.version, capture);
  return response;
}

Result<SimilarResponse> RecommendationService::Similar(std::string_view item_id, int64_t k) const {
  if (item_id.empty()) return Status::InvalidArgument("item id is empty");
  if (item_id.size() > kMaxItemIdBytes) return Status::InvalidArgument("item id is too long");
  if (k <= 0 || k > options_.limits.max_k) {
    return Status::InvalidArgument("k must be in [1, " + std::to_string(options_.limits.max_k) +
                                   "], got " + std::to_string(k));
  }
  Result<ServableHandle<TwoTowerModel>> handle = models_.GetServableHandle();
  const TwoTowerModel* model = handle.ok() ? handle->get() : nullptr;
  Result<std::vector<ScoredItem>> items =
      recommender_.Similar(HashId(item_id), static_cast<size_t>(k), model);
  if (!items.ok()) {
    return Status::NotFound("unknown item '" + std::string(item_id) + "': " +
                            items.status().message());
  }
  SimilarResponse response;
  response.item_id = std::string(item_id);
  response.model_version = handle.ok() ? handle->version : 0;
  response.items = std::move(items).value();
  return response;
}

std::string RecommendationService::HandleRequestMessage(std::string_view json) const {
  RecRequest partial;
  Result<RecRequest> request = ParseRecRequest(json, options_.limits, &partial);
  if (!request.ok()) {
    return EncodeErrorResponse(request.status(), partial.request_id, partial.user_id);
  }
  Result<RecResponse> response = Recommend(*request);
  if (!response.ok()) {
    return EncodeErrorResponse(response.status(), request->request_id, request->user_id);
  }
  return EncodeRecResponse(*response);
}

}  // namespace streamrec::serving
