#pragma once

// A cluster of `streamrec` processes on loopback for the routing tests (issue 10 items 2,
// 3): `streamrec broker` (the embedded broker, in its own process), one user and one item
// stage, and serving replicas, each a `streamrec stage serving` process with its own HTTP
// port. Used from the test's thread only; every process is killed and every directory
// removed on destruction.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "serving/http_api.h"
#include "serving/rec_json.h"
#include "streams/click_event.h"
#include "streams/kafka_producer.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"

namespace streamrec::testing {

inline constexpr int kRoutingPartitions = 4;

// One answer of GET /v1/recommendations.
struct Answer {
  int status = 0;  // 0: no HTTP answer (transport error)
  std::string body;
  std::string served_by;
  std::string route;
  bool cold_start = false;
  std::vector<std::string> items;
};

inline Answer GetRecommendations(const std::string& address, const std::string& user, bool force_local = false,
                                 int timeout_ms = 5000) {
  httplib::Client client("http://" + address);
  client.set_connection_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client.set_read_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  httplib::Headers headers;
  // The forwarded mark makes a replica answer itself: the owner's own answer.
  if (force_local) headers.emplace(serving::kForwardedByHeader, "test");
  Answer a;
  auto res = client.Get("/v1/recommendations?user_id=" + user + "&k=10", headers);
  if (!res) return a;
  a.status = res->status;
  a.body = res->body;
  a.served_by = res->get_header_value(serving::kServedByHeader);
  a.route = res->get_header_value(serving::kRouteHeader);
  if (a.status == 200) {
    auto decoded = serving::DecodeRecResponse(a.body);
    if (decoded.ok()) {
      a.cold_start = decoded->response.cold_start;
      for (const auto& item : decoded->response.items) a.items.push_back(item.item_id);
    }
  }
  return a;
}

inline int HttpStatus(const std::string& address, const std::string& path) {
  httplib::Client client("http://" + address);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path);
  return res ? res->status : 0;
}

class RoutingCluster {
 public:
  // The clicks: users in 10 taste clusters of 15 items; each user clicks 6 items of its
  // cluster (fewer than the window holds, so every click stays in the seen filter).
  static std::map<std::string, std::set<std::string>> History(int users) {
    std::map<std::string, std::set<std::string>> h;
    for (int u = 0; u < users; ++u) {
      const int cluster = u % 10;
      for (int j = 0; j < 6; ++j) {
        h["user-" + std::to_string(u)].insert("item-" + std::to_string(cluster * 15 + (u * 7 + j * 2) % 15));
      }
    }
    return h;
  }

  RoutingCluster() = default;
  ~RoutingCluster() {
    if (::testing::Test::HasFailure()) PrintLogs();
    serving_.clear();
    stages_.clear();
    broker_.reset();
  }

  const std::string& brokers() const { return brokers_; }
  const ScratchDir& dir() const { return dir_; }

  // The broker, the user and item stages (changelog on), and the clicks of History(users)
  // stamped now. Fatal failures end the calling test.
  void StartBrokerAndStages(int users) {
    const std::string bootstrap = dir_.File("bootstrap");
    broker_ = std::make_unique<Subprocess>(
        std::vector<std::string>{STREAMREC_BINARY, "broker", "--partitions", std::to_string(kRoutingPartitions),
                                 "--bootstrap-file", bootstrap},
        dir_.File("broker.out"), dir_.File("broker.err"));
    for (int i = 0; i < 300 && brokers_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::string text = ReadFile(bootstrap);
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      brokers_ = text;
    }
    ASSERT_FALSE(brokers_.empty()) << "streamrec broker did not write " << bootstrap << ": " << broker_->err();
    for (const char* stage : {"user", "item"}) StartStage(stage, stage);
    ProducerOptions po;
    po.brokers = brokers_;
    auto producer = KafkaProducer::Create(po);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    int64_t ts = now - 60'000;
    for (const auto& [user, items] : History(users)) {
      for (const std::string& item : items) {
        ClickEvent e;
        e.user_id = user;
        e.item_id = item;
        e.ts_ms = ts++;
        ASSERT_TRUE((*producer)->Produce(TopicNames().clicks, user, EncodeClickEvent(e)).ok());
      }
    }
    ASSERT_TRUE((*producer)->Flush(30000).ok());
  }

  // Starts a user or item stage process named `name` (its own log; the stage's state in
  // <dir>/state, shared by the replicas of one stage as on one host).
  void StartStage(const std::string& name, const std::string& stage) {
    std::vector<std::string> args = CommonArgs();
    args.insert(args.end(), {"--set", "changelog.enabled=true", "stage", stage, "--brokers", brokers_, "--state-dir",
                             dir_.File("state"), "--metrics", "off", "--group", "routing-" + stage});
    stages_[name] = std::make_unique<Subprocess>(args, dir_.File(name + ".out"), dir_.File(name + ".err"));
  }
  Subprocess* stage(const std::string& name) { return stages_.count(name) ? stages_[name].get() : nullptr; }
  void StopStage(const std::string& name, int sig) {
    auto it = stages_.find(name);
    if (it == stages_.end()) return;
    it->second->Signal(sig);
    it->second->Wait(std::chrono::seconds(30));
    finished_logs_.push_back(name);
  }

  // Starts serving replica `name` on a free port; returns its HTTP address ("" on failure).
  std::string StartServing(const std::string& name) {
    std::vector<std::string> args = CommonArgs();
    args.insert(args.end(), {"--set", "serving.windows_lookback_hours=24", "--set", "serving.members_announce_interval_ms=2000",
                             "stage", "serving", "--brokers", brokers_, "--state-dir", dir_.File("serving-" + name),
                             "--metrics", "off", "--group", "routing-serving", "--http", "127.0.0.1:0"});
    auto p = std::make_unique<Subprocess>(args, dir_.File(name + ".out"), dir_.File(name + ".err"));
    const std::regex line("HTTP API on http://([0-9.]+:[0-9]+)");
    std::string address;
    for (int i = 0; i < 600 && address.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::smatch m;
      const std::string out = p->out();
      if (std::regex_search(out, m, line)) address = m[1];
      if (p->Wait(std::chrono::milliseconds(0)) >= 0) break;
    }
    serving_[name] = std::move(p);
    addresses_[name] = address;
    return address;
  }
  // SIGTERM (a clean leave); the exit code.
  int StopServing(const std::string& name) {
    auto it = serving_.find(name);
    if (it == serving_.end()) return -1;
    it->second->Signal(SIGTERM);
    const int code = it->second->Wait(std::chrono::seconds(60));
    finished_logs_.push_back(name);
    return code;
  }
  const std::string& address(const std::string& name) { return addresses_[name]; }

  // Waits (bounded) until /readyz of every named replica answers 200.
  bool WaitReady(const std::vector<std::string>& names, std::chrono::seconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (const auto& n : names) all = all && HttpStatus(addresses_[n], "/readyz") == 200;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return false;
  }

  // Who owns each clicks partition, from the replicas' own logs ("[serving] assigned
  // clicks:P", "revoked"/"lost"): independent of the membership topic. Partitions owned by
  // two replicas at once, or by none, are left out.
  std::map<int32_t, std::string> OwnersFromLogs(const std::vector<std::string>& names) {
    std::map<int32_t, std::set<std::string>> claims;
    const std::regex event(R"(\[serving\] (assigned|revoked|lost) )" + TopicNames().clicks + R"(:([0-9]+))");
    for (const auto& n : names) {
      auto it = serving_.find(n);
      if (it == serving_.end()) continue;
      const std::string log = it->second->out() + it->second->err();
      std::set<int32_t> owned;
      for (auto m = std::sregex_iterator(log.begin(), log.end(), event); m != std::sregex_iterator(); ++m) {
        const int32_t p = std::stoi((*m)[2]);
        if ((*m)[1] == "assigned") {
          owned.insert(p);
        } else {
          owned.erase(p);
        }
      }
      for (int32_t p : owned) claims[p].insert(addresses_[n]);
    }
    std::map<int32_t, std::string> owners;
    for (const auto& [p, who] : claims) {
      if (who.size() == 1) owners[p] = *who.begin();
    }
    return owners;
  }

  void PrintLogs() {
    std::vector<std::string> names = finished_logs_;
    for (const auto& [n, p] : serving_) names.push_back(n);
    for (const auto& [n, p] : stages_) names.push_back(n);
    for (const auto& n : names) {
      for (const char* ext : {".out", ".err"}) {
        const std::string text = ReadFile(dir_.File(n + ext));
        const size_t from = text.size() > 4000 ? text.size() - 4000 : 0;
        std::printf("---- %s%s (tail)\n%s\n", n.c_str(), ext, text.substr(from).c_str());
      }
    }
  }

 private:
  std::vector<std::string> CommonArgs() const {
    return {STREAMREC_BINARY,
            "--log-level=info",
            "--set", "kafka.session.timeout.ms=6000",
            "--set", "kafka.heartbeat.interval.ms=500",
            "--set", "operators.item_partitions=" + std::to_string(kRoutingPartitions),
            "--set", "operators.window.size=20",
            "--set", "operators.flush_interval_ms=200"};
  }

  ScratchDir dir_;
  std::string brokers_;
  std::unique_ptr<Subprocess> broker_;
  std::map<std::string, std::unique_ptr<Subprocess>> stages_;
  std::map<std::string, std::unique_ptr<Subprocess>> serving_;
  std::map<std::string, std::string> addresses_;
  std::vector<std::string> finished_logs_;
};

}  // namespace streamrec::testing
