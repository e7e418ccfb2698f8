#include "serving/rec_json.h"

#include <cctype>
#include <charconv>

#include <simdjson.h>

#include "core/id_hash.h"
#include "core/json_writer.h"

namespace streamrec::serving {
namespace {

constexpr size_t kMaxIdBytesInRequest = 256;

Status CheckK(int64_t k, const RecRequestLimits& limits) {
  if (k <= 0) return Status::InvalidArgument("k must be positive, got " + std::to_string(k));
  if (k > limits.max_k) {
    return Status::InvalidArgument("k is " + std::to_string(k) + ", the limit is " +
                                   std::to_string(limits.max_k));
  }
  return Status::Ok();
}

void WriteItems(JsonWriter& w, const std::vector<ScoredItem>& items) {
  w.Key("items").BeginArray();
  for (const ScoredItem& item : items) {
    w.BeginObject();
    w.Key("item_id").String(item.item_id);
    w.Key("score").Double(item.score);
    w.Key("sources").BeginArray();
    for (const std::string& name : ChannelNames(item.sources)) w.String(name);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

Status ValidateUserId(std::string_view user_id) {
  if (user_id.empty()) return Status::InvalidArgument("user_id is empty");
  if (user_id.size() > kMaxIdBytesInRequest) {
    return Status::InvalidArgument("user_id is " + std::to_string(user_id.size()) +
                                   " bytes, the limit is " + std::to_string(kMaxIdBytesInRequest));
  }
  return Status::Ok();
}

Result<int64_t> ParseK(std::string_view text, const RecRequestLimits& limits) {
  if (text.empty()) return limits.default_k;
  int64_t k = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, k);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument("k is out of range: '" + std::string(text) + "'");
  }
  if (ec != std::errc() || ptr != end) {
    return Status::InvalidArgument("k must be an integer, got '" + std::string(text) + "'");
  }
  STREAMREC_RETURN_IF_ERROR(CheckK(k, limits));
  return k;
}

Result<RecRequest> ParseRecRequest(std::string_view json, const RecRequestLimits& limits,
                                   RecRequest* partial) {
  RecRequest scratch;
  RecRequest& req = partial != nullptr ? *partial : scratch;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument("request is not valid JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("request is not a JSON object");
  req.k = limits.default_k;
  simdjson::dom::element el;
  if (obj["request_id"].get(el) == simdjson::SUCCESS && !el.is_null()) {
    std::string_view sv;
    int64_t n = 0;
    if (el.get(sv) == simdjson::SUCCESS) {
      if (sv.size() > kMaxIdBytesInRequest) return Status::InvalidArgument("request_id is too long");
      req.request_id = std::string(sv);
    } else if (el.get(n) == simdjson::SUCCESS) {
      req.request_id = std::to_string(n);
    } else {
      return Status::InvalidArgument("request_id must be a string");
    }
  }
  if (obj["user_id"].get(el) != simdjson::SUCCESS || el.is_null()) {
    return Status::InvalidArgument("request has no user_id");
  }
  std::string_view user;
  if (el.get(user) != simdjson::SUCCESS) return Status::InvalidArgument("user_id must be a string");
  STREAMREC_RETURN_IF_ERROR(ValidateUserId(user));
  req.user_id = std::string(user);
  if (obj["k"].get(el) == simdjson::SUCCESS && !el.is_null()) {
    int64_t k = 0;
    if (el.get(k) != simdjson::SUCCESS) {
      uint64_t big = 0;
      if (el.get(big) == simdjson::SUCCESS) {
        return Status::InvalidArgument("k is " + std::to_string(big) + ", the limit is " +
                                       std::to_string(limits.max_k));
      }
      return Status::InvalidArgument("k must be an integer");
    }
    STREAMREC_RETURN_IF_ERROR(CheckK(k, limits));
    req.k = k;
  }
  return req;
}

std::string EncodeRecResponse(const RecResponse& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("request_id").String(r.request_id);
  w.Key("user_id").String(r.user_id);
  w.Key("model_version").Int(r.model_version);
  w.Key("cold_start").Bool(r.cold_start);
  WriteItems(w, r.items);
  w.EndObject();
  return w.Release();
}

std::string EncodeSimilarResponse(const SimilarResponse& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("item_id").String(r.item_id);
  w.Key("model_version").Int(r.model_version);
  WriteItems(w, r.items);
  w.EndObject();
  return w.Release();
}

std::string ErrorCodeName(Status::Code code) {
  // "InvalidArgument" → "invalid_argument".
  std::string out;
  for (const char* p = StatusCodeName(code); *p != '\0'; ++p) {
    if (std::isupper(static_cast<unsigned char>(*p))) {
      if (!out.empty()) out.push_back('_');
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*p))));
    } else {
      out.push_back(*p);
    }
  }
  return out;
}

std::string EncodeErrorResponse(const Status& status, std::string_view request_id,
                                std::string_view user_id) {
  JsonWriter w;
  w.BeginObject();
  if (!request_id.empty()) w.Key("request_id").String(request_id);
  if (!user_id.empty()) w.Key("user_id").String(user_id);
  w.Key("error").BeginObject();
  w.Key("code").String(ErrorCodeName(status.code()));
  w.Key("message").String(status.message());
  w.EndObject();
  w.EndObject();
  return w.Release();
}

Result<DecodedRecResponse> DecodeRecResponse(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument("response is not valid JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("response is not an object");
  simdjson::dom::element el;
  if (obj["error"].get(el) == simdjson::SUCCESS) {
    std::string_view message;
    if (el["message"].get(message) != simdjson::SUCCESS) message = "(no message)";
    return Status::InvalidArgument("error response: " + std::string(message));
  }
  DecodedRecResponse out;
  std::string_view sv;
  if (obj["request_id"].get(sv) == simdjson::SUCCESS) out.response.request_id = std::string(sv);
  if (obj["user_id"].get(sv) == simdjson::SUCCESS) out.response.user_id = std::string(sv);
  int64_t version = 0;
  if (obj["model_version"].get(version) == simdjson::SUCCESS) out.response.model_version = version;
  bool cold = false;
  if (obj["cold_start"].get(cold) == simdjson::SUCCESS) out.response.cold_start = cold;
  simdjson::dom::array items;
  if (obj["items"].get(items) != simdjson::SUCCESS) {
    return Status::InvalidArgument("response has no items array");
  }
  for (simdjson::dom::element item : items) {
    ScoredItem s;
    if (item["item_id"].get(sv) != simdjson::SUCCESS) {
      return Status::InvalidArgument("item without item_id");
    }
    s.item_id = std::string(sv);
    s.item_key = HashId(s.item_id);
    double score = 0;
    if (item["score"].get(score) == simdjson::SUCCESS) s.score = score;
    std::vector<std::string> names;
    simdjson::dom::array srcs;
    if (item["sources"].get(srcs) == simdjson::SUCCESS) {
      for (simdjson::dom::element src : srcs) {
        if (src.get(sv) == simdjson::SUCCESS) {
          names.emplace_back(sv);
          for (Channel c : kAllChannels) {
            if (sv == ChannelName(c)) s.sources |= c;
          }
        }
      }
    }
    out.response.items.push_back(std::move(s));
    out.sources.push_back(std::move(names));
  }
  return out;
}

}  // namespace streamrec::serving
