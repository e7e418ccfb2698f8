#include "http/metrics_server.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include <httplib.h>

#include "core/json_writer.h"
#include "core/metrics.h"
#include "http/request_guard.h"
#include "http/server_socket.h"

namespace streamrec::http {
namespace {

void SetJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

}  // namespace

MetricsServer::MetricsServer(Options options) : options_(std::move(options)) {}

MetricsServer::~MetricsServer() { Stop(); }

std::string MetricsServer::url() const {
  const std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return "http://" + host + ":" + std::to_string(port_);
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(Options options) {
  std::string host;
  int port = 0;
  STREAMREC_RETURN_IF_ERROR(ParseHostPort(options.bind_address, &host, &port));
  std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(options)));
  s->host_ = host;
  s->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *s->server_;
  const Options& o = s->options_;
  const int threads = std::max(1, o.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_read_timeout(o.read_timeout_ms / 1000, (o.read_timeout_ms % 1000) * 1000);
  server.set_write_timeout(o.write_timeout_ms / 1000, (o.write_timeout_ms % 1000) * 1000);
  server.set_keep_alive_timeout(o.keep_alive_timeout_s);
  server.set_keep_alive_max_count(100);
  server.set_payload_max_length(o.max_body_bytes);

  // No route here takes a body: one is refused before it is read (httplib would read a
  // chunked one whole, whatever its size).
  server.set_pre_routing_handler([max = o.max_body_bytes](const httplib::Request& req,
                                                          httplib::Response& res) {
    const std::optional<BodyRefusal> refusal = CheckRequestBody(req, max, false);
    if (!refusal) return httplib::Server::HandlerResponse::Unhandled;
    JsonWriter w;
    w.BeginObject().Key("error").BeginObject();
    w.Key("code").String(refusal->http_status == 413 ? "payload_too_large" : "bad_request");
    w.Key("message").String(refusal->message);
    w.EndObject().EndObject();
    AnswerAndClose(res, refusal->http_status, w.Release(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  if (o.serve_metrics) {
    server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(SerializeMetrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    SetJson(res, 200, R"({"status":"ok"})");
  });
  auto ready = o.ready;
  server.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    const Status st = ready ? ready() : Status::Ok();
    if (st.ok()) {
      SetJson(res, 200, R"({"status":"ready"})");
      return;
    }
    JsonWriter w;
    w.BeginObject().Key("status").String("not_ready").Key("reason").String(st.message()).EndObject();
    SetJson(res, 503, w.Release());
  });
  // Unknown paths (and known paths with another method) get a JSON error, never a crash.
  // httplib also calls this for a handler's own error (the 503 above): keep its body.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    JsonWriter w;
    const char* code = res.status == 404   ? "not_found"
                       : res.status == 405 ? "method_not_allowed"
                       : res.status == 413 ? "payload_too_large"
                                           : "bad_request";
    w.BeginObject().Key("error").BeginObject().Key("code").String(code).EndObject().EndObject();
    res.set_content(w.Release(), "application/json");
  });

  auto bound = BindExclusive(&server, host, port);
  if (!bound.ok()) return bound.status().WithContext("metrics");
  s->port_ = *bound;
  MetricsServer* raw = s.get();
  s->listener_ = std::thread([raw] {
    raw->server_->listen_after_bind();
    raw->listener_done_.store(true);
  });
  // stop() is a no-op until the listener runs; wait for it (it starts at once).
  while (!server.is_running() && !s->listener_done_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (s->listener_done_.load()) {
    return Status::Unavailable("metrics listener on " + s->url() + " stopped at once");
  }
  return s;
}

void MetricsServer::Stop() {
  if (server_) server_->stop();
  if (listener_.joinable()) listener_.join();
}

Result<std::unique_ptr<MetricsServer>> StartMetricsServer(const std::string& bind_address,
                                                          int* bound_port) {
  MetricsServerOptions options;
  options.bind_address = bind_address;
  auto server = MetricsServer::Start(std::move(options));
  if (server.ok() && bound_port != nullptr) *bound_port = (*server)->port();
  return server;
}

}  // namespace streamrec::http
