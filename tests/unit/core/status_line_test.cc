#include "core/status_line.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "core/logging.h"

namespace streamrec {
namespace {

// What was written to a temporary file.
std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(StatusLineTest, NotInPlaceEachShowIsAPlainLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(StatusLine::IsTerminal(f));
  {
    StatusLine line(f, /*in_place=*/false);
    line.Show("one");
    line.WriteAbove("a log record\n");
    line.Show("two");
    line.Clear();
  }
  EXPECT_EQ(Contents(f), "one\na log record\ntwo\n");
  std::fclose(f);
}

TEST(StatusLineTest, InPlaceRewritesTheLineAndLogsGoAboveIt) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    StatusLine line(f, /*in_place=*/true);
    line.WriteAbove("before any status\n");  // nothing drawn yet: nothing to erase
    line.Show("one");
    line.Show("two");
    line.WriteAbove("a log record\n");
    line.Clear();
    line.WriteAbove("after clear\n");  // not redrawn once cleared
  }
  EXPECT_EQ(Contents(f),
            "before any status\n"
            "\rone\x1b[K"
            "\rtwo\x1b[K"
            "\r\x1b[K" "a log record\n" "\rtwo\x1b[K"
            "\r\x1b[K"
            "after clear\n");
  std::fclose(f);
}

TEST(StatusLineTest, InPlaceNeverWrapsOffATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    StatusLine line(f, /*in_place=*/true);
    line.Show(std::string(200, 'x'));  // not a terminal: 80 columns, one kept free
  }
  EXPECT_EQ(Contents(f), "\r" + std::string(79, 'x') + "\x1b[K");
  std::fclose(f);
}

TEST(StatusLineTest, LogRecordsGoAroundTheActiveLine) {
  ASSERT_TRUE(InitLogging("info").ok());
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    StatusLine line(f, /*in_place=*/true);
    SetActiveStatusLine(&line);
    line.Show("status");
    spdlog::info("hello from a stage");
    SetActiveStatusLine(nullptr);
  }
  const std::string out = Contents(f);
  const size_t erase = out.find("\rstatus\x1b[K\r\x1b[K");
  const size_t record = out.find("hello from a stage\n");
  const size_t redraw = out.rfind("\rstatus\x1b[K");
  ASSERT_NE(erase, std::string::npos) << out;
  ASSERT_NE(record, std::string::npos) << out;
  EXPECT_LT(erase, record);
  EXPECT_GT(redraw, record);
  EXPECT_EQ(ActiveStatusLine(), nullptr);
  std::fclose(f);
  ASSERT_TRUE(InitLogging("warn").ok());
}

TEST(FormatRunStatusTest, ShowsEveryFigureAndDashesForUnknownOnes) {
  MetricsSnapshot s;
  s.taken_at_unix_s = 1000;
  s.consumer_lag = 12;
  s.model_version = 3;
  s.model_created_unix_s = 992;
  s.behind_seconds = 0.4;
  MetricsRates r;
  r.events_in_per_second = 200;
  r.requests_per_second = 0.5;
  r.request_p99_seconds = 0.0032;
  r.freshness_p99_seconds = 0.015;
  EXPECT_EQ(FormatRunStatus(s, r),
            "in 200.0 ev/s, lag 12, behind 400ms, model v3 (age 8.0s), 0.5 req/s p99 3ms, "
            "freshness p99 15ms");

  s.model_created_unix_s = 1000 - 125;
  r.request_p99_seconds = 1.3;
  s.behind_seconds = 3700;
  r.freshness_p99_seconds = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(FormatRunStatus(s, r),
            "in 200.0 ev/s, lag 12, behind 1h01m, model v3 (age 2m05s), 0.5 req/s p99 1.3s, "
            "freshness p99 -");

  MetricsSnapshot empty;
  MetricsRates idle;
  idle.request_p99_seconds = std::numeric_limits<double>::quiet_NaN();
  idle.freshness_p99_seconds = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(FormatRunStatus(empty, idle),
            "in 0.0 ev/s, lag -, behind -, model -, 0.0 req/s p99 -, freshness p99 -");
  empty.model_version = 0;
  EXPECT_EQ(FormatRunStatus(empty, idle),
            "in 0.0 ev/s, lag -, behind -, model none, 0.0 req/s p99 -, freshness p99 -");
}

}  // namespace
}  // namespace streamrec
