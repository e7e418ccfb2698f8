#include "serving/http_api.h"

#include <strings.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include <httplib.h>
#include <simdjson.h>

#include "core/clock.h"
#include "core/json_writer.h"
#include "core/metrics.h"
#include "core/thread_annotations.h"
#include "http/request_guard.h"
#include "http/server_socket.h"
#include "serving/rec_json.h"
#include "serving/recommendation_service.h"
#include "serving/serving_members.h"
#include "serving/storefront.h"
#include "core/id_hash.h"
#include "streams/catalog.h"

namespace streamrec::serving {
namespace {

// Set on the thread that answers connections the pool had no room for.
thread_local bool tls_overloaded = false;

// httplib's task queue with bounded concurrency: `threads` workers, and at most
// `max_queued` accepted connections waiting for one. A connection beyond that is served
// by the overload thread, whose requests are answered 503 without running a handler.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(int threads, int max_queued)
      : limit_(static_cast<size_t>(std::max(1, threads) + std::max(0, max_queued))) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      workers_.emplace_back([this] { Work(&jobs_, false); });
    }
    overload_worker_ = std::thread([this] { Work(&overload_jobs_, true); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      MutexLock lock(&mu_);
      if (active_ < limit_) {
        ++active_;
        jobs_.push_back(std::move(fn));
      } else {
        overload_jobs_.push_back(std::move(fn));
      }
    }
    cv_.notify_all();
  }

  void shutdown() override {
    {
      MutexLock lock(&mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    overload_worker_.join();
  }

 private:
  void Work(std::deque<std::function<void()>>* queue, bool overload) {
    tls_overloaded = overload;
    for (;;) {
      std::function<void()> fn;
      {
        // The predicate runs with mu_ held (through the native handle, which the
        // analysis can't follow).
        std::unique_lock<std::mutex> lock(mu_.native());
        cv_.wait(lock, [&]() NO_THREAD_SAFETY_ANALYSIS { return shutdown_ || !queue->empty(); });
        if (queue->empty()) return;  // shutting down and drained
        fn = std::move(queue->front());
        queue->pop_front();
      }
      fn();
      if (!overload) {
        MutexLock lock(&mu_);
        --active_;
      }
    }
  }

  const size_t limit_;
  Mutex mu_;
  std::condition_variable cv_;
  size_t active_ GUARDED_BY(mu_) = 0;  // queued or running on a worker
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  std::deque<std::function<void()>> overload_jobs_ GUARDED_BY(mu_);
  bool shutdown_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
  std::thread overload_worker_;
};

void SetJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void SetError(httplib::Response& res, int status, const Status& error) {
  SetJson(res, status, EncodeErrorResponse(error));
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return 200;
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kUnavailable: return 503;
    case Status::Code::kTimeout: return 504;
    default: return 500;
  }
}

// With a bearer token configured, the API's routes need it; probes, the metrics scrape
// and the storefront's own files stay open (the page sends the token with its API calls).
bool NeedsToken(const std::string& path) { return path.rfind("/v1/", 0) == 0; }

// "Bearer <token>", compared in constant time so the answer's timing says nothing of how
// much of a guess was right.
bool BearerTokenMatches(const std::string& header, const std::string& token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() != kScheme.size() + token.size()) return false;
  if (strncasecmp(header.data(), kScheme.data(), kScheme.size()) != 0) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(header[kScheme.size() + i] ^ token[i]);
  }
  return diff == 0;
}

// Items one GET /v1/items may name, and users GET /v1/users/recent may return.
constexpr size_t kMaxItemsPerLookup = 1000;
constexpr size_t kMaxRecentUsers = 32;

// An embedded storefront file with its type. The page's own policy: only this origin's
// scripts, styles and connections (defence in depth; the scripts escape what they show).
void ServeStorefrontFile(const EmbeddedFile& file, httplib::Response& res) {
  res.status = 200;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "no-cache");
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                 "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  const std::string_view type = StorefrontContentType(file.path);
  res.set_content(file.bytes.data(), file.bytes.size(), std::string(type));
}

}  // namespace

struct HttpApi::Rep {
  explicit Rep(LiveStatsOptions stats_options) : live_stats(std::move(stats_options)) {}

  Options options;
  LiveStats live_stats;
  const RecommendationService* service = nullptr;
  EventSink sink;
  httplib::Server server;
  std::thread listener;
  std::atomic<bool> listener_done{false};
  bool started = false;
  prometheus::Family<prometheus::Histogram>* latency = nullptr;
  prometheus::Family<prometheus::Counter>* responses = nullptr;
  prometheus::Family<prometheus::Counter>* routes = nullptr;
  prometheus::Histogram* forward_seconds = nullptr;

  // Wraps a handler with the latency histogram and the response counter. The counters of
  // the codes the route answers exist at 0 from the start, so error-rate queries have
  // data before the first error.
  httplib::Server::Handler Timed(const std::string& path, httplib::Server::Handler handler,
                                 std::initializer_list<int> codes = {200, 500}) {
    prometheus::Histogram* histogram = RouteHistogram(path, codes);
    return [this, path, histogram, handler = std::move(handler)](const httplib::Request& req,
                                                                httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      handler(req, res);
      Record(path, histogram, start, res.status);
    };
  }
  // The same for a route that reads its own body.
  httplib::Server::HandlerWithContentReader TimedReader(
      const std::string& path, httplib::Server::HandlerWithContentReader handler,
      std::initializer_list<int> codes) {
    prometheus::Histogram* histogram = RouteHistogram(path, codes);
    return [this, path, histogram, handler = std::move(handler)](
               const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& reader) {
      const auto start = std::chrono::steady_clock::now();
      handler(req, res, reader);
      Record(path, histogram, start, res.status);
    };
  }
  prometheus::Histogram* RouteHistogram(const std::string& path, std::initializer_list<int> codes) {
    for (int code : codes) responses->Add({{"path", path}, {"code", std::to_string(code)}});
    return &latency->Add({{"path", path}}, LatencyBuckets());
  }
  void Record(const std::string& path, prometheus::Histogram* histogram,
              std::chrono::steady_clock::time_point start, int status) {
    histogram->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    responses->Add({{"path", path}, {"code", std::to_string(status)}}).Increment();
  }

  // Refuses what must not reach a handler, before any body is read: a connection the pool
  // had no room for (503), a body httplib would read unbounded or over the limit (411,
  // 413, 501), a request without the bearer token when one is configured (401).
  bool RefuseBeforeRouting(const httplib::Request& req, httplib::Response& res) const {
    if (tls_overloaded) {
      http::AnswerAndClose(res, 503,
                           EncodeErrorResponse(Status::Unavailable(
                               "overloaded: every worker is busy, retry later")),
                           "application/json");
      res.set_header("Retry-After", "1");
      return true;
    }
    const bool chunked_allowed = req.method == "POST" && req.path == "/v1/events";
    if (std::optional<http::BodyRefusal> refusal =
            http::CheckRequestBody(req, options.max_body_bytes, chunked_allowed)) {
      http::AnswerAndClose(res, refusal->http_status,
                           EncodeErrorResponse(Status::InvalidArgument(refusal->message)),
                           "application/json");
      return true;
    }
    if (!options.bearer_token.empty() && NeedsToken(req.path) &&
        !BearerTokenMatches(req.get_header_value("Authorization"), options.bearer_token)) {
      JsonWriter w;
      w.BeginObject().Key("error").BeginObject();
      w.Key("code").String("unauthenticated");
      w.Key("message").String("this API needs 'Authorization: Bearer <token>'");
      w.EndObject().EndObject();
      http::AnswerAndClose(res, 401, w.Release(), "application/json");
      res.set_header("WWW-Authenticate", "Bearer realm=\"streamrec\"");
      return true;
    }
    return false;
  }

  void HandleRecommendations(const httplib::Request& req, httplib::Response& res) const {
    RecRequest request;
    request.user_id = req.get_param_value("user_id");
    if (!req.has_param("user_id")) {
      return SetError(res, 400, Status::InvalidArgument("missing query parameter user_id"));
    }
    Result<int64_t> k = ParseK(req.get_param_value("k"), service->options().limits);
    if (!k.ok()) return SetError(res, 400, k.status());
    request.k = *k;
    request.request_id = req.get_header_value("X-Request-Id");
    const char* route = "local";
    if (options.members != nullptr) {
      if (req.has_header(kForwardedByHeader)) {
        route = "owner";  // forwarded once already: answered here, whatever we believe
      } else {
        const ServingRoute where = options.members->RouteUser(request.user_id);
        if (!where.owned) {
          route = "unowned";
        } else if (!where.local) {
          if (Forward(where, req, request, res)) return;
          route = "fallback";
        }
      }
      res.set_header(kServedByHeader, options.members->self_id());
      res.set_header(kRouteHeader, route);
      routes->Add({{"route", route}}).Increment();
    }
    Result<RecResponse> response = service->Recommend(request);
    if (!response.ok()) return SetError(res, HttpStatusOf(response.status()), response.status());
    SetJson(res, 200, EncodeRecResponse(*response));
  }

  // Relays the request to its owner; false (nothing written to `res`) when the owner
  // could not be reached in time or answered 5xx.
  bool Forward(const ServingRoute& where, const httplib::Request& req, const RecRequest& request,
               httplib::Response& res) const {
    // One keep-alive client per owner and worker thread (a Client is not thread-safe).
    thread_local std::map<std::string, std::unique_ptr<httplib::Client>> clients;
    std::unique_ptr<httplib::Client>& client = clients[where.owner_address];
    const bool reused = client != nullptr;
    auto connect = [&] {
      client = std::make_unique<httplib::Client>("http://" + where.owner_address);
      const int ms = std::max(1, options.forward_timeout_ms);
      client->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
      client->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
      client->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
    };
    if (!reused) connect();
    const std::string self = options.members->self_id();
    httplib::Headers headers{{kForwardedByHeader, self.empty() ? std::string("?") : self}};
    if (!request.request_id.empty()) headers.emplace("X-Request-Id", request.request_id);
    if (req.has_header("Authorization")) headers.emplace("Authorization", req.get_header_value("Authorization"));
    const std::string path = "/v1/recommendations?user_id=" + httplib::detail::encode_query_param(request.user_id) +
                             "&k=" + std::to_string(request.k);
    const auto start = std::chrono::steady_clock::now();
    httplib::Result answer = client->Get(path, headers);
    if (!answer && reused && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50)) {
      // A kept-alive connection the owner had closed fails at once: once more on a new one.
      connect();
      answer = client->Get(path, headers);
    }
    forward_seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!answer || answer->status >= 500) {
      client.reset();  // a fresh connection next time
      return false;
    }
    res.status = answer->status;
    res.set_content(answer->body, answer->get_header_value("Content-Type"));
    res.set_header(kServedByHeader, answer->has_header(kServedByHeader) ? answer->get_header_value(kServedByHeader)
                                                                       : where.owner_id);
    res.set_header(kRouteHeader, "forwarded");
    routes->Add({{"route", "forwarded"}}).Increment();
    return true;
  }

  void HandleSimilar(const httplib::Request& req, httplib::Response& res) const {
    const std::string item_id = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
    std::string decoded = httplib::detail::decode_url(item_id, false);
    Result<int64_t> k = ParseK(req.get_param_value("k"), service->options().limits);
    if (!k.ok()) return SetError(res, 400, k.status());
    Result<SimilarResponse> response = service->Similar(decoded, *k);
    if (!response.ok()) return SetError(res, HttpStatusOf(response.status()), response.status());
    SetJson(res, 200, EncodeSimilarResponse(*response));
  }

  // POST /v1/events reads its body itself, through httplib's ContentReader, so that a
  // chunked body stops at max_body_bytes instead of growing without bound in httplib.
  void ReadAndHandleEvents(const httplib::ContentReader& reader, httplib::Response& res) const {
    std::string body;
    bool too_large = false;
    const bool read = reader([&](const char* data, size_t length) {
      if (body.size() + length > options.max_body_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (too_large || res.status == 413) {
      // The rest of the body is unread: answer, then drop the connection.
      return http::AnswerAndClose(
          res, 413,
          EncodeErrorResponse(Status::InvalidArgument(
              "request body over the limit of " + std::to_string(options.max_body_bytes) +
              " bytes")),
          "application/json");
    }
    if (!read) {
      return http::AnswerAndClose(
          res, 400, EncodeErrorResponse(Status::InvalidArgument("could not read the request body")),
          "application/json");
    }
    HandleEvents(body, res);
  }

  void HandleEvents(std::string_view body, httplib::Response& res) const {
    thread_local simdjson::dom::parser json_parser;
    thread_local ClickEventParser event_parser;
    simdjson::dom::element doc;
    if (json_parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
      return SetError(res, 400, Status::InvalidArgument("body is not valid JSON"));
    }
    std::vector<std::string> messages;
    simdjson::dom::array array;
    if (doc.get(array) == simdjson::SUCCESS) {
      for (simdjson::dom::element el : array) {
        if (messages.size() >= options.max_events_per_request) {
          return SetError(res, 413,
                          Status::InvalidArgument("more than " +
                                                  std::to_string(options.max_events_per_request) +
                                                  " events in one request"));
        }
        messages.push_back(simdjson::minify(el));
      }
      if (messages.empty()) return SetError(res, 400, Status::InvalidArgument("no events"));
    } else {
      messages.emplace_back(body);
    }
    std::vector<ClickEvent> events;
    events.reserve(messages.size());
    JsonWriter rejected;
    rejected.BeginArray();
    size_t num_rejected = 0;
    for (size_t i = 0; i < messages.size(); ++i) {
      ClickParseResult parsed = event_parser.Parse(messages[i]);
      if (parsed.ok()) {
        parsed.reason = CheckNotAhead(parsed.event.ts_ms, SystemClock().NowMillis(), options.max_future_ms,
                                      &parsed.detail);
      }
      if (!parsed.ok()) {
        ++num_rejected;
        rejected.BeginObject()
            .Key("index").Int(static_cast<int64_t>(i))
            .Key("reason").String(RejectReasonName(parsed.reason))
            .Key("detail").String(parsed.detail)
            .EndObject();
        continue;
      }
      events.push_back(std::move(parsed.event));
    }
    rejected.EndArray();
    if (num_rejected > 0) {
      JsonWriter w;
      w.BeginObject().Key("error").BeginObject();
      w.Key("code").String("invalid_argument");
      w.Key("message").String(std::to_string(num_rejected) + " of " +
                              std::to_string(messages.size()) +
                              " events rejected; none accepted");
      w.EndObject();
      w.Key("rejected");
      std::string body = w.Release();
      body += rejected.str();
      body += "}";
      return SetJson(res, 400, std::move(body));
    }
    if (!sink) return SetError(res, 503, Status::Unavailable("event ingestion is not configured"));
    Status st = sink(events);
    if (!st.ok()) return SetError(res, 503, st);
    JsonWriter w;
    w.BeginObject().Key("accepted").Int(static_cast<int64_t>(events.size())).EndObject();
    SetJson(res, 202, w.Release());
  }

  // GET /v1/items?id=A&id=B: the catalogue entries of the named items (EncodeCatalogItem's
  // object each), in the order asked; ids the catalogue does not hold are listed in
  // "unknown".
  void HandleItems(const httplib::Request& req, httplib::Response& res) const {
    const size_t n = req.get_param_value_count("id");
    if (n == 0) return SetError(res, 400, Status::InvalidArgument("missing query parameter id"));
    if (n > kMaxItemsPerLookup) {
      return SetError(res, 400, Status::InvalidArgument(
                                    "at most " + std::to_string(kMaxItemsPerLookup) +
                                    " ids in one request, got " + std::to_string(n)));
    }
    std::string items = "[";
    JsonWriter unknown;
    unknown.BeginArray();
    for (size_t i = 0; i < n; ++i) {
      const std::string id = req.get_param_value("id", i);
      std::shared_ptr<const CatalogItem> item = service->catalog().Get(HashId(id));
      if (item == nullptr || item->item_id != id) {
        unknown.String(id);
        continue;
      }
      if (items.size() > 1) items += ",";
      items += EncodeCatalogItem(*item);
    }
    unknown.EndArray();
    SetJson(res, 200, "{\"items\":" + items + "],\"unknown\":" + unknown.str() + "}");
  }

  // GET /v1/users/recent?limit=N (default and most kMaxRecentUsers).
  void HandleRecentUsers(const httplib::Request& req, httplib::Response& res) const {
    size_t limit = kMaxRecentUsers;
    if (req.has_param("limit")) {
      const std::string text = req.get_param_value("limit");
      char* end = nullptr;
      const long v = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || end == nullptr || *end != '\0' || v < 1) {
        return SetError(res, 400, Status::InvalidArgument("limit must be a positive integer, got '" +
                                                          text + "'"));
      }
      limit = std::min(kMaxRecentUsers, static_cast<size_t>(v));
    }
    JsonWriter w;
    w.BeginObject().Key("users").BeginArray();
    for (const std::string& user : service->recent_users().Get(limit)) w.String(user);
    w.EndArray().EndObject();
    SetJson(res, 200, w.Release());
  }

  void HandleStats(httplib::Response& res) {
    const LiveStatsReport report = live_stats.Read(*MetricsRegistry());
    SetJson(res, 200, EncodeLiveStats(report));
  }

  void HandleReady(const httplib::Request&, httplib::Response& res) const {
    const Readiness r = service->GetReadiness();
    JsonWriter w;
    w.BeginObject();
    w.Key("ready").Bool(r.ready);
    w.Key("tables_loaded").Bool(r.tables_loaded);
    w.Key("models_loaded").Bool(r.models_loaded);
    w.Key("windows_loaded").Bool(r.windows_loaded);
    w.Key("model_version").Int(r.model_version);
    w.Key("fallback_available").Bool(r.fallback_available);
    w.Key("kafka_reachable").Bool(r.kafka_reachable);
    if (!r.ready) w.Key("reason").String(r.reason);
    w.EndObject();
    SetJson(res, r.ready ? 200 : 503, w.Release());
  }
};

HttpApi::HttpApi(Options options, const RecommendationService* service, EventSink sink)
    : rep_(std::make_unique<Rep>(options.stats)) {
  rep_->options = std::move(options);
  rep_->service = service;
  rep_->sink = std::move(sink);
  auto& registry = *MetricsRegistry();
  rep_->latency = &prometheus::BuildHistogram()
                       .Name("streamrec_serving_request_seconds")
                       .Help("HTTP request latency by route")
                       .Register(registry);
  rep_->responses = &prometheus::BuildCounter()
                         .Name("streamrec_serving_responses_total")
                         .Help("HTTP responses by route and status code")
                         .Register(registry);
  rep_->routes = &prometheus::BuildCounter()
                      .Name("streamrec_serving_routes_total")
                      .Help("GET /v1/recommendations by how it was answered: local (owner), forwarded "
                            "(relayed from the owner), owner (forwarded here), fallback (owner unreachable: "
                            "answered here), unowned (no owner announced)")
                      .Register(registry);
  for (const char* route : {"local", "forwarded", "owner", "fallback", "unowned"}) {
    rep_->routes->Add({{"route", route}});
  }
  rep_->forward_seconds = &prometheus::BuildHistogram()
                               .Name("streamrec_serving_forward_seconds")
                               .Help("Round trip of a request forwarded to the owning replica")
                               .Register(registry)
                               .Add({}, LatencyBuckets());
}

HttpApi::~HttpApi() { Stop(); }

std::string HttpApi::address() const { return rep_->options.host + ":" + std::to_string(port_); }

Status HttpApi::Start() {
  if (rep_->started) return Status::FailedPrecondition("HTTP API already started");
  Rep* rep = rep_.get();
  httplib::Server& server = rep->server;
  const Options& o = rep->options;
  server.new_task_queue = [threads = o.threads, queued = o.max_queued_connections] {
    return new BoundedTaskQueue(threads, queued);
  };
  server.set_payload_max_length(o.max_body_bytes);
  server.set_read_timeout(o.read_timeout_ms / 1000, (o.read_timeout_ms % 1000) * 1000);
  server.set_write_timeout(o.write_timeout_ms / 1000, (o.write_timeout_ms % 1000) * 1000);
  server.set_keep_alive_timeout(o.keep_alive_timeout_s);
  server.set_keep_alive_max_count(static_cast<size_t>(std::max(1, o.keep_alive_max_requests)));
  server.set_tcp_nodelay(true);

  // Runs after the headers, before the body and the handler. The connection of a refusal
  // is dropped once answered, so a client that ignores "Connection: close" can't keep the
  // overload thread busy or have its unread body parsed as a next request.
  server.set_pre_routing_handler([rep](const httplib::Request& req, httplib::Response& res) {
    return rep->RefuseBeforeRouting(req, res) ? httplib::Server::HandlerResponse::Handled
                                              : httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.has_header("Content-Type")) return;  // handler answered
    Status error;
    switch (res.status) {
      case 404: error = Status::NotFound("no route for " + req.method + " " + req.path); break;
      case 413: error = Status::InvalidArgument("request body too large"); break;
      case 400: error = Status::InvalidArgument("malformed HTTP request"); break;
      default: error = Status::Internal("HTTP status " + std::to_string(res.status)); break;
    }
    res.set_content(EncodeErrorResponse(error), "application/json");
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
          what = "non-standard exception";
        }
        SetError(res, 500, Status::Internal(what));
      });

  server.Get("/v1/recommendations",
             rep->Timed("/v1/recommendations",
                        [rep](const httplib::Request& req, httplib::Response& res) {
                          rep->HandleRecommendations(req, res);
                        },
                        {200, 400, 404, 500, 503}));
  server.Get(R"(/v1/items/([^/]+)/similar)",
             rep->Timed("/v1/items/{id}/similar",
                        [rep](const httplib::Request& req, httplib::Response& res) {
                          rep->HandleSimilar(req, res);
                        },
                        {200, 400, 404, 500, 503}));
  server.Post("/v1/events",
              rep->TimedReader("/v1/events",
                               [rep](const httplib::Request&, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
                                 rep->ReadAndHandleEvents(reader, res);
                               },
                               {202, 400, 413, 500, 503}));
  server.Get("/healthz", rep->Timed("/healthz", [](const httplib::Request&, httplib::Response& res) {
               SetJson(res, 200, R"({"status":"ok"})");
             }));
  server.Get("/readyz", rep->Timed("/readyz",
                                   [rep](const httplib::Request& req, httplib::Response& res) {
                                     rep->HandleReady(req, res);
                                   },
                                   {200, 500, 503}));
  server.Get("/metrics", rep->Timed("/metrics", [](const httplib::Request&, httplib::Response& res) {
               res.set_content(SerializeMetrics(), "text/plain; version=0.0.4; charset=utf-8");
             }));

  server.Get("/v1/items", rep->Timed("/v1/items", [rep](const httplib::Request& req,
                                                       httplib::Response& res) {
               rep->HandleItems(req, res);
             }));
  server.Get("/v1/users/recent",
             rep->Timed("/v1/users/recent", [rep](const httplib::Request& req,
                                                 httplib::Response& res) {
               rep->HandleRecentUsers(req, res);
             }));
  server.Get("/v1/stats", rep->Timed("/v1/stats", [rep](const httplib::Request&,
                                                       httplib::Response& res) {
               rep->HandleStats(res);
             }));
  // The storefront: GET / is its page, GET /storefront/{file} the page's scripts and
  // styles, all embedded; any other file is a 404 like every unknown path.
  server.Get("/", rep->Timed("/", [](const httplib::Request&, httplib::Response& res) {
               const EmbeddedFile* page = FindStorefrontFile("index.html");
               if (page == nullptr) {
                 return SetError(res, 404, Status::NotFound("no storefront page in this build"));
               }
               ServeStorefrontFile(*page, res);
             }));
  server.Get(R"(/storefront/([A-Za-z0-9._-]+))",
             rep->Timed("/storefront/{file}", [](const httplib::Request& req,
                                                 httplib::Response& res) {
               const std::string name = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
               const EmbeddedFile* file = FindStorefrontFile(name);
               if (file == nullptr) {
                 return SetError(res, 404, Status::NotFound("no storefront file " + name));
               }
               ServeStorefrontFile(*file, res);
             }));

  auto bound = http::BindExclusive(&server, o.host, o.port);
  if (!bound.ok()) return bound.status().WithContext("HTTP API");
  const int port = *bound;
  port_ = port;
  rep->listener_done.store(false);
  rep->listener = std::thread([rep] {
    rep->server.listen_after_bind();
    rep->listener_done.store(true);
  });
  rep->started = true;
  // A first reading, so the first GET /v1/stats already has rates (since start).
  rep->live_stats.Read(*MetricsRegistry());
  // stop() is a no-op until the listener runs, so wait for it (it starts at once).
  while (!server.is_running() && !rep->listener_done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (rep->listener_done.load()) {
    Stop();
    return Status::Unavailable("HTTP listener on " + address() + " stopped at once");
  }
  return Status::Ok();
}

void HttpApi::Stop() {
  if (!rep_ || !rep_->started) return;
  rep_->server.stop();
  if (rep_->listener.joinable()) rep_->listener.join();
  rep_->started = false;
}

}  // namespace streamrec::serving
