// `streamrec run`'s status line: plain periodic lines on a pipe, none with --quiet, and
// one line rewritten in place on a terminal (a pty from util-linux `script`). Waits are
// bounded; the runs are stopped with SIGINT and must exit 0.
#include <signal.h>

#include <chrono>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::regex kPlainLine(
    R"(streamrec run: in ([0-9.]+) ev/s, lag ([0-9]+|-), behind (\S+), model ([^,]+), ([0-9.]+) req/s p99 ([^,]+), freshness p99 (\S+)\n)");

std::vector<std::smatch> StatusLines(const std::string& text) {
  std::vector<std::smatch> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPlainLine);
       it != std::sregex_iterator(); ++it) {
    out.push_back(*it);
  }
  return out;
}

std::vector<std::string> RunArgs(std::vector<std::string> extra) {
  std::vector<std::string> argv = {STREAMREC_BINARY, "run",    "--rate",    "300",
                                   "--metrics",      "off",    "--http",    "127.0.0.1:0",
                                   "--partitions",   "2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(Console, WithoutATerminalPrintsPlainPeriodicLines) {
  testing::ScratchDir dir;
  testing::Subprocess run(RunArgs({"--status-every", "1"}), dir.File("out"), dir.File("err"));
  // Until three status lines, one of them with events flowing and a lag reading.
  bool flowing = false;
  for (auto deadline = Clock::now() + seconds(90); Clock::now() < deadline;) {
    const auto lines = StatusLines(run.err());
    for (const auto& m : lines) {
      if (std::stod(m[1].str()) > 0 && m[2].str() != "-") flowing = true;
    }
    if (lines.size() >= 3 && flowing) break;
    if (run.Wait(milliseconds(200)) >= 0) break;  // exited early
  }
  run.Signal(SIGINT);
  EXPECT_EQ(run.Wait(seconds(60)), 0) << run.err();
  const std::string err = run.err();
  EXPECT_GE(StatusLines(err).size(), 3u) << err;
  EXPECT_TRUE(flowing) << err;
  // Plain lines: nothing for a terminal in a file.
  EXPECT_EQ(err.find('\r'), std::string::npos);
  EXPECT_EQ(err.find('\x1b'), std::string::npos);
  // Status goes to stderr; stdout keeps the banner and the summary.
  EXPECT_EQ(run.out().find(" ev/s"), std::string::npos) << run.out();
  EXPECT_NE(run.out().find("streamrec run: stopped; "), std::string::npos) << run.out();
}

TEST(Console, QuietPrintsNoStatus) {
  testing::ScratchDir dir;
  testing::Subprocess run(RunArgs({"--status-every", "1", "--quiet"}), dir.File("out"),
                          dir.File("err"));
  // Started (the banner is out), then four status periods.
  for (auto deadline = Clock::now() + seconds(60);
       Clock::now() < deadline && run.out().find("Ctrl-C stops") == std::string::npos;) {
    if (run.Wait(milliseconds(100)) >= 0) break;
  }
  ASSERT_NE(run.out().find("Ctrl-C stops"), std::string::npos) << run.out() << run.err();
  std::this_thread::sleep_for(seconds(4));
  run.Signal(SIGINT);
  EXPECT_EQ(run.Wait(seconds(60)), 0) << run.err();
  EXPECT_EQ(run.err().find("ev/s"), std::string::npos) << run.err();
  EXPECT_EQ(run.out().find("ev/s"), std::string::npos) << run.out();
}

// On a terminal the line is rewritten in place ("\r", text, erase to end of line), never
// as a new line, and taken off before the summary.
TEST(Console, OnATerminalOneLineIsRewrittenInPlace) {
  if (!testing::HaveProgram("script")) GTEST_SKIP() << "util-linux `script` is not installed";
  testing::ScratchDir dir;
  // script gives the command a pty for stdin/stdout/stderr and copies what it writes to
  // its stdout; the shell records streamrec's pid, so that exactly it gets one SIGINT.
  std::string command = "echo $$ > " + dir.File("pid") + "; exec";
  for (const auto& a : RunArgs({})) command += " '" + a + "'";
  testing::Subprocess script({"/usr/bin/script", "-qefc", command, "/dev/null"}, dir.File("out"),
                             dir.File("err"));
  const std::regex in_place(R"(\r(in [0-9.]+ ev/s, lag [^\r\n]*)\x1b\[K)");
  auto redraws = [&](const std::string& out) {
    return std::distance(std::sregex_iterator(out.begin(), out.end(), in_place),
                         std::sregex_iterator());
  };
  for (auto deadline = Clock::now() + seconds(90);
       Clock::now() < deadline && redraws(testing::ReadFile(dir.File("out"))) < 3;) {
    if (script.Wait(milliseconds(200)) >= 0) break;  // exited early
  }
  const std::string pid = testing::ReadFile(dir.File("pid"));
  ASSERT_FALSE(pid.empty()) << testing::ReadFile(dir.File("out"));
  ::kill(std::stoi(pid), SIGINT);
  EXPECT_EQ(script.Wait(seconds(60)), 0) << testing::ReadFile(dir.File("out"));
  const std::string out = testing::ReadFile(dir.File("out"));
  EXPECT_GE(redraws(out), 3) << out;                                    // about one a second
  EXPECT_EQ(out.find("streamrec run: in "), std::string::npos) << out;  // no plain lines
  // The last drawn line is erased before the summary.
  const size_t summary = out.find("streamrec run: stopped; ");
  ASSERT_NE(summary, std::string::npos) << out;
  const size_t erase = out.rfind("\r\x1b[K", summary);
  const size_t last_draw = out.rfind("\rin ", summary);
  ASSERT_NE(erase, std::string::npos) << out;
  EXPECT_GT(erase, last_draw);
}

}  // namespace
}  // namespace streamrec
