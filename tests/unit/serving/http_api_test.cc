#include "serving/http_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/id_hash.h"
#include "serving/recommendation_service.h"

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
  EXPECT_EQ(res->body, R"({"error":{"code":"invalid_argument","message":"request body too large"}})");
}

TEST_F(HttpApiTest, HealthReadinessMetricsAndUnknownRoutes) {
  auto res = client_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body,
            R"({"ready":true,"tables_loaded":true,"model_version":0,"fallback_available":true})");
  service_->SetTablesLoaded(false);
  res = client_->Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);

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

}  // namespace
}  // namespace streamrec::serving
