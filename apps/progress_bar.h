#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace streamrec::apps {

// Progress of a long command on stderr (replay, batch). On a terminal: one line redrawn
// at most 10 times a second ("[====>   ]  42% 4200/10000 12000 ev/s"). Elsewhere (a log,
// a CronJob): with `lines_when_not_a_terminal`, one line every 5 s, else nothing.
// Used from one thread.
class ProgressBar {
 public:
  // `label` prefixes each line ("reading", "recomputing"); may be empty.
  ProgressBar(int64_t total, bool enabled, std::string label = "", bool lines_when_not_a_terminal = false);
  void set_total(int64_t total) { total_ = total; }
  void Update(int64_t done, bool force = false);
  // Draws the final state and ends the line.
  void Finish(int64_t done);

 private:
  int64_t total_;
  bool enabled_;
  bool terminal_;
  bool lines_;
  std::string label_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace streamrec::apps
