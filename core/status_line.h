#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "core/metrics_snapshot.h"

namespace streamrec {

// One status line on a stream (stderr for `streamrec run`), for a person watching.
//
// In place (the stream is a terminal): Show() rewrites the line with "\r", the text cut to
// the terminal's width (a wrapped line could not be rewritten), and "erase to end of
// line"; no newline. Log records must not land in the middle of it: while a line is
// active (SetActiveStatusLine), core/logging.h's sink writes every record through
// WriteAbove, which erases the line, writes the record, and redraws the line below it.
// Other writes to the stream (a stray fprintf) may share the line until the next Show.
//
// Not in place (a pipe or a file): Show() writes the text as a plain line.
//
// Thread-safe: Show, Clear and WriteAbove take one mutex.
class StatusLine {
 public:
  // `out` is not owned. `in_place`: usually IsTerminal(out).
  StatusLine(std::FILE* out, bool in_place);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  void Show(const std::string& text);
  // Erases the line (in place); the next Show draws it again. Call before writing a
  // final summary.
  void Clear();
  // Writes `text` (whole lines, each ending in '\n') above the line.
  void WriteAbove(std::string_view text);

  bool in_place() const { return in_place_; }

  // Whether `f` is a terminal.
  static bool IsTerminal(std::FILE* f);

 private:
  void EraseLocked();
  void DrawLocked();

  std::FILE* const out_;
  const bool in_place_;
  std::mutex mu_;
  std::string text_;     // guarded by mu_: the line as last shown
  bool drawn_ = false;   // guarded by mu_: the line is on the screen now
};

// The status line the logging sink writes around (nullptr: none, records go straight to
// stderr). Replacing a line waits until no record is being written through it, so it may
// be destroyed right after (a StatusLine's destructor deactivates itself).
void SetActiveStatusLine(StatusLine* line);
StatusLine* ActiveStatusLine();

// `streamrec run`'s status text from two readings of the registry:
//   "in 200.0 ev/s, lag 12, behind 400ms, model v3 (age 8.0s), 0.5 req/s p99 3ms,
//    freshness p99 15ms"
// (lag: every consumer; behind: the serving stage's consumers; freshness: a click's age
// when serving applied it, over the interval). Unknown figures read "-" (model "none"
// before the first version is served).
std::string FormatRunStatus(const MetricsSnapshot& now, const MetricsRates& rates);

}  // namespace streamrec
