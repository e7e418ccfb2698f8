#include "core/status_line.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace streamrec {
namespace {

std::atomic<StatusLine*> g_active{nullptr};

// The terminal's width in columns; 80 when it cannot be asked.
size_t TerminalColumns(std::FILE* f) {
  struct winsize ws {};
  if (::ioctl(::fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// 850ms, 3.2s, 2m05s, 1h02m.
std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  if (seconds < 1) return fmt::format("{:.0f}ms", seconds * 1000);
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const auto s = static_cast<long long>(seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

// A log record being written may still hold the line that was just deactivated: the
// logger's flush takes each sink's mutex, so once it returns no record is using it.
void WaitForLogWriters() {
  if (spdlog::logger* logger = spdlog::default_logger_raw()) logger->flush();
}

}  // namespace

StatusLine::StatusLine(std::FILE* out, bool in_place) : out_(out), in_place_(in_place) {}

StatusLine::~StatusLine() {
  StatusLine* self = this;
  if (g_active.compare_exchange_strong(self, nullptr)) WaitForLogWriters();
}

bool StatusLine::IsTerminal(std::FILE* f) { return f != nullptr && ::isatty(::fileno(f)) == 1; }

void StatusLine::Show(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  text_ = text;
  if (!in_place_) {
    std::fprintf(out_, "%s\n", text_.c_str());
    std::fflush(out_);
    return;
  }
  DrawLocked();
}

void StatusLine::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  EraseLocked();
  std::fflush(out_);
}

void StatusLine::WriteAbove(std::string_view text) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool was_drawn = drawn_;
  EraseLocked();
  std::fwrite(text.data(), 1, text.size(), out_);
  if (was_drawn) DrawLocked();
  std::fflush(out_);
}

void StatusLine::EraseLocked() {
  if (!in_place_ || !drawn_) return;
  std::fputs("\r\x1b[K", out_);
  drawn_ = false;
}

void StatusLine::DrawLocked() {
  // One column short of the width: writing the last column wraps on some terminals.
  const size_t width = TerminalColumns(out_);
  std::string shown = text_.substr(0, width > 1 ? width - 1 : width);
  std::fprintf(out_, "\r%s\x1b[K", shown.c_str());
  std::fflush(out_);
  drawn_ = true;
}

void SetActiveStatusLine(StatusLine* line) {
  StatusLine* previous = g_active.exchange(line);
  if (previous != nullptr && previous != line) WaitForLogWriters();
}

StatusLine* ActiveStatusLine() { return g_active.load(); }

std::string FormatRunStatus(const MetricsSnapshot& now, const MetricsRates& rates) {
  std::string model = "none";
  if (now.model_version && *now.model_version > 0) {
    model = fmt::format("v{}", *now.model_version);
    if (auto age = now.ModelAgeSeconds()) model += fmt::format(" (age {})", Duration(*age));
  } else if (!now.model_version) {
    model = "-";
  }
  const std::string lag = now.consumer_lag ? fmt::format("{:.0f}", *now.consumer_lag) : "-";
  const std::string p99 =
      std::isnan(rates.request_p99_seconds) ? "-" : Duration(rates.request_p99_seconds);
  const std::string behind = now.behind_seconds ? Duration(*now.behind_seconds) : "-";
  const std::string fresh =
      std::isnan(rates.freshness_p99_seconds) ? "-" : Duration(rates.freshness_p99_seconds);
  return fmt::format(
      "in {:.1f} ev/s, lag {}, behind {}, model {}, {:.1f} req/s p99 {}, freshness p99 {}",
      rates.events_in_per_second, lag, behind, model, rates.requests_per_second, p99, fresh);
}

}  // namespace streamrec
