#include "streams/history_reader.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <map>

namespace streamrec {
namespace {

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = line.find('\t', start);
    if (pos == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits one CSV record (no embedded newlines) honouring double quotes. False on an
// unterminated quote.
bool SplitCsv(std::string_view line, std::vector<std::string>* out) {
  out->clear();
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      out->push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else {
      field.push_back(c);
    }
  }
  if (quoted) return false;
  out->push_back(std::move(field));
  return true;
}

class LineReader : public HistoryReader {
 public:
  LineReader(std::string path, HistoryReaderOptions options, std::unique_ptr<std::ifstream> file)
      : path_(std::move(path)), options_(options), file_(std::move(file)) {}

  Result<bool> Next(ClickEvent* event) override {
    std::istream& in = file_ ? static_cast<std::istream&>(*file_) : std::cin;
    while (true) {
      if (!std::getline(in, line_)) {
        if (in.bad()) return Status::IoError("error reading " + path_);
        return false;
      }
      ++line_no_;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.empty()) continue;
      if (options_.format == HistoryFormat::kCsv && line_no_ == 1 &&
          line_.rfind("user_id", 0) == 0) {
        STREAMREC_RETURN_IF_ERROR(ReadCsvHeader());
        continue;
      }
      std::string why;
      RejectReason reason = RejectReason::kNone;
      switch (options_.format) {
        case HistoryFormat::kJsonl: {
          ClickParseResult r = parser_.Parse(line_);
          if (!r.ok()) return Bad(RejectReasonName(r.reason), r.detail);
          *event = std::move(r.event);
          return true;
        }
        case HistoryFormat::kMovieLens:
          if (!ParseMovieLens(event, &why)) return Bad("bad_line", why);
          break;
        case HistoryFormat::kCsv:
          if (!ParseCsv(event, &why, &reason)) {
            return Bad(reason == RejectReason::kNone ? "bad_line" : RejectReasonName(reason), why);
          }
          break;
      }
      ClickParseResult r = ValidateClickEvent(std::move(*event));
      if (!r.ok()) return Bad(RejectReasonName(r.reason), r.detail);
      *event = std::move(r.event);
      return true;
    }
  }

  int64_t line_number() const override { return line_no_; }
  std::string_view line() const override { return line_; }

 private:
  Status Bad(const std::string& kind, const std::string& why) {
    return Status::InvalidArgument(path_ + ":" + std::to_string(line_no_) + ": " + kind + ": " +
                                   why);
  }

  bool ParseMovieLens(ClickEvent* e, std::string* why) {
    auto f = SplitTabs(line_);
    if (f.size() != 4) {
      *why = "expected 4 tab-separated fields (user item rating timestamp), got " +
             std::to_string(f.size());
      return false;
    }
    int64_t rating = 0, seconds = 0;
    if (!ParseInt64(f[2], &rating)) {
      *why = "rating \"" + std::string(f[2]) + "\" is not an integer";
      return false;
    }
    if (!ParseInt64(f[3], &seconds)) {
      *why = "timestamp \"" + std::string(f[3]) + "\" is not an integer";
      return false;
    }
    if (seconds > INT64_MAX / 1000 || seconds < INT64_MIN / 1000) {
      *why = "timestamp " + std::to_string(seconds) + " is out of range";
      return false;
    }
    e->user_id.assign(f[0]);
    e->item_id.assign(f[1]);
    e->session_id.clear();
    e->ts_ms = seconds * 1000;
    e->event = options_.movielens_event;
    if (options_.movielens_rating_events) {
      e->event = rating <= 2   ? EventType::kView
                 : rating == 3 ? EventType::kClick
                 : rating == 4 ? EventType::kAddToCart
                               : EventType::kPurchase;
    }
    return true;
  }

  Status ReadCsvHeader() {
    std::vector<std::string> cols;
    if (!SplitCsv(line_, &cols)) return Bad("bad_line", "unterminated quote in header");
    columns_.clear();
    for (size_t i = 0; i < cols.size(); ++i) columns_[cols[i]] = static_cast<int>(i);
    for (const char* need : {"user_id", "item_id", "event", "ts"}) {
      if (columns_.count(need) == 0)
        return Bad("bad_line", std::string("header has no ") + need + " column");
    }
    return Status::Ok();
  }

  bool ParseCsv(ClickEvent* e, std::string* why, RejectReason* reason) {
    if (!SplitCsv(line_, &fields_)) {
      *why = "unterminated quote";
      return false;
    }
    auto col = [&](const char* name, int def) {
      auto it = columns_.find(name);
      return columns_.empty() ? def : (it == columns_.end() ? -1 : it->second);
    };
    const int u = col("user_id", 0), i = col("item_id", 1), ev = col("event", 2), ts = col("ts", 3),
              s = col("session_id", 4);
    const int need = std::max({u, i, ev, ts}) + 1;
    if (static_cast<int>(fields_.size()) < need) {
      *why = "expected at least " + std::to_string(need) + " comma-separated fields, got " +
             std::to_string(fields_.size());
      return false;
    }
    e->user_id = fields_[u];
    e->item_id = fields_[i];
    e->session_id = (s >= 0 && s < static_cast<int>(fields_.size())) ? fields_[s] : "";
    if (!ParseEventType(fields_[ev], &e->event)) {
      *reason = RejectReason::kUnknownEventType;
      *why = "event \"" + fields_[ev] + "\" is not one of view, click, add_to_cart, purchase";
      return false;
    }
    if (!ParseInt64(fields_[ts], &e->ts_ms)) {
      *reason = RejectReason::kWrongType;
      *why = "ts \"" + fields_[ts] + "\" is not an integer (epoch milliseconds)";
      return false;
    }
    return true;
  }

  std::string path_;
  HistoryReaderOptions options_;
  std::unique_ptr<std::ifstream> file_;  // null: stdin
  std::string line_;
  int64_t line_no_ = 0;
  ClickEventParser parser_;
  std::map<std::string, int> columns_;  // CSV header, empty when none
  std::vector<std::string> fields_;
};

}  // namespace

Result<HistoryFormat> ParseHistoryFormat(std::string_view name) {
  if (name == "movielens") return HistoryFormat::kMovieLens;
  if (name == "jsonl") return HistoryFormat::kJsonl;
  if (name == "csv") return HistoryFormat::kCsv;
  return Status::InvalidArgument("unknown format \"" + std::string(name) +
                                 "\" (expected movielens, jsonl or csv)");
}

const char* HistoryFormatName(HistoryFormat format) {
  switch (format) {
    case HistoryFormat::kMovieLens:
      return "movielens";
    case HistoryFormat::kJsonl:
      return "jsonl";
    case HistoryFormat::kCsv:
      return "csv";
  }
  return "unknown";
}

Result<std::unique_ptr<HistoryReader>> HistoryReader::Open(const std::string& path,
                                                           const HistoryReaderOptions& options) {
  std::unique_ptr<std::ifstream> file;
  if (path != "-") {
    file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*file) return Status::IoError("cannot open " + path);
  }
  return std::unique_ptr<HistoryReader>(
      new LineReader(path == "-" ? "<stdin>" : path, options, std::move(file)));
}

Result<std::vector<ClickEvent>> ReadHistoryFile(const std::string& path,
                                                const HistoryReaderOptions& options, bool skip_bad,
                                                bool sort_by_time, HistoryReadStats* stats) {
  auto reader = HistoryReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  HistoryReadStats local;
  std::vector<ClickEvent> events;
  while (true) {
    ClickEvent e;
    Result<bool> got = (*reader)->Next(&e);
    if (!got.ok()) {
      if (skip_bad && got.status().code() == Status::Code::kInvalidArgument) {
        if (local.skipped++ == 0) local.first_skipped = got.status();
        continue;
      }
      return got.status();
    }
    if (!*got) break;
    events.push_back(std::move(e));
  }
  if (sort_by_time) {
    std::stable_sort(events.begin(), events.end(),
                     [](const ClickEvent& a, const ClickEvent& b) { return a.ts_ms < b.ts_ms; });
  }
  local.events = static_cast<int64_t>(events.size());
  local.lines = (*reader)->line_number();
  if (stats != nullptr) *stats = local;
  return events;
}

}  // namespace streamrec
