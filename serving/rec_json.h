#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serving/recommender.h"

namespace streamrec::serving {

// The recommendation request and response of DESIGN §2 (`rec-requests` →
// `recommendations`; the HTTP API answers with the same response object).

struct RecRequestLimits {
  // k when the request has none.
  int64_t default_k = 20;
  // Largest k accepted; k ≤ 0 or above it is an error.
  int64_t max_k = 1000;
};

// {"request_id":"r1","user_id":"u1","k":20}
struct RecRequest {
  std::string request_id;  // may be empty (HTTP)
  std::string user_id;
  int64_t k = 20;
  // Not part of the JSON: the event time the answer is asked for, set by in-process
  // callers (the prequential harness) so the user's window is cut at the horizon before
  // that time, as the user stage cuts it when that event arrives. 0 (HTTP, Kafka): the
  // window as of the user's own newest event.
  int64_t as_of_ms = 0;
};

// Strict: a JSON object; user_id a non-empty string of at most 256 bytes; request_id a
// string (or number, kept as its text) when present; k an integer in [1, max_k] when
// present. Unknown fields are ignored. Errors are InvalidArgument with a precise message.
// `partial` (may be null) receives the request_id and user_id read before an error, so
// an error answer can still name its request.
Result<RecRequest> ParseRecRequest(std::string_view json, const RecRequestLimits& limits,
                                   RecRequest* partial = nullptr);
// The same checks for a k given as text (HTTP query parameter).
Result<int64_t> ParseK(std::string_view text, const RecRequestLimits& limits);
Status ValidateUserId(std::string_view user_id);

// {"request_id":..,"user_id":..,"model_version":N,"cold_start":false,
//  "items":[{"item_id":..,"score":..,"sources":["cooc","two_tower"]}]}
// model_version is 0 when no model is loaded yet; cold_start is true when the user has
// no recent history (an unknown user gets trending/fallback items, not an error).
struct RecResponse {
  std::string request_id;
  std::string user_id;
  int64_t model_version = 0;
  bool cold_start = false;
  std::vector<ScoredItem> items;
};
std::string EncodeRecResponse(const RecResponse& response);

// Similar items: {"item_id":..,"model_version":N,"items":[...]} (items as above).
struct SimilarResponse {
  std::string item_id;
  int64_t model_version = 0;
  std::vector<ScoredItem> items;
};
std::string EncodeSimilarResponse(const SimilarResponse& response);

// An error answer: {"request_id":..,"user_id":..,"error":{"code":"invalid_argument",
// "message":".."}}; request_id/user_id omitted when empty.
std::string EncodeErrorResponse(const Status& status, std::string_view request_id = {},
                                std::string_view user_id = {});
// "invalid_argument", "not_found", ...
std::string ErrorCodeName(Status::Code code);

// Reads a response back (for clients and tests). Item scores/sources included; an
// error response decodes to the Status it carries.
struct DecodedRecResponse {
  RecResponse response;
  std::vector<std::vector<std::string>> sources;  // per item, names
};
Result<DecodedRecResponse> DecodeRecResponse(std::string_view json);

}  // namespace streamrec::serving
