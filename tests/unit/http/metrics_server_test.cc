#include "http/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/metrics.h"

namespace streamrec::http {
namespace {

std::unique_ptr<MetricsServer> StartOrDie(MetricsServerOptions options = {}) {
  if (options.bind_address.empty()) options.bind_address = "127.0.0.1:0";
  auto server = MetricsServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// A raw loopback connection (-1 on failure), with a receive timeout so a test never hangs.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close on us: that is an answer too
    sent += static_cast<size_t>(n);
  }
}

// What the server answers before closing (or until the 5 s receive timeout).
std::string ReadSome(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.find("\r\n\r\n") != std::string::npos) break;
  }
  return out;
}

void ExpectMetricsAnswer(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << "no answer from /metrics";
  EXPECT_EQ(res->status, 200);
}

TEST(MetricsServerTest, ServesMetricsHealthAndReadiness) {
  auto& family = prometheus::BuildCounter()
                     .Name("streamrec_test_metrics_server_total")
                     .Help("counted by the metrics server test")
                     .Register(*MetricsRegistry());
  family.Add({}).Increment(2);
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  httplib::Client client("127.0.0.1", server->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("streamrec_test_metrics_server_total 2"), std::string::npos);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST(MetricsServerTest, ReadinessCallbackDecides) {
  bool is_ready = false;
  MetricsServerOptions options;
  options.ready = [&is_ready] {
    return is_ready ? Status::Ok() : Status::Unavailable("tables loading \"x\"");
  };
  auto server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, R"({"status":"not_ready","reason":"tables loading \"x\""})");
  is_ready = true;
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// A stage's --health endpoint: the probes with the same readiness, and no /metrics.
TEST(MetricsServerTest, ProbeOnlyServerAnswersProbesAndNoMetrics) {
  std::atomic<bool> is_ready{false};
  MetricsServerOptions options;
  options.serve_metrics = false;
  options.ready = [&is_ready] {
    return is_ready.load() ? Status::Ok() : Status::Unavailable("catching up");
  };
  auto server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 404);
  EXPECT_EQ(metrics->body.find("# HELP"), std::string::npos);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("catching up"), std::string::npos);
  is_ready = true;
  ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST(MetricsServerTest, AnyOtherPathIsA404NotACrash) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/", "/favicon.ico", "/metrics/x", "/%00", "/../../etc/passwd"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_NE(res->body.find("not_found"), std::string::npos) << path;
  }
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_GE(post->status, 400);
  ExpectMetricsAnswer(server->port());
}

TEST(MetricsServerTest, BusyPortFailsNamingTheAddress) {
  auto first = StartOrDie();
  ASSERT_NE(first, nullptr);
  auto second = StartMetricsServer("127.0.0.1:" + std::to_string(first->port()), nullptr);
  ASSERT_FALSE(second.ok());
  const std::string message = second.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(first->port())), std::string::npos)
      << message;
  EXPECT_NE(message.find("already in use"), std::string::npos) << message;
  EXPECT_FALSE(StartMetricsServer("256.1.1.1:notaport", nullptr).ok());
}

TEST(MetricsServerTest, SurvivesMalformedHugeSlowAndIdleClients) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  // Malformed request lines and headers: each gets an error answer or a closed socket.
  for (const std::string& junk :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("GET /metrics HTTP/9.9\r\n\r\n"), std::string("\x00\xff\xfe\r\n\r\n", 7),
        std::string("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        std::string("GET /metrics HTTP/1.1\r\nX: ") + std::string(200000, 'a') + "\r\n\r\n"}) {
    const int fd = Connect(port);
    ASSERT_GE(fd, 0);
    SendAll(fd, junk);
    (void)ReadSome(fd);
    ::close(fd);
  }
  ExpectMetricsAnswer(port);

  // Slowloris: half a request, then silence; the read timeout frees the worker.
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    const int fd = Connect(port);
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(fd);
  }

  // Many idle connections at once (2,000 where the file-descriptor limit allows).
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 5000 && lim.rlim_max >= 5000) {
    lim.rlim_cur = 5000;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  const int idle_target = static_cast<int>(std::min<rlim_t>(2000, (lim.rlim_cur - 100) / 2));
  std::vector<int> idle;
  for (int i = 0; i < idle_target; ++i) {
    const int fd = Connect(port);
    if (fd < 0) break;
    idle.push_back(fd);
  }
  EXPECT_GE(static_cast<int>(idle.size()), std::min(idle_target, 500));
  for (int fd : idle) ::close(fd);
  for (int fd : slow) ::close(fd);

  // The process is alive (we are in it) and the endpoint still answers.
  ExpectMetricsAnswer(port);
}

// No route here takes a body; httplib 0.11 would still read a chunked one whole, or one
// without Content-Length until the client closes, before answering 404.
TEST(MetricsServerTest, BodiesAreRefusedBeforeTheyAreRead) {
  auto server = StartOrDie();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  int fd = Connect(port);
  ASSERT_GE(fd, 0);
  SendAll(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  // Send chunks until the server answers or 64 MiB went by.
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  size_t sent = 0;
  timeval send_timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  while (sent < (size_t{64} << 20)) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  EXPECT_LT(sent, size_t{64} << 20) << "the server read an endless chunked body";
  ::close(fd);

  fd = Connect(port);
  ASSERT_GE(fd, 0);
  SendAll(fd, "PUT /x HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = ReadSome(fd);
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 411", 0), 0u) << answer;
  ExpectMetricsAnswer(port);
}

}  // namespace
}  // namespace streamrec::http
