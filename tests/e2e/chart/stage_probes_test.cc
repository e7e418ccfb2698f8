// What the chart's probes rely on, against the binary (no helm needed): every stage run
// as the chart runs it (global flags before `stage`, `--health HOST:PORT`) answers
// /healthz and /readyz on its health port, which serves no /metrics; the trainer and
// serving stages go through `streamrec` exec'ing `streamrec-model`. And `--set-file` with
// a missing file stops the command before it starts, naming key and path.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A loopback port nobody listens on now (bound and released).
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool WaitFor(const std::function<bool()>& done, seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

int HttpStatus(int port, const std::string& path, std::string* body = nullptr) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  if (!res) return 0;
  if (body != nullptr) *body = res->body;
  return res->status;
}

TEST(StageProbes, EveryStageAnswersProbesOnItsHealthPortWithoutMetrics) {
  testing::ScratchDir dir;
  testing::Subprocess broker({STREAMREC_BINARY, "broker", "--partitions", "2", "--bootstrap-file",
                              dir.File("bootstrap")},
                             dir.File("broker.out"), dir.File("broker.err"));
  ASSERT_TRUE(WaitFor([&] { return !testing::ReadFile(dir.File("bootstrap")).empty(); }, seconds(30)))
      << broker.err();
  std::string bootstrap = testing::ReadFile(dir.File("bootstrap"));
  while (!bootstrap.empty() && bootstrap.back() == '\n') bootstrap.pop_back();
  testing::WriteFile(dir.File("streamrec.yaml"), "kafka:\n  bootstrap.servers: \"" + bootstrap + "\"\n");

  const std::vector<std::string> names = {"user", "item", "trainer", "serving"};
  std::vector<int> health;
  std::vector<std::unique_ptr<testing::Subprocess>> stages;
  for (const std::string& stage : names) {
    health.push_back(FreeLoopbackPort());
    ASSERT_GT(health.back(), 0);
    std::vector<std::string> argv = {STREAMREC_BINARY, "--config=" + dir.File("streamrec.yaml"),
                                     "--set=trainer.model_dir=" + dir.File("models"),
                                     "--set=trainer.snapshot_every_seconds=10",
                                     "stage", stage, "--brokers=" + bootstrap,
                                     "--state-dir=" + dir.File("state-" + stage),
                                     "--metrics=127.0.0.1:0",
                                     "--health=127.0.0.1:" + std::to_string(health.back())};
    if (stage == "serving") argv.push_back("--http=127.0.0.1:0");
    stages.push_back(std::make_unique<testing::Subprocess>(argv, dir.File(stage + ".out"),
                                                           dir.File(stage + ".err")));
  }
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string& stage = names[k];
    const int port = health[k];
    testing::Subprocess& process = *stages[k];
    EXPECT_TRUE(WaitFor([&] { return HttpStatus(port, "/healthz") == 200; }, seconds(60)))
        << stage << " never answered /healthz on its --health port\n" << process.err();
    std::string body;
    EXPECT_EQ(HttpStatus(port, "/metrics", &body), 404) << stage;
    EXPECT_EQ(body.find("# HELP"), std::string::npos) << stage;
    if (stage == "serving") {
      // Serving also needs something to answer with, which empty topics do not give it:
      // its health port says what its HTTP API's /readyz says, 503 with the reason.
      std::smatch m;
      ASSERT_TRUE(WaitFor([&] {
        const std::string out = process.out();
        static const std::regex re(R"(HTTP API on http://[0-9.]+:([0-9]+))");
        return std::regex_search(out, m, re);
      }, seconds(60))) << process.err();
      const int api = std::stoi(m[1].str());
      std::string api_body;
      const int api_ready = HttpStatus(api, "/readyz", &api_body);
      const int ready = HttpStatus(port, "/readyz", &body);
      EXPECT_EQ(ready, api_ready) << body << " vs " << api_body;
      if (ready != 200) {
        EXPECT_EQ(ready, 503);
        EXPECT_NE(body.find("not_ready"), std::string::npos) << body;
      }
    } else {
      // Ready once its inputs are read to their end offsets: empty topics here.
      int ready = 0;
      WaitFor([&] { return (ready = HttpStatus(port, "/readyz", &body)) == 200; }, seconds(60));
      EXPECT_EQ(ready, 200) << stage << ": " << body << "\n" << process.err();
    }
    EXPECT_LT(process.Wait(std::chrono::milliseconds(0)), 0) << stage << " exited\n" << process.err();
  }
  for (auto& s : stages) s->Signal(SIGTERM);
  for (auto& s : stages) EXPECT_GE(s->Wait(seconds(30)), 0);
}

TEST(StageProbes, SetFileWithAMissingFileStopsTheCommandNamingKeyAndPath) {
  testing::ScratchDir dir;
  std::string out, err;
  const int rc = testing::RunShell(dir,
                                   std::string(STREAMREC_BINARY) + " --set-file kafka.sasl.password=" +
                                       dir.File("absent") + " topics list --brokers 127.0.0.1:1",
                                   "", 30, &out, &err);
  EXPECT_EQ(rc, 2) << out << err;
  EXPECT_NE(err.find("kafka.sasl.password"), std::string::npos) << err;
  EXPECT_NE(err.find(dir.File("absent")), std::string::npos) << err;
}

}  // namespace
}  // namespace streamrec
