// `streamrec replay`: publishes an event-history file to `clicks` in timestamp order
// with the original timestamps, paced by --rate or --speedup or as fast as possible; or,
// with --from-topic, re-publishes a time range of a topic (a backfill).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/progress_bar.h"
#include "apps/stop_signal.h"
#include "streams/catalog.h"
#include "streams/click_publisher.h"
#include "streams/history_reader.h"
#include "streams/kafka_producer.h"
#include "streams/kafka_properties.h"
#include "streams/topic_range_reader.h"
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
  std::string from_topic;
  std::string from_brokers;
  std::string start_time;
  std::string end_time;
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "streamrec replay: %s\n", msg.c_str());
  return code;
}

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
  ProgressBar progress(static_cast<int64_t>(events->size()), !flags.no_progress);
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

// --from-topic: every record of the source topic whose timestamp is in [start, end), as
// it is (key, value, headers, timestamp), to the target topic; each partition in offset
// order, so one user's events (keyed by user) keep their order.
int RunTopicReplay(const CommandContext& ctx, const ReplayFlags& flags) {
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) return Fail(names.status().message(), 2);
  const std::string target = flags.topic.empty() ? names->clicks : flags.topic;
  auto brokers = RequireBrokers(ctx.config, flags.brokers, flags.bootstrap_file);
  if (!brokers.ok()) return Fail(brokers.status().message(), 2);
  const std::string source_brokers = flags.from_brokers.empty() ? *brokers : flags.from_brokers;
  TopicRangeReaderOptions ro;
  ro.brokers = source_brokers;
  ro.properties = KafkaPropertiesFromConfig(ctx.config);
  ro.topic = flags.from_topic;
  if (!flags.start_time.empty()) {
    Result<int64_t> t = ParseTimeBound(flags.start_time);
    if (!t.ok()) return Fail("--start-time: " + t.status().message(), 2);
    ro.start_ms = *t;
  }
  if (!flags.end_time.empty()) {
    Result<int64_t> t = ParseTimeBound(flags.end_time);
    if (!t.ok()) return Fail("--end-time: " + t.status().message(), 2);
    ro.end_ms = *t;
  }
  if (ro.end_ms <= ro.start_ms) return Fail("--end-time must be after --start-time", 2);
  if (source_brokers == *brokers && ro.topic == target) {
    return Fail("--from-topic " + ro.topic + " is also the target topic on the same brokers: the "
                "range would be counted twice; name another topic (--topic) or cluster (--brokers)",
                2);
  }

  InstallStopSignalHandlers();
  if (int rc = RequireKafka("replay", ctx.config, source_brokers); rc != 0) return rc;
  if (source_brokers != *brokers) {
    if (int rc = RequireKafka("replay", ctx.config, *brokers); rc != 0) return rc;
  }
  auto reader = TopicRangeReader::Open(ro);
  if (!reader.ok()) return Fail(reader.status().ToString());
  ProducerOptions popts;
  popts.properties = ro.properties;
  popts.brokers = *brokers;
  popts.stop = [] { return StopRequested(); };
  auto producer = KafkaProducer::Create(popts);
  if (!producer.ok()) return Fail(producer.status().ToString());

  ProgressBar progress((*reader)->total_offsets(), !flags.no_progress);
  const auto start = std::chrono::steady_clock::now();
  int64_t first_ts = -1;
  int64_t sent = 0;
  int exit_code = 0;
  std::vector<Record> batch;
  while (exit_code == 0) {
    if (StopRequested()) {
      exit_code = 130;
      break;
    }
    batch.clear();
    Result<bool> more = (*reader)->Poll(200, &batch);
    if (!more.ok()) {
      std::fprintf(stderr, "\nstreamrec replay: %s\n", more.status().ToString().c_str());
      exit_code = 1;
      break;
    }
    if (!*more) break;
    for (const Record& r : batch) {
      if (first_ts < 0) first_ts = r.timestamp_ms;
      std::chrono::steady_clock::time_point due = start;
      if (flags.rate > 0) {
        due += std::chrono::microseconds(static_cast<int64_t>(sent * 1e6 / flags.rate));
      } else if (flags.speedup > 0) {
        due += std::chrono::microseconds(
            static_cast<int64_t>(std::max<int64_t>(0, r.timestamp_ms - first_ts) * 1e3 /
                                 flags.speedup));
      }
      while (std::chrono::steady_clock::now() < due && !StopRequested()) {
        (*producer)->Poll(0);
        progress.Update((*reader)->scanned());
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            due - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
      }
      if (StopRequested()) break;
      ProduceMessage m;
      m.topic = target;
      m.key = r.key;
      m.has_key = r.has_key;
      m.value = r.value;
      m.headers = r.headers.empty() ? nullptr : &r.headers;
      m.timestamp_ms = r.timestamp_ms;
      Status st = (*producer)->Produce(m);
      if (!st.ok()) {
        std::fprintf(stderr, "\nstreamrec replay: %s\n", st.ToString().c_str());
        exit_code = 1;
        break;
      }
      ++sent;
      if ((sent & 1023) == 0) (*producer)->Poll(0);
    }
    progress.Update((*reader)->scanned());
  }
  Status flushed = (*producer)->Flush(60000);
  progress.Finish((*reader)->scanned());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t delivered = (*producer)->delivered_count();
  std::printf(
      "replay: %lld of %lld records of %s in [%s, %s) (%zu partitions, %s) -> %s, %lld delivered, "
      "%lld failed, %.2f s, %.0f events/s\n",
      static_cast<long long>(sent), static_cast<long long>((*reader)->scanned()),
      flags.from_topic.c_str(), flags.start_time.empty() ? "the beginning" : flags.start_time.c_str(),
      flags.end_time.empty() ? "the end" : flags.end_time.c_str(), (*reader)->ranges().size(),
      (*reader)->used_time_index() ? "started at the broker's offsets for the start time"
                                   : "each partition scanned from its first offset",
      target.c_str(), static_cast<long long>(delivered),
      static_cast<long long>((*producer)->failed_count()), secs, secs > 0 ? sent / secs : 0.0);
  if (!flushed.ok()) {
    std::fprintf(stderr, "streamrec replay: %s\n", flushed.ToString().c_str());
    if (exit_code == 0) exit_code = 1;
  }
  if (exit_code == 0 && delivered != sent) {
    std::fprintf(stderr, "streamrec replay: %lld of %lld records were not delivered\n",
                 static_cast<long long>(sent - delivered), static_cast<long long>(sent));
    exit_code = 1;
  }
  return exit_code;
}

const CommandRegistration kReplay(
    "replay",
    "Publish an event-history file to clicks in timestamp order, with original timestamps; or "
    "re-publish a time range of a topic (--from-topic)",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<ReplayFlags>();
      sub->add_option("FILE", flags->file, "History file (\"-\" for stdin); not with --from-topic");
      sub->add_option("--format", flags->format,
                      "movielens (u.data) | jsonl | csv; required with FILE")
          ->check(CLI::IsMember({"movielens", "jsonl", "csv"}));
      sub->add_option("--from-topic", flags->from_topic,
                      "Re-publish the records of this topic (e.g. clicks) in the time range, as "
                      "they are, with their timestamps, to --topic: a backfill");
      sub->add_option("--from-brokers", flags->from_brokers,
                      "bootstrap.servers of --from-topic's cluster (default: --brokers)");
      sub->add_option("--start-time", flags->start_time,
                      "--from-topic: first record time, inclusive: ms since the epoch, "
                      "2024-11-22T10:06:40Z or 2024-11-22 (default: the beginning)");
      sub->add_option("--end-time", flags->end_time,
                      "--from-topic: end of the range, exclusive (default: every record there "
                      "when the replay starts)");
      sub->add_option("--brokers", flags->brokers,
                      "bootstrap.servers (default: kafka.bootstrap.servers)");
      sub->add_option(
          "--bootstrap-file", flags->bootstrap_file,
          "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
      sub->add_option("--topic", flags->topic,
                      "Clicks topic to publish to (default \"clicks\"); with --from-topic it "
                      "must differ from the source unless --brokers names another cluster");
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
          "one summary line.\n"
          "Backfill: streamrec replay --from-topic clicks --start-time 2024-11-22 --end-time "
          "2024-11-23 --topic clicks-backfill (or --brokers of a fresh pipeline's cluster).");
      return [flags](const CommandContext& ctx) {
        if (!flags->from_topic.empty()) {
          if (!flags->file.empty() || !flags->format.empty() || !flags->items_file.empty() ||
              flags->skip_bad || flags->rating_events) {
            return Fail("--from-topic reads a topic: no FILE, --format, --items, --skip-bad or "
                        "--rating-events with it",
                        2);
          }
          if (flags->rate > 0 && flags->speedup > 0) {
            return Fail("--rate and --speedup exclude each other", 2);
          }
          return RunTopicReplay(ctx, *flags);
        }
        if (!flags->start_time.empty() || !flags->end_time.empty() ||
            !flags->from_brokers.empty()) {
          return Fail("--start-time, --end-time and --from-brokers go with --from-topic", 2);
        }
        if (flags->file.empty()) return Fail("name a history FILE (or --from-topic TOPIC)", 2);
        if (flags->format.empty()) return Fail("--format is required with FILE", 2);
        return RunReplay(ctx, *flags);
      };
    });

}  // namespace
}  // namespace streamrec::apps
