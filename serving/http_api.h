#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "serving/live_stats.h"
#include "streams/click_event.h"

namespace streamrec::serving {

class RecommendationService;
class ServingMembers;

// Request headers of the routing (serving/README.md "Routing"). A request carrying
// kForwardedByHeader (the forwarding replica's id) is always answered where it arrives,
// so a request is forwarded at most once, whatever the replicas believe.
inline constexpr char kForwardedByHeader[] = "X-Streamrec-Forwarded-By";
// Response headers: which replica answered, and how the request got there: "local" (this
// replica owns the user), "forwarded" (relayed from the owner), "owner" (this replica got
// a forwarded request), "fallback" (the owner did not answer in time or failed: answered
// here with whatever history this replica has), "unowned" (no replica claims the user's
// partition yet).
inline constexpr char kServedByHeader[] = "X-Streamrec-Served-By";
inline constexpr char kRouteHeader[] = "X-Streamrec-Route";

// Where POST /v1/events hands validated events (the wiring produces them to `clicks`,
// key user id). Called on an HTTP worker thread; must be thread-safe. A non-OK status
// answers 503 and the client may retry the whole batch.
using EventSink = std::function<Status(const std::vector<ClickEvent>& events)>;

struct HttpApiOptions {
  // Address to bind; loopback by default. "0.0.0.0" serves every interface.
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (see HttpApi::port()).
  int port = 0;
  // Worker threads; each serves one connection at a time (keep-alive included).
  int threads = 8;
  // Connections accepted beyond the busy workers and waiting for one; further
  // connections are answered 503 at once (bounded concurrency).
  int max_queued_connections = 64;
  // Largest request body, with a Content-Length or chunked (POST /v1/events only); larger
  // ones get 413, a body without either framing 411.
  size_t max_body_bytes = 1 << 20;
  // When not empty, every /v1/ route needs "Authorization: Bearer <this>" (401 without);
  // /healthz, /readyz, /metrics and the storefront's files stay open. Empty: no check.
  std::string bearer_token;
  // Largest number of events in one POST /v1/events batch.
  size_t max_events_per_request = 1000;
  // POST /v1/events refuses events dated more than this ahead of the system clock, with
  // the user stage's limit (operators.max_future_ms, default one day; 0 = no check).
  int64_t max_future_ms = 86'400'000;
  // Socket read/write timeouts and keep-alive limits.
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 5;
  int keep_alive_max_requests = 1000;
  // What GET /v1/stats reads from the registry (the serving operator sets the clicks
  // topic's name and the served model's component).
  LiveStatsOptions stats;
  // Routing of GET /v1/recommendations by user (serving/README.md "Routing"). Null
  // (default): every request is answered here. Else a request for a user whose `clicks`
  // partition another replica owns is forwarded to it (at most once, kForwardedByHeader)
  // and its answer relayed; must outlive the HttpApi.
  // This replica's id is members->self_id().
  const ServingMembers* members = nullptr;
  // Bound on a forwarded request (connect, send, and wait for the answer); past it, or on
  // any failure or 5xx of the owner, the request is answered here, marked "fallback".
  int forward_timeout_ms = 1000;
};

// The HTTP API (cpp-httplib) over a RecommendationService:
//   GET  /v1/recommendations?user_id=U&k=K   → the recommendation response (DESIGN §2)
//   GET  /v1/items/{id}/similar?k=K          → similar items
//   POST /v1/events                          → one click event or a JSON array of them,
//        validated with ClickEventParser; all valid → 202 {"accepted":n} and handed to
//        the EventSink; any invalid → 400 listing each rejected index, nothing accepted
//   GET  /healthz, GET /readyz, GET /metrics (Prometheus text from core's registry)
//   GET  /                                   → the storefront page (serving/storefront/,
//        embedded at build time); GET /storefront/{file} its scripts and styles
//   GET  /v1/items?id=A&id=B                 → catalogue entries (titles, categories)
//   GET  /v1/users/recent?limit=N            → users whose clicks serving applied last
//   GET  /v1/stats                           → the live panel's figures (LiveStats)
// Errors are JSON: {"error":{"code":"invalid_argument","message":".."}} with 400, 404,
// 401 (bearer token configured, missing or wrong), 411 (a body without Content-Length or,
// outside POST /v1/events, chunked), 413 (body too large), 503 (overloaded, not ready, sink
// failed). Metrics:
// streamrec_serving_request_seconds{path}, streamrec_serving_responses_total{path,code},
// streamrec_serving_routes_total{route} (the kRouteHeader values),
// streamrec_serving_forward_seconds (a forwarded request's round trip to its owner).
// Threads: Start/Stop from one owner thread; requests run on the worker pool; a listener
// thread accepts. Thread-safe.
class HttpApi {
 public:
  using Options = HttpApiOptions;
  // `service` must outlive the HttpApi; `sink` may be empty (POST /v1/events then
  // answers 503).
  HttpApi(Options options, const RecommendationService* service, EventSink sink);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds and starts serving on a background thread. Unavailable when the address
  // can't be bound.
  Status Start();
  // Stops accepting, finishes requests in flight, joins threads. Idempotent.
  void Stop();

  // The bound port (after Start()).
  int port() const { return port_; }
  // "HOST:PORT".
  std::string address() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
  int port_ = 0;
};

}  // namespace streamrec::serving
