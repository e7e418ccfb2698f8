#include "serving/http_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "core/id_hash.h"
#include "serving/recommendation_service.h"
#include "serving/serving_members.h"
#include "streams/catalog.h"
#include "tests/support/subprocess.h"

namespace streamrec::serving {
namespace {

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RecommendationServiceOptions options;
    options.limits.max_k = 100;
    service_ = std::make_unique<RecommendationService>(options);
    for (const char* id : {"a", "b", "c", "d"}) {
      ASSERT_TRUE(service_->catalog()
                      .Apply(id, std::string_view("{\"item_id\":\"" + std::string(id) + "\"}"))
                      .ok());
    }
    ItemNeighbors nb;
    nb.item_id = "a";
    nb.item_key = HashId("a");
    nb.neighbors.push_back({HashId("b"), "b", 2, 2});
    nb.neighbors.push_back({HashId("c"), "c", 1, 1});
    service_->neighbors().Put(nb);
    ItemStats s;
    s.item_id = "d";
    s.item_key = HashId("d");
    s.popularity = 4;
    service_->stats().Put(s);
    service_->history().Record(HashId("u1"), HashId("a"), "a", 1000);
    service_->Publish();
    service_->SetTablesLoaded(true);
    StartApi(HttpApiOptions());
  }

  void StartApi(HttpApiOptions options) {
    if (api_ != nullptr) api_->Stop();
    api_ = std::make_unique<HttpApi>(options, service_.get(),
                                     [this](const std::vector<ClickEvent>& events) {
                                       std::lock_guard<std::mutex> lock(mu_);
                                       if (fail_sink_) return Status::Unavailable("kafka down");
                                       for (const auto& e : events) sunk_.push_back(e);
                                       return Status::Ok();
                                     });
    ASSERT_TRUE(api_->Start().ok());
    ASSERT_GT(api_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
    client_->set_connection_timeout(5);
    client_->set_read_timeout(10);
  }

  void TearDown() override {
    client_.reset();
    if (api_ != nullptr) api_->Stop();
  }

  std::unique_ptr<RecommendationService> service_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<httplib::Client> client_;
  std::mutex mu_;
  std::vector<ClickEvent> sunk_;
  bool fail_sink_ = false;
};

TEST_F(HttpApiTest, Recommendations) {
  auto res = client_->Get("/v1/recommendations?user_id=u1&k=2");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  // a is seen; its neighbours b (cooc 1), c (.5); d trending (0.1 × 4/4).
  EXPECT_EQ(res->body,
            R"({"request_id":"","user_id":"u1","model_version":0,"cold_start":false,"items":[)"
            R"({"item_id":"b","score":1,"sources":["cooc"]},)"
            R"({"item_id":"c","score":0.5,"sources":["cooc"]}]})");
}

TEST_F(HttpApiTest, UnknownUserGetsColdStartItems) {
  auto res = client_->Get("/v1/recommendations?user_id=stranger&k=3");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto decoded = DecodeRecResponse(res->body);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->response.cold_start);
  ASSERT_EQ(decoded->response.items.size(), 3u);
  EXPECT_EQ(decoded->response.items[0].item_id, "d");  // trending
  EXPECT_EQ(decoded->sources[0], std::vector<std::string>{"popular"});
  EXPECT_EQ(decoded->response.items[1].item_id, "a");  // fallback, by id
  EXPECT_EQ(decoded->sources[1], std::vector<std::string>{"fallback"});
}

TEST_F(HttpApiTest, BadRecommendationRequests) {
  struct Case {
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/v1/recommendations?k=3", "missing query parameter user_id"},
      {"/v1/recommendations?user_id=u1&k=0", "k must be positive, got 0"},
      {"/v1/recommendations?user_id=u1&k=-1", "k must be positive, got -1"},
      {"/v1/recommendations?user_id=u1&k=1000000", "k is 1000000, the limit is 100"},
      {"/v1/recommendations?user_id=u1&k=ten", "k must be an integer, got 'ten'"},
      {"/v1/recommendations?user_id=&k=1", "user_id is empty"},
  };
  for (const Case& c : cases) {
    auto res = client_->Get(c.path.c_str());
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, 400) << c.path;
    EXPECT_EQ(res->body, R"({"error":{"code":"invalid_argument","message":")" + c.message + "\"}}")
        << c.path;
  }
}

TEST_F(HttpApiTest, SimilarItems) {
  auto res = client_->Get("/v1/items/a/similar?k=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body,
            R"({"item_id":"a","model_version":0,"items":[{"item_id":"b","score":1,"sources":["cooc"]}]})");
  res = client_->Get("/v1/items/zzz/similar");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(res->body.find(R"("code":"not_found")"), std::string::npos) << res->body;
  res = client_->Get("/v1/items/a/similar?k=0");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST_F(HttpApiTest, PostOneEventAndABatch) {
  auto res = client_->Post(
      "/v1/events",
      R"({"user_id":"u9","item_id":"b","event":"click","ts":1732270000123,"session_id":"s1"})",
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->body, R"({"accepted":1})");
  res = client_->Post("/v1/events",
                      R"([{"user_id":"u9","item_id":"c","event":"view","ts":1732270000200},)"
                      R"( {"user_id":"u8","item_id":"d","event":"purchase","ts":1732270000300}])",
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->body, R"({"accepted":2})");
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(sunk_.size(), 3u);
  EXPECT_EQ(sunk_[0].user_id, "u9");
  EXPECT_EQ(sunk_[0].item_id, "b");
  EXPECT_EQ(sunk_[0].session_id, "s1");
  EXPECT_EQ(sunk_[0].ts_ms, 1732270000123);
  EXPECT_EQ(sunk_[2].event, EventType::kPurchase);
  EXPECT_EQ(sunk_[2].user_key, HashId("u8"));
}

TEST_F(HttpApiTest, BadEventsAre4xxAndNothingIsAccepted) {
  auto res = client_->Post("/v1/events", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":{"code":"invalid_argument","message":"body is not valid JSON"}})");

  res = client_->Post("/v1/events",
                      R"([{"user_id":"u1","item_id":"b","event":"click","ts":1732270000123},)"
                      R"({"user_id":"u1","item_id":"b","event":"teleport","ts":1732270000123}])",
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find(R"("message":"1 of 2 events rejected; none accepted")"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find(R"({"index":1,"reason":"unknown_event_type")"), std::string::npos)
      << res->body;

  res = client_->Post("/v1/events", "[]", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);

  // A year-2199 click would rewrite the user's history for good: refused with the reason.
  res = client_->Post("/v1/events", R"({"user_id":"u1","item_id":"b","event":"click","ts":7226582400000})",
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find(R"({"index":0,"reason":"bad_timestamp","detail":"ts 7226582400000 is )"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("the limit is operators.max_future_ms=86400000"), std::string::npos) << res->body;
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(sunk_.empty());
}

TEST_F(HttpApiTest, SinkFailureIs503) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fail_sink_ = true;
  }
  auto res = client_->Post("/v1/events",
                           R"({"user_id":"u1","item_id":"b","event":"click","ts":1732270000123})",
                           "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, R"({"error":{"code":"unavailable","message":"kafka down"}})");
}

TEST_F(HttpApiTest, OversizedBodyIs413) {
  HttpApiOptions options;
  options.max_body_bytes = 1024;
  StartApi(options);
  const std::string big(4096, ' ');
  auto res = client_->Post("/v1/events", big, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(res->body,
            R"({"error":{"code":"invalid_argument","message":"request body over the limit of 1024 bytes"}})");
  // Far over the limit: refused before a byte of the body is read.
  const std::string huge(64 * 1024, ' ');
  res = client_->Post("/v1/events", huge, "application/json");
  if (res) {  // the client may meet the closed socket before it reads the answer
    EXPECT_EQ(res->status, 413);
    EXPECT_EQ(res->body,
              R"({"error":{"code":"invalid_argument","message":"request body of 65536 bytes is over the limit of 1024 bytes"}})");
  }
  res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpApiTest, HealthReadinessMetricsAndUnknownRoutes) {
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body,
            R"({"ready":true,"tables_loaded":true,"models_loaded":true,"windows_loaded":true,"model_version":0,)"
            R"("fallback_available":true,)"
            R"("kafka_reachable":true})");
  // A broker outage is reported, not unready: the stage keeps answering.
  service_->SetKafkaReachable(false);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find(R"("kafka_reachable":false)"), std::string::npos) << res->body;
  service_->SetKafkaReachable(true);
  service_->SetTablesLoaded(false);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find(R"("reason":"the global tables)"), std::string::npos) << res->body;
  service_->SetTablesLoaded(true);
  // Each input the operator waits for keeps it unready until read to its end offsets.
  service_->SetModelsLoaded(false);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find(R"("models_loaded":false)"), std::string::npos) << res->body;
  service_->SetModelsLoaded(true);
  service_->SetWindowsLoaded(false);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find(R"("reason":"the clicks partitions)"), std::string::npos) << res->body;
  service_->SetWindowsLoaded(true);
  service_->SetTablesLoaded(false);

  ASSERT_TRUE(client_->Get("/v1/recommendations?user_id=u1"));
  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("streamrec_serving_request_seconds_count{path=\"/v1/recommendations\"}"),
            std::string::npos);
  EXPECT_NE(res->body.find("streamrec_recall_candidates_total{channel=\"cooc\"}"),
            std::string::npos);

  res = client_->Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, R"({"error":{"code":"not_found","message":"no route for GET /nope"}})");
}

// Opens a TCP connection to the API and sends nothing: it occupies a worker.
int ConnectIdle(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` on a fresh connection and reads the answer until the server closes it
// or 5 s pass without a byte.
std::string Exchange(int port, const std::string& request) {
  const int fd = ConnectIdle(port);
  if (fd < 0) return "(connect failed)";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return got;
}

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

TEST_F(HttpApiTest, ChunkedEventsWithinTheLimitAreAccepted) {
  const std::string event = R"({"user_id":"u9","item_id":"b","event":"click","ts":1732270000123})";
  const std::string request =
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      Chunk(event.substr(0, 20)) + Chunk(event.substr(20)) + "0\r\n\r\n";
  const std::string got = Exchange(api_->port(), request);
  EXPECT_EQ(got.rfind("HTTP/1.1 202", 0), 0u) << got;
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(sunk_.size(), 1u);
  EXPECT_EQ(sunk_[0].user_id, "u9");
}

// httplib 0.11 applies its payload limit to a Content-Length only; a chunked body used to
// be read whole (one client took a server from 0.6 to 7.9 GB).
// streamrec_serving_responses_total{path="/v1/events",code="413"} (the registry is shared
// by every test of the process).
double Events413(httplib::Client* client) {
  auto res = client->Get("/metrics");
  if (!res) return -1;
  const std::string series = R"(streamrec_serving_responses_total{code="413",path="/v1/events"} )";
  const size_t at = res->body.find(series);
  return at == std::string::npos ? -1 : std::stod(res->body.substr(at + series.size()));
}

TEST_F(HttpApiTest, AnEndlessChunkedBodyIsCutAtTheLimitAnd413) {
  const double before = Events413(client_.get());
  HttpApiOptions options;
  options.max_body_bytes = 64 * 1024;
  StartApi(options);
  const int fd = ConnectIdle(api_->port());
  ASSERT_GE(fd, 0);
  const std::string head =
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  // Up to 256 MiB, 64 KiB a chunk; a server that reads it all would take it all.
  const std::string chunk = Chunk(std::string(64 * 1024, ' '));
  constexpr size_t kMaxSent = size_t{256} << 20;
  size_t sent = 0;
  timeval send_timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  while (sent < kMaxSent) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed the connection (or stopped reading)
    sent += static_cast<size_t>(n);
  }
  EXPECT_LT(sent, kMaxSent) << "the server read the whole endless body";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  // The answer may be lost to the reset of a connection with unread data in flight; when
  // it arrives, it is the 413.
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got.substr(0, 200);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(sunk_.empty());
  }
  // The 413 is counted, and the server goes on answering.
  EXPECT_EQ(Events413(client_.get()), before + 1);
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpApiTest, BodiesHttplibWouldReadUnboundedAreRefusedUnread) {
  // Chunked anywhere but POST /v1/events: 411, answered before the (endless) body.
  std::string got = Exchange(api_->port(),
                             "POST /v1/nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                 Chunk("data"));
  EXPECT_EQ(got.rfind("HTTP/1.1 411", 0), 0u) << got;
  EXPECT_NE(got.find("a chunked body is not accepted on POST /v1/nope"), std::string::npos) << got;
  // A POST with no framing at all would be read until the client closes.
  got = Exchange(api_->port(), "POST /v1/events HTTP/1.1\r\nHost: x\r\n\r\n{\"user_id\":");
  EXPECT_EQ(got.rfind("HTTP/1.1 411", 0), 0u) << got;
  // A declared length over the limit is refused without reading (or discarding) the body.
  got = Exchange(api_->port(),
                 "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  got = Exchange(api_->port(), "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  got = Exchange(api_->port(),
                 "POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 501", 0), 0u) << got;
  // Each refusal closes its connection (read above until the server closed it), and the
  // server still answers.
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpApiTest, ABearerTokenGuardsTheApiButNotProbesOrThePage) {
  HttpApiOptions options;
  options.bearer_token = "s3cret-token";
  StartApi(options);
  auto res = client_->Get("/v1/recommendations?user_id=u1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer realm=\"streamrec\"");
  EXPECT_EQ(res->body,
            R"({"error":{"code":"unauthenticated","message":"this API needs 'Authorization: Bearer <token>'"}})");
  for (const char* wrong : {"Bearer s3cret-tokeN", "Bearer s3cret-token2", "Basic s3cret-token",
                            "s3cret-token", "Bearer "}) {
    httplib::Client c("127.0.0.1", api_->port());
    res = c.Get("/v1/recommendations?user_id=u1", {{"Authorization", wrong}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << wrong;
  }
  // An unauthenticated POST is refused before its body is read.
  httplib::Client poster("127.0.0.1", api_->port());
  res = poster.Post("/v1/events", R"({"user_id":"u1","item_id":"b","event":"click","ts":1})",
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(sunk_.empty());
  }
  httplib::Client authorized("127.0.0.1", api_->port());
  authorized.set_bearer_token_auth("s3cret-token");
  res = authorized.Get("/v1/recommendations?user_id=u1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  res = authorized.Get("/v1/stats");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  for (const char* open : {"/healthz", "/readyz", "/metrics", "/"}) {
    httplib::Client c("127.0.0.1", api_->port());
    res = c.Get(open);
    ASSERT_TRUE(res) << open;
    EXPECT_NE(res->status, 401) << open;
  }
}

TEST_F(HttpApiTest, OverloadIs503AndRecovers) {
  HttpApiOptions options;
  options.threads = 1;
  options.max_queued_connections = 0;
  StartApi(options);
  const int idle = ConnectIdle(api_->port());
  ASSERT_GE(idle, 0);
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Connection"), "close");
  EXPECT_EQ(res->body,
            R"({"error":{"code":"unavailable","message":"overloaded: every worker is busy, retry later"}})");
  // A client that ignores "Connection: close" is disconnected after the 503 anyway, so it
  // can't hold the overload thread.
  {
    const int raw = ConnectIdle(api_->port());
    ASSERT_GE(raw, 0);
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(raw, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    std::string got;
    char buf[4096];
    ssize_t n = 0;
    // Read until the peer closes (bounded by the socket's own timeout).
    timeval tv{5, 0};
    ::setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((n = ::recv(raw, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
    EXPECT_EQ(n, 0) << "expected the server to close the connection";
    EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
    ::close(raw);
  }
  ::close(idle);
  // The worker frees up once the idle connection closes.
  int status = 0;
  for (int i = 0; i < 500 && status != 200; ++i) {
    httplib::Client fresh("127.0.0.1", api_->port());
    auto r = fresh.Get("/healthz");
    status = r ? r->status : 0;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
  // The overloaded connection was closed, so the first client is served again too (once
  // the worker has seen the previous probe's connection close).
  status = 0;
  for (int i = 0; i < 500 && status != 200; ++i) {
    auto r = client_->Get("/healthz");
    status = r ? r->status : 0;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
}


TEST_F(HttpApiTest, BusyPortFailsAtStartNamingTheAddress) {
  HttpApiOptions options;
  options.port = api_->port();  // taken by the API SetUp() started
  HttpApi second(options, service_.get(), {});
  const Status st = second.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(api_->port())), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("already in use"), std::string::npos) << st.ToString();
  // The first server still answers every request (no port sharing).
  for (int i = 0; i < 10; ++i) {
    auto res = client_->Get("/healthz");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
}


TEST_F(HttpApiTest, StorefrontPageAndItsFilesWithTheirTypes) {
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_NE(page->body.find("<script src=\"/storefront/app.js\""), std::string::npos);
  EXPECT_EQ(page->body, streamrec::testing::ReadFile(std::string(STREAMREC_SOURCE_DIR) +
                                          "/serving/storefront/index.html"));

  auto js = client_->Get("/storefront/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->body,
            streamrec::testing::ReadFile(std::string(STREAMREC_SOURCE_DIR) + "/serving/storefront/app.js"));
  auto css = client_->Get("/storefront/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");

  // Unknown static paths stay 404 (JSON, as every unknown route); nothing is read from disk.
  for (const char* path : {"/storefront/nope.js", "/storefront/", "/storefront/../CMakeLists.txt",
                           "/storefront/%2e%2e%2fCMakeLists.txt", "/index.html", "/app.js"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
    EXPECT_NE(res->body.find("\"not_found\""), std::string::npos) << path << " " << res->body;
  }
  auto post = client_->Post("/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HttpApiTest, ItemsLookupReturnsCatalogueEntriesInOrder) {
  CatalogItem shirt;
  shirt.item_id = "shirt";
  shirt.item_key = HashId("shirt");
  shirt.category = "tops";
  shirt.brand = "acme";
  shirt.title = "<b>Blue</b> shirt & \"tie\"";
  service_->catalog().Put(shirt);
  auto res = client_->Get("/v1/items?id=shirt&id=nothing&id=a");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body,
            R"({"items":[{"item_id":"shirt","category":"tops","brand":"acme","available":true,)"
            R"("title":"<b>Blue</b> shirt & \"tie\""},)"
            R"({"item_id":"a","category":"","brand":"","available":true}],"unknown":["nothing"]})");

  auto none = client_->Get("/v1/items");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 400);
  EXPECT_EQ(none->body,
            R"({"error":{"code":"invalid_argument","message":"missing query parameter id"}})");
  // Distinct ids: httplib drops a repeated identical key=value pair.
  std::string many = "/v1/items?id=a";
  for (int i = 0; i < 1000; ++i) many += "&id=x" + std::to_string(i);
  auto too_many = client_->Get(many.c_str());
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 400);
  EXPECT_NE(too_many->body.find("at most 1000 ids"), std::string::npos) << too_many->body;
}

TEST_F(HttpApiTest, RecentUsersNewestFirst) {
  auto empty = client_->Get("/v1/users/recent");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200);
  EXPECT_EQ(empty->body, R"({"users":[]})");
  for (const char* u : {"u1", "u2", "u3", "u1"}) service_->recent_users().Add(u);
  auto res = client_->Get("/v1/users/recent?limit=2");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"users":["u1","u3"]})");
  for (const char* bad : {"0", "-2", "x", ""}) {
    auto r = client_->Get((std::string("/v1/users/recent?limit=") + bad).c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
}

TEST_F(HttpApiTest, StatsReadTheRegistry) {
  // Requests in between, so the second reading has a rate and a p99 to report.
  ASSERT_TRUE(client_->Get("/v1/recommendations?user_id=u1&k=2"));
  // Readings are in milliseconds: make sure this one is later than the one at Start().
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto res = client_->Get("/v1/stats");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(res->body).get(doc), simdjson::SUCCESS) << res->body;
  for (const char* key : {"time_ms", "window_s", "events_per_s", "requests_per_s", "p99_ms",
                          "freshness_p99_ms", "model_version", "model_age_s", "consumer_lag"}) {
    EXPECT_EQ(doc[key].error(), simdjson::SUCCESS) << key << " missing in " << res->body;
  }
  // The registry is process-wide (other tests of this binary add to it): only what this
  // test caused is asserted: a recommendation request was timed since the API started.
  double requests_per_s = 0;
  ASSERT_EQ(doc["requests_per_s"].get(requests_per_s), simdjson::SUCCESS) << res->body;
  EXPECT_GT(requests_per_s, 0) << res->body;
  double p99 = 0;
  ASSERT_EQ(doc["p99_ms"].get(p99), simdjson::SUCCESS) << res->body;
  EXPECT_GT(p99, 0);
}

}  // namespace
}  // namespace streamrec::serving

namespace streamrec::serving {
namespace {

// Routing (serving/README.md "Routing"): two replicas in one process. The test's own
// fixture service (`u1` has a history) is replica "owner"; "front" has an empty service
// and forwards every user of the partitions "owner" announced.
class HttpRoutingTest : public HttpApiTest {
 protected:
  void SetUp() override {
    HttpApiTest::SetUp();
    owner_members_.SetSelf("owner");
    HttpApiOptions owner_options;
    owner_options.members = &owner_members_;
    StartApi(owner_options);
    front_service_ = std::make_unique<RecommendationService>(RecommendationServiceOptions());
    front_service_->Publish();
    front_members_.SetSelf("front");
    HttpApiOptions front_options;
    front_options.members = &front_members_;
    front_options.forward_timeout_ms = 500;
    front_ = std::make_unique<HttpApi>(front_options, front_service_.get(), EventSink());
    ASSERT_TRUE(front_->Start().ok());
    front_client_ = std::make_unique<httplib::Client>("127.0.0.1", front_->port());
    front_client_->set_read_timeout(10);
    owner_partition_ = PartitionForKey("u1", 4);
  }
  void TearDown() override {
    front_client_.reset();
    if (front_ != nullptr) front_->Stop();
    HttpApiTest::TearDown();
  }
  // Both replicas learn that `owner_id` at `address` owns u1's partition.
  void Announce(const std::string& owner_id, const std::string& address) {
    ServingMember m;
    m.replica_id = owner_id;
    m.http_address = address;
    m.partitions = {owner_partition_};
    m.partition_count = 4;
    m.windows_loaded = true;
    m.announced_ms = ++announced_ms_;
    for (ServingMembers* members : {&owner_members_, &front_members_}) {
      ASSERT_TRUE(members->Apply(owner_id, EncodeServingMember(m)).ok());
    }
  }

  ServingMembers owner_members_, front_members_;
  std::unique_ptr<RecommendationService> front_service_;
  std::unique_ptr<HttpApi> front_;
  std::unique_ptr<httplib::Client> front_client_;
  int32_t owner_partition_ = 0;
  int64_t announced_ms_ = 0;
};

TEST_F(HttpRoutingTest, ARequestIsForwardedToTheOwnerAndAnsweredWithItsHistory) {
  // No owner known yet: answered where it arrives (the front has no history: cold start).
  auto res = front_client_->Get("/v1/recommendations?user_id=u1&k=5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value(kRouteHeader), "unowned");
  EXPECT_NE(res->body.find("\"cold_start\":true"), std::string::npos) << res->body;

  Announce("owner", "127.0.0.1:" + std::to_string(api_->port()));
  res = front_client_->Get("/v1/recommendations?user_id=u1&k=5", {{"X-Request-Id", "r-7"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value(kRouteHeader), "forwarded");
  EXPECT_EQ(res->get_header_value(kServedByHeader), "owner");
  EXPECT_NE(res->body.find("\"cold_start\":false"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("\"request_id\":\"r-7\""), std::string::npos) << res->body;
  EXPECT_EQ(res->body.find("\"item_id\":\"a\""), std::string::npos) << "a seen item: " << res->body;
  // The owner's own answer is the same.
  auto direct = client_->Get("/v1/recommendations?user_id=u1&k=5", {{"X-Request-Id", "r-7"}});
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->get_header_value(kRouteHeader), "local");
  EXPECT_EQ(direct->body, res->body);
}

TEST_F(HttpRoutingTest, AForwardedRequestIsAnsweredWhereItArrives) {
  // The front believes the owner is "front" itself while the owner believes it is the
  // front: without the forwarded mark they would bounce the request between them.
  ServingMember m;
  m.replica_id = "front";
  m.http_address = "127.0.0.1:" + std::to_string(front_->port());
  m.partitions = {owner_partition_};
  m.partition_count = 4;
  m.announced_ms = 1;
  ASSERT_TRUE(owner_members_.Apply("front", EncodeServingMember(m)).ok());
  auto res = client_->Get("/v1/recommendations?user_id=u1&k=5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value(kRouteHeader), "forwarded");
  EXPECT_EQ(res->get_header_value(kServedByHeader), "front");  // answered there, not sent back
  auto marked = client_->Get("/v1/recommendations?user_id=u1&k=5", {{kForwardedByHeader, "x"}});
  ASSERT_TRUE(marked);
  EXPECT_EQ(marked->get_header_value(kRouteHeader), "owner");
  EXPECT_EQ(marked->get_header_value(kServedByHeader), "owner");
}

TEST_F(HttpRoutingTest, AnUnreachableOwnerIsAFallbackAnsweredLocallyAndCounted) {
  // A port nothing listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int dead_port = ntohs(addr.sin_port);
  ::close(fd);
  Announce("gone", "127.0.0.1:" + std::to_string(dead_port));
  auto metrics_before = front_client_->Get("/metrics");
  ASSERT_TRUE(metrics_before);
  auto res = front_client_->Get("/v1/recommendations?user_id=u1&k=5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value(kRouteHeader), "fallback");
  EXPECT_EQ(res->get_header_value(kServedByHeader), "front");
  auto metrics = front_client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  auto fallbacks = [](const std::string& text) {
    const std::string key = "streamrec_serving_routes_total{route=\"fallback\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
  };
  EXPECT_EQ(fallbacks(metrics->body), fallbacks(metrics_before->body) + 1) << metrics->body;
}

}  // namespace
}  // namespace streamrec::serving
