#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "streams/click_event.h"

namespace streamrec {

// Formats of event-history files (replay, backfill, batch recomputation).
//  kMovieLens: MovieLens u.data: "user<TAB>item<TAB>rating<TAB>unix-seconds"; ts → ms.
//  kJsonl:     one `clicks` JSON event per line (DESIGN §2), validated by ClickEventParser.
//  kCsv:       "user_id,item_id,event,ts[,session_id]" (ts in ms); a first line starting
//              with "user_id" is a header naming the columns (any order, unknown ones
//              ignored). RFC 4180 quoting ("a,b", "say ""hi""") is understood.
enum class HistoryFormat { kMovieLens, kJsonl, kCsv };

// "movielens", "jsonl", "csv".
Result<HistoryFormat> ParseHistoryFormat(std::string_view name);
const char* HistoryFormatName(HistoryFormat format);

// The event type a MovieLens rating reads as, wherever ratings enter the system (history
// files, `streamrec eval`'s train file). Purchase: a rating records that the user watched
// the film, once per film (a consumption, not a glance), so serving's seen filter
// (serving.seen.filter_events, default purchase) never offers a rated film again, as the
// published protocols exclude rated items. Event weights are the same for every rating
// either way, and the similarities and losses are scale-free.
inline constexpr EventType kMovieLensRatingEvent = EventType::kPurchase;

struct HistoryReaderOptions {
  HistoryFormat format = HistoryFormat::kJsonl;
  // MovieLens: the event type of every rating (kMovieLensRatingEvent above). With
  // movielens_rating_events, ratings map to 1-2 view, 3 click, 4 add_to_cart, 5 purchase.
  EventType movielens_event = kMovieLensRatingEvent;
  bool movielens_rating_events = false;
};

// Streams events out of a history file, in file order. Every event is validated like a
// `clicks` message (ValidateClickEvent / ClickEventParser). Thread-compatible.
class HistoryReader {
 public:
  // `path` "-" reads stdin.
  static Result<std::unique_ptr<HistoryReader>> Open(const std::string& path,
                                                     const HistoryReaderOptions& options);
  virtual ~HistoryReader() = default;

  // The next event: true with *event filled; false at the end of the file. A bad line is
  // an InvalidArgument error "FILE:LINE: why"; the reader stays usable and the next call
  // continues after that line (for --skip-bad). An I/O error is IoError.
  virtual Result<bool> Next(ClickEvent* event) = 0;
  // 1-based number of the line last read (0 before the first).
  virtual int64_t line_number() const = 0;
  // The raw text of the line last read (without the newline).
  virtual std::string_view line() const = 0;
};

struct HistoryReadStats {
  int64_t events = 0;
  int64_t lines = 0;     // lines read (the file's line count once it was read to its end)
  int64_t skipped = 0;   // bad lines skipped (skip_bad only)
  Status first_skipped;  // why the first skipped line was bad
};

// Reads a whole file. With skip_bad, bad lines are counted and skipped; without it, the
// first bad line is the error. When sort_by_time, events are stably sorted by ts (file
// order breaks ties), as replay publishes them.
Result<std::vector<ClickEvent>> ReadHistoryFile(const std::string& path,
                                                const HistoryReaderOptions& options, bool skip_bad,
                                                bool sort_by_time,
                                                HistoryReadStats* stats = nullptr);

}  // namespace streamrec
