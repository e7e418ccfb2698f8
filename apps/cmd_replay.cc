// `streamrec replay`: publishes an event-history file to `clicks` in timestamp order
// with the original timestamps, paced by --rate or --speedup or as fast as possible.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/stop_signal.h"
#include "streams/catalog.h"
#include "streams/click_publisher.h"
#include "streams/history_reader.h"
#include "streams/kafka_producer.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct ReplayFlags {
  std::string format;
  std::string file;
  std::string brokers;
  std::string bootstrap_file;
  std::string topic;
  std::string items_file;
  std::string items_topic;
  double rate = 0;
  double speedup = 0;
  bool skip_bad = false;
  bool rating_events = false;
  bool no_progress = false;
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "streamrec replay: %s\n", msg.c_str());
  return code;
}

// A one-line progress bar on stderr, redrawn at most 10 times a second.
class ProgressBar {
 public:
  explicit ProgressBar(int64_t total, bool enabled) : total_(total), enabled_(enabled) {}
  void Update(int64_t done, bool force = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r[%s] %3.0f%% %lld/%lld %.0f ev/s ", bar.c_str(), frac * 100,
                 static_cast<long long>(done), static_cast<long long>(total_),
                 secs > 0 ? done / secs : 0.0);
    std::fflush(stderr);
  }
  void Finish(int64_t done) {
    if (!enabled_) return;
    Update(done, true);
    std::fprintf(stderr, "\n");
  }

 private:
  int64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

int PublishItems(const ReplayFlags& flags, HistoryFormat format, KafkaProducer* producer,
                 const std::string& topic, int64_t* published) {
  std::vector<CatalogItem> items;
  if (format == HistoryFormat::kMovieLens) {
    auto read = ReadMovieLensItems(flags.items_file);
    if (!read.ok()) return Fail(read.status().message());
    items = std::move(read).value();
  } else {
    // One catalogue JSON object per line ({"item_id":..,"category":..,"brand":..}).
    std::FILE* f = std::fopen(flags.items_file.c_str(), "rb");
    if (f == nullptr) return Fail("cannot open " + flags.items_file);
    char* buf = nullptr;
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0;
    int rc = 0;
    while ((len = ::getline(&buf, &cap, f)) > 0) {
      ++line_no;
      std::string_view line(buf, static_cast<size_t>(len));
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (line.empty()) continue;
      auto item = ParseCatalogItem(line);
      if (!item.ok()) {
        rc =
            Fail(flags.items_file + ":" + std::to_string(line_no) + ": " + item.status().message());
        break;
      }
      items.push_back(std::move(item).value());
    }
    std::free(buf);
    std::fclose(f);
    if (rc != 0) return rc;
  }
  for (const auto& item : items) {
    Status st = producer->Produce(topic, item.item_id, EncodeCatalogItem(item));
    if (!st.ok()) return Fail(st.ToString());
    ++*published;
  }
  return 0;
}

int RunReplay(const CommandContext& ctx, const ReplayFlags& flags) {
  auto format = ParseHistoryFormat(flags.format);
  if (!format.ok()) return Fail(format.status().message(), 2);
  if (flags.rate > 0 && flags.speedup > 0)
    return Fail("--rate and --speedup exclude each other", 2);
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) return Fail(names.status().message(), 2);
  if (!flags.topic.empty()) names->clicks = flags.topic;
  if (!flags.items_topic.empty()) names->items = flags.items_topic;
  ProducerOptions popts;
  popts.properties = KafkaPropertiesFromConfig(ctx.config);
  auto brokers = RequireBrokers(ctx.config, flags.brokers, flags.bootstrap_file);
  if (!brokers.ok()) return Fail(brokers.status().message(), 2);
  popts.brokers = *brokers;

  // Read (and validate) everything first: replay is in timestamp order, and a bad line
  // should stop us before anything is published.
  HistoryReaderOptions ropts;
  ropts.format = *format;
  ropts.movielens_rating_events = flags.rating_events;
  HistoryReadStats stats;
  auto events = ReadHistoryFile(flags.file, ropts, flags.skip_bad, /*sort_by_time=*/true, &stats);
  if (!events.ok()) {
    return Fail(events.status().message() +
                (events.status().code() == Status::Code::kInvalidArgument
                     ? " (--skip-bad skips bad lines)"
                     : ""));
  }
  if (stats.skipped > 0) {
    std::fprintf(stderr, "streamrec replay: skipped %lld bad lines; the first: %s\n",
                 static_cast<long long>(stats.skipped), stats.first_skipped.message().c_str());
  }

  InstallStopSignalHandlers();
  if (int rc = RequireKafka("replay", ctx.config, popts.brokers); rc != 0) return rc;
  popts.stop = [] { return StopRequested(); };
  auto producer = KafkaProducer::Create(popts);
  if (!producer.ok()) return Fail(producer.status().ToString());
  int64_t items_published = 0;
  if (!flags.items_file.empty()) {
    int rc = PublishItems(flags, *format, producer->get(), names->items, &items_published);
    if (rc != 0) return rc;
  }

  ClickPublisherOptions copts;
  copts.clicks_topic = names->clicks;
  copts.dlq_topic = names->clicks_dlq;
  copts.use_event_time = true;
  ClickPublisher publisher(producer->get(), copts);
  ProgressBar progress(static_cast<int64_t>(events->size()), !flags.no_progress && ::isatty(2));
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_ts = events->empty() ? 0 : events->front().ts_ms;
  int64_t sent = 0;
  int exit_code = 0;
  for (const ClickEvent& e : *events) {
    if (StopRequested()) {
      exit_code = 130;
      break;
    }
    std::chrono::steady_clock::time_point due = start;
    if (flags.rate > 0) {
      due += std::chrono::microseconds(static_cast<int64_t>(sent * 1e6 / flags.rate));
    } else if (flags.speedup > 0) {
      due += std::chrono::microseconds(
          static_cast<int64_t>((e.ts_ms - first_ts) * 1e3 / flags.speedup));
    }
    while (std::chrono::steady_clock::now() < due && !StopRequested()) {
      (*producer)->Poll(0);
      progress.Update(sent);
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          due - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
    Status st = publisher.PublishEvent(e);
    if (!st.ok()) {
      std::fprintf(stderr, "\nstreamrec replay: %s\n", st.ToString().c_str());
      exit_code = 1;
      break;
    }
    ++sent;
    if ((sent & 1023) == 0) {
      (*producer)->Poll(0);
      progress.Update(sent);
    }
  }
  Status flushed = (*producer)->Flush(60000);
  progress.Finish(sent);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "replay: %lld events from %s (%s), %lld skipped, %lld items -> %s, %lld sent -> %s, %lld "
      "delivered, %lld failed, %.2f s, %.0f events/s\n",
      static_cast<long long>(events->size()), flags.file.c_str(), HistoryFormatName(*format),
      static_cast<long long>(stats.skipped), static_cast<long long>(items_published),
      names->items.c_str(), static_cast<long long>(sent), names->clicks.c_str(),
      static_cast<long long>((*producer)->delivered_count()),
      static_cast<long long>((*producer)->failed_count()), secs, secs > 0 ? sent / secs : 0.0);
  if (!flushed.ok()) {
    std::fprintf(stderr, "streamrec replay: %s\n", flushed.ToString().c_str());
    if (exit_code == 0) exit_code = 1;
  }
  return exit_code;
}

const CommandRegistration kReplay(
    "replay",
    "Publish an event-history file to clicks in timestamp order, with original timestamps",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<ReplayFlags>();
      sub->add_option("FILE", flags->file, "History file (\"-\" for stdin)")->required();
      sub->add_option("--format", flags->format, "movielens (u.data) | jsonl | csv")
          ->required()
          ->check(CLI::IsMember({"movielens", "jsonl", "csv"}));
      sub->add_option("--brokers", flags->brokers,
                      "bootstrap.servers (default: kafka.bootstrap.servers)");
      sub->add_option(
          "--bootstrap-file", flags->bootstrap_file,
          "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
      sub->add_option("--topic", flags->topic, "Clicks topic (default \"clicks\")");
      sub->add_option("--rate", flags->rate, "Events per second, > 0 (default: as fast as possible)")
          ->check(CLI::PositiveNumber);
      sub->add_option("--speedup", flags->speedup,
                      "Keep inter-arrival times, X times faster (e.g. 3600: an hour a second)")
          ->check(CLI::PositiveNumber);
      sub->add_flag("--skip-bad", flags->skip_bad,
                    "Skip (and count) unreadable lines instead of failing");
      sub->add_option("--items", flags->items_file,
                      "Also publish a catalogue to items: MovieLens u.item for --format movielens "
                      "(category = first genre), else JSON lines");
      sub->add_option("--items-topic", flags->items_topic, "Catalogue topic (default \"items\")");
      sub->add_flag("--rating-events", flags->rating_events,
                    "MovieLens: map ratings 1-2 view, 3 click, 4 add_to_cart, 5 purchase (default "
                    "all purchase: a rating is a watched film)");
      sub->add_flag("--no-progress", flags->no_progress, "No progress bar even on a terminal");
      sub->footer(
          "Exits non-zero naming FILE:LINE at the first unreadable line unless --skip-bad. Prints "
          "one "
          "summary line.");
      return [flags](const CommandContext& ctx) { return RunReplay(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
