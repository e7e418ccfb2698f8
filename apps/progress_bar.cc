#include "apps/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace streamrec::apps {

ProgressBar::ProgressBar(int64_t total, bool enabled, std::string label, bool lines_when_not_a_terminal)
    : total_(total),
      enabled_(enabled),
      terminal_(::isatty(2) != 0),
      lines_(lines_when_not_a_terminal),
      label_(std::move(label)) {
  if (!terminal_ && !lines_) enabled_ = false;
}

void ProgressBar::Update(int64_t done, bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto every = terminal_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (!force && now - last_ < every) return;
  if (!terminal_ && !force && last_ == std::chrono::steady_clock::time_point{}) {
    last_ = now;  // the first line after 5 s, not at once
    return;
  }
  last_ = now;
  drawn_ = true;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  const std::string prefix = label_.empty() ? "" : label_ + " ";
  if (!terminal_) {
    std::fprintf(stderr, "%s%lld/%lld (%.0f%%) %.0f ev/s\n", prefix.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), frac * 100, rate);
    return;
  }
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
  std::fprintf(stderr, "\r%s[%s] %3.0f%% %lld/%lld %.0f ev/s ", prefix.c_str(), bar.c_str(), frac * 100,
               static_cast<long long>(done), static_cast<long long>(total_), rate);
  std::fflush(stderr);
}

void ProgressBar::Finish(int64_t done) {
  if (!enabled_) return;
  Update(done, true);
  if (terminal_) std::fprintf(stderr, "\n");
}

}  // namespace streamrec::apps
