// The dashboard proven against a real Prometheus: Debian's `prometheus` server, with a
// temporary config and storage, listening on loopback, scrapes `streamrec run --metrics`
// every second; every target expression of every panel of
// helm/streamrec/dashboards/streamrec.json must return data through /api/v1/query on a
// clean run (no injected bad events), and `promtool check metrics` must find nothing
// wrong with our /metrics. Both processes are killed on every exit path (Subprocess's
// destructor: SIGKILL to the process group, then waitpid). Waits are bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

// A loopback port nobody listens on now (bound and released; Prometheus cannot be told
// to pick one and report it).
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

struct PanelQuery {
  std::string panel;
  std::string ref;
  std::string expr;
};

// Every target expression of every panel (rows' nested panels included).
void CollectQueries(simdjson::dom::array panels, std::vector<PanelQuery>* out) {
  for (simdjson::dom::element panel : panels) {
    std::string_view title = "(untitled)";
    if (panel["title"].get(title)) title = "(untitled)";
    simdjson::dom::array targets;
    if (!panel["targets"].get(targets)) {
      for (simdjson::dom::element t : targets) {
        std::string_view expr, ref = "?";
        if (t["expr"].get(expr)) continue;
        if (t["refId"].get(ref)) ref = "?";
        out->push_back({std::string(title), std::string(ref), std::string(expr)});
      }
    }
    simdjson::dom::array nested;
    if (!panel["panels"].get(nested)) CollectQueries(nested, out);
  }
}

// What an instant query returned: "" when it has data (at least one sample whose value
// is a number), else why not.
std::string QueryProblem(httplib::Client& prom, const std::string& expr) {
  auto res = prom.Get("/api/v1/query", httplib::Params{{"query", expr}}, httplib::Headers{});
  if (!res) return "no answer from Prometheus";
  if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(res->body).get(doc)) return "unparseable answer: " + res->body;
  std::string_view status;
  if (doc["status"].get(status) || status != "success") return "failed: " + res->body;
  simdjson::dom::array result;
  if (doc["data"]["result"].get(result)) return "no result vector: " + res->body;
  if (result.size() == 0) return "no data";
  for (simdjson::dom::element series : result) {
    simdjson::dom::array value;
    std::string_view v;
    if (series["value"].get(value) || value.size() != 2 || value.at(1).get(v)) continue;
    if (v != "NaN" && v != "+Inf" && v != "-Inf") return "";
  }
  return "only NaN/Inf: " + res->body.substr(0, 500);
}

TEST(PrometheusE2e, EveryDashboardExpressionHasDataOnACleanRun) {
  if (::access(kPrometheus, X_OK) != 0 || ::access(kPromtool, X_OK) != 0) {
    GTEST_SKIP() << "Debian's prometheus/promtool are not installed (" << kPrometheus << ", "
                 << kPromtool << ")";
  }
  testing::ScratchDir dir;
  const std::string dashboard_text = testing::ReadFile(
      std::string(STREAMREC_SOURCE_DIR) + "/helm/streamrec/dashboards/streamrec.json");
  simdjson::dom::parser dashboard_parser;
  simdjson::dom::element dashboard;
  ASSERT_FALSE(dashboard_parser.parse(dashboard_text).get(dashboard)) << "dashboard is not JSON";
  simdjson::dom::array panels;
  ASSERT_FALSE(dashboard["panels"].get(panels));
  std::vector<PanelQuery> queries;
  CollectQueries(panels, &queries);
  ASSERT_GE(queries.size(), 15u);

  // A clean run: synthetic clicks only, snapshots every 3 s so a model is served soon.
  testing::Subprocess run({STREAMREC_BINARY, "run", "--http", "127.0.0.1:0", "--metrics",
                           "127.0.0.1:0", "--rate", "500", "--partitions", "2", "--quiet",
                           "--state-dir", dir.File("state"), "--set",
                           "trainer.snapshot_every_seconds=3"},
                          dir.File("run.out"), dir.File("run.err"));
  const std::regex metrics_line(R"(metrics:\s+http://127\.0\.0\.1:([0-9]+)/metrics)");
  const std::regex http_line(R"(HTTP API:\s+http://127\.0\.0\.1:([0-9]+))");
  int metrics_port = 0, http_port = 0;
  for (auto deadline = Clock::now() + seconds(90); Clock::now() < deadline && http_port == 0;) {
    const std::string out = run.out();
    std::smatch m, h;
    if (std::regex_search(out, m, metrics_line) && std::regex_search(out, h, http_line)) {
      metrics_port = std::stoi(m[1]);
      http_port = std::stoi(h[1]);
    } else if (run.Wait(milliseconds(100)) >= 0) {
      break;
    }
  }
  ASSERT_GT(http_port, 0) << run.out() << run.err();
  ASSERT_GT(metrics_port, 0) << run.out();

  // Prometheus on loopback, a temporary config and storage; retried on a port race.
  std::unique_ptr<testing::Subprocess> prom;
  int prom_port = 0;
  for (int attempt = 0; attempt < 3 && prom == nullptr; ++attempt) {
    prom_port = FreeLoopbackPort();
    ASSERT_GT(prom_port, 0);
    testing::WriteFile(dir.File("prometheus.yml"),
                       "global:\n"
                       "  scrape_interval: 1s\n"
                       "  scrape_timeout: 1s\n"
                       "  evaluation_interval: 1s\n"
                       "scrape_configs:\n"
                       "  - job_name: streamrec\n"
                       "    static_configs:\n"
                       "      - targets: ['127.0.0.1:" + std::to_string(metrics_port) + "']\n");
    auto p = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{kPrometheus, "--config.file=" + dir.File("prometheus.yml"),
                                 "--storage.tsdb.path=" + dir.File("tsdb-" + std::to_string(attempt)),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                                 "--log.level=warn"},
        dir.File("prom.out"), dir.File("prom.err"));
    httplib::Client probe("127.0.0.1", prom_port);
    probe.set_connection_timeout(1);
    bool ready = false;
    for (auto deadline = Clock::now() + seconds(60); Clock::now() < deadline && !ready;) {
      auto res = probe.Get("/-/ready");
      ready = res && res->status == 200;
      if (!ready && p->Wait(milliseconds(200)) >= 0) break;  // exited (port taken?)
    }
    if (ready) prom = std::move(p);
  }
  ASSERT_NE(prom, nullptr) << "prometheus did not become ready\n"
                           << testing::ReadFile(dir.File("prom.err"));

  httplib::Client api("127.0.0.1", http_port);
  api.set_connection_timeout(5);
  api.set_read_timeout(10);
  // A served model first (model age, swap time and the two-tower channel need one).
  bool model = false;
  for (auto deadline = Clock::now() + seconds(150); Clock::now() < deadline && !model;) {
    auto res = api.Get("/readyz");
    model = res && res->status == 200 &&
            res->body.find("\"model_version\":0") == std::string::npos &&
            res->body.find("\"model_version\":") != std::string::npos;
    if (!model) std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(model) << "no model served\n" << run.err();

  // Every expression must answer with data; traffic keeps the request panels alive and
  // Prometheus needs a few scrapes for rate().
  httplib::Client prom_api("127.0.0.1", prom_port);
  prom_api.set_connection_timeout(5);
  prom_api.set_read_timeout(10);
  std::map<std::string, std::string> problems;
  int user = 0;
  for (auto deadline = Clock::now() + seconds(120); Clock::now() < deadline;) {
    for (int i = 0; i < 20; ++i, ++user) {
      api.Get(("/v1/recommendations?user_id=user-" + std::to_string(user % 50) + "&k=10").c_str());
      api.Get(("/v1/items/item-0000" + std::to_string(user % 10) + "/similar?k=5").c_str());
    }
    problems.clear();
    for (const PanelQuery& q : queries) {
      const std::string problem = QueryProblem(prom_api, q.expr);
      if (!problem.empty()) problems[q.panel + " [" + q.ref + "] " + q.expr] = problem;
    }
    if (problems.empty()) break;
    std::this_thread::sleep_for(seconds(2));
  }
  for (const auto& [query, problem] : problems) ADD_FAILURE() << query << ": " << problem;
  std::printf("%zu dashboard expressions evaluated by Prometheus, %zu without data\n",
              queries.size(), problems.size());

  // Prometheus saw our target up the whole time.
  EXPECT_EQ(QueryProblem(prom_api, "up{job=\"streamrec\"} == 1"), "");

  // promtool's linter on our exposition.
  httplib::Client metrics("127.0.0.1", metrics_port);
  auto exposition = metrics.Get("/metrics");
  ASSERT_TRUE(exposition && exposition->status == 200);
  testing::WriteFile(dir.File("metrics.txt"), exposition->body);
  std::string lint_out, lint_err;
  const int lint = testing::RunShell(dir, std::string(kPromtool) + " check metrics < " +
                                              dir.File("metrics.txt"),
                                     "", 60, &lint_out, &lint_err);
  EXPECT_EQ(lint, 0) << lint_out << lint_err;
  EXPECT_EQ(lint_out + lint_err, "");

  prom->Signal(SIGTERM);
  if (prom->Wait(seconds(20)) < 0) prom->Signal(SIGKILL);
  run.Signal(SIGINT);
  EXPECT_EQ(run.Wait(seconds(60)), 0) << run.err();
}

}  // namespace
}  // namespace streamrec
