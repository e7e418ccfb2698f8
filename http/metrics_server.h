#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
}

namespace streamrec::http {

struct MetricsServerOptions {
  // "HOST:PORT" ("[::1]:9464" for IPv6); port 0 picks a free one. Required.
  std::string bind_address;
  // Readiness for GET /readyz: empty means "ready once started". Called on a worker
  // thread; must be thread-safe and quick. A non-OK Status is answered 503 with its
  // message.
  std::function<Status()> ready;
  // false: serve only /healthz and /readyz (a stage's --health probe endpoint, so a slow
  // or large scrape never shares workers with the kubelet's probes); /metrics is a 404.
  bool serve_metrics = true;
  // Worker threads. Scrapes and probes are small and rare: 2 is plenty.
  int threads = 2;
  // Socket timeouts: a client that sends nothing for this long is dropped, so slow or
  // idle connections cannot hold a worker for long. Default 2 s.
  int read_timeout_ms = 2000;
  int write_timeout_ms = 2000;
  // Keep-alive: an idle connection is closed after this (seconds). Default 2.
  int keep_alive_timeout_s = 2;
  // Header and body limits; larger requests are refused.
  size_t max_body_bytes = 64 * 1024;
};

// The observability endpoint every process serves (replacing prometheus-cpp's civetweb
// Exposer, which crashes on any path other than /metrics):
//   GET /metrics   Prometheus text format of core's MetricsRegistry() (unless
//                  serve_metrics is false)
//   GET /healthz   200 {"status":"ok"} while the process runs (liveness)
//   GET /readyz    200 {"status":"ready"} or 503 {"status":"not_ready","reason":..}
//   anything else  404 (other methods on known paths: 405)
// Binding fails at Start() when the port is busy (no SO_REUSEPORT). Threads: a listener
// and `threads` workers; Start/Stop from one owner thread.
class MetricsServer {
 public:
  using Options = MetricsServerOptions;
  static Result<std::unique_ptr<MetricsServer>> Start(Options options);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // "http://HOST:PORT".
  std::string url() const;

 private:
  explicit MetricsServer(Options options);
  void Stop();

  Options options_;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};
};

// Starts a MetricsServer on `bind_address` with default options; `bound_port` (may be
// null) receives the port actually bound.
Result<std::unique_ptr<MetricsServer>> StartMetricsServer(const std::string& bind_address,
                                                          int* bound_port);

}  // namespace streamrec::http
