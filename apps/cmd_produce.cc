// `streamrec produce`: JSON click events from stdin or a file (or the synthetic
// generator) to `clicks`, keyed by user, validated first; bad lines go to the DLQ.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/stop_signal.h"
#include "streams/click_publisher.h"
#include "streams/kafka_producer.h"
#include "streams/kafka_properties.h"
#include "streams/synthetic_source.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct ProduceFlags {
  std::string brokers;
  std::string bootstrap_file;
  std::string topic;
  std::string dlq_topic;
  std::string items_topic;
  std::string file;
  bool strict = false;
  int64_t synthetic = 0;
  uint64_t seed = 42;
  double rate = 0;
  int synthetic_items = 1000;
  int synthetic_users = 500;
};

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "streamrec produce: %s\n", msg.c_str());
  return code;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int ProduceSynthetic(const ProduceFlags& flags, const ProducerOptions& popts,
                     const TopicNames& names) {
  SyntheticSourceOptions so;
  so.producer = popts;
  so.generator.seed = flags.seed;
  so.generator.num_items = flags.synthetic_items;
  so.generator.num_users = flags.synthetic_users;
  so.clicks_topic = names.clicks;
  so.items_topic = names.items;
  so.rate = flags.rate;
  so.max_events = flags.synthetic;
  const auto start = std::chrono::steady_clock::now();
  auto source = SyntheticClickSource::Start(so);
  if (!source.ok()) return Fail(source.status().ToString());
  while (!(*source)->finished() && !WaitForStop(std::chrono::milliseconds(100))) {
  }
  (*source)->Stop();
  Status st = (*source)->Wait();
  const double secs = SecondsSince(start);
  std::printf(
      "produce: %lld synthetic events -> %s, %lld items -> %s, %lld delivered, %lld failed, %.2f "
      "s, "
      "%.0f events/s\n",
      static_cast<long long>((*source)->events_produced()), names.clicks.c_str(),
      static_cast<long long>((*source)->items_published()), names.items.c_str(),
      static_cast<long long>((*source)->delivered()), static_cast<long long>((*source)->failed()),
      secs, secs > 0 ? (*source)->events_produced() / secs : 0.0);
  if (!st.ok()) return Fail(st.ToString());
  return (*source)->failed() == 0 ? 0 : 1;
}

int RunProduce(const CommandContext& ctx, const ProduceFlags& flags) {
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) return Fail(names.status().message(), 2);
  if (!flags.topic.empty()) names->clicks = flags.topic;
  if (!flags.dlq_topic.empty()) names->clicks_dlq = flags.dlq_topic;
  if (!flags.items_topic.empty()) names->items = flags.items_topic;
  ProducerOptions popts;
  popts.properties = KafkaPropertiesFromConfig(ctx.config);
  auto brokers = RequireBrokers(ctx.config, flags.brokers, flags.bootstrap_file);
  if (!brokers.ok()) return Fail(brokers.status().message(), 2);
  popts.brokers = *brokers;
  popts.stop = [] { return StopRequested(); };
  InstallStopSignalHandlers();
  if (int rc = RequireKafka("produce", ctx.config, popts.brokers); rc != 0) return rc;
  if (flags.synthetic > 0) return ProduceSynthetic(flags, popts, *names);

  auto producer = KafkaProducer::Create(popts);
  if (!producer.ok()) return Fail(producer.status().ToString());
  // The topic's metadata before the first line: a topic first named by a produce call
  // can wait for librdkafka's next 1 s topic scan (1 in 5 runs into the embedded broker
  // took 1.2 s instead of 0.25). Only a warm-up: a missing topic fails on delivery, as
  // before.
  (void)(*producer)->PartitionCount(names->clicks, 2000);
  ClickPublisherOptions copts;
  copts.clicks_topic = names->clicks;
  copts.dlq_topic = names->clicks_dlq;
  copts.strict = flags.strict;
  ClickPublisher publisher(producer->get(), copts);

  std::ifstream file;
  const bool from_stdin = flags.file.empty() || flags.file == "-";
  if (!from_stdin) {
    file.open(flags.file, std::ios::binary);
    if (!file) return Fail("cannot open " + flags.file, 2);
  }
  std::istream& in = from_stdin ? std::cin : file;
  const std::string source = from_stdin ? "<stdin>" : flags.file;
  const auto start = std::chrono::steady_clock::now();
  std::string line;
  int64_t line_no = 0, lines = 0;
  int exit_code = 0;
  while (!StopRequested() && std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    ++lines;
    ClickParseResult parsed;
    Status st = publisher.PublishJson(line, &parsed);
    if (st.ok() && parsed.reason == RejectReason::kMessageTooLarge) {
      // Named, because its DLQ copy is cut to fit (with its size and digest in headers).
      std::fprintf(stderr, "streamrec produce: %s:%lld: %s; sent to %s, cut to fit\n", source.c_str(),
                   static_cast<long long>(line_no), parsed.detail.c_str(), names->clicks_dlq.c_str());
    }
    if (!st.ok()) {
      if (st.code() == Status::Code::kInvalidArgument) {  // --strict rejection
        std::fprintf(stderr, "streamrec produce: %s:%lld: %s\n", source.c_str(),
                     static_cast<long long>(line_no), st.message().c_str());
      } else {
        std::fprintf(stderr, "streamrec produce: %s\n", st.ToString().c_str());
      }
      exit_code = 1;
      break;
    }
    if ((lines & 1023) == 0) (*producer)->Poll(0);
  }
  if (in.bad()) {
    std::fprintf(stderr, "streamrec produce: error reading %s\n", source.c_str());
    exit_code = 1;
  }
  Status flushed = (*producer)->Flush(60000);
  const double secs = SecondsSince(start);
  std::printf(
      "produce: %lld lines, %lld accepted -> %s, %lld rejected -> %s, %lld delivered, %lld failed, "
      "%.3f s, %.0f lines/s\n",
      static_cast<long long>(lines), static_cast<long long>(publisher.counts().accepted),
      names->clicks.c_str(), static_cast<long long>(publisher.counts().rejected),
      flags.strict ? "(none, --strict)" : names->clicks_dlq.c_str(),
      static_cast<long long>((*producer)->delivered_count()),
      static_cast<long long>((*producer)->failed_count()), secs, secs > 0 ? lines / secs : 0.0);
  if (!flushed.ok()) {
    std::fprintf(stderr, "streamrec produce: %s\n", flushed.ToString().c_str());
    exit_code = 1;
  }
  return exit_code;
}

const CommandRegistration kProduce(
    "produce",
    "Validate JSON click events (stdin, --file, or --synthetic N) and produce them to clicks",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<ProduceFlags>();
      sub->add_option("--brokers", flags->brokers,
                      "bootstrap.servers (default: kafka.bootstrap.servers)");
      sub->add_option(
          "--bootstrap-file", flags->bootstrap_file,
          "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
      sub->add_option("--topic", flags->topic, "Clicks topic (default: topics.clicks, \"clicks\")");
      sub->add_option("--dlq-topic", flags->dlq_topic,
                      "Dead-letter topic (default \"clicks.dlq\")");
      sub->add_option("--items-topic", flags->items_topic,
                      "Catalogue topic for --synthetic (default \"items\")");
      sub->add_option("-f,--file", flags->file, "Read JSON lines from this file instead of stdin");
      sub->add_flag(
          "--strict", flags->strict,
          "Exit non-zero at the first invalid line (default: send it to the DLQ and go on)");
      sub->add_option("--synthetic", flags->synthetic,
                      "Produce N events of the synthetic generator (and its catalogue to items)")
          ->check(CLI::PositiveNumber);
      sub->add_option("--seed", flags->seed, "Seed of the synthetic generator")
          ->capture_default_str();
      sub->add_option("--rate", flags->rate,
                      "Synthetic events per second, > 0 (default: as fast as possible)")
          ->check(CLI::PositiveNumber);
      sub->add_option("--synthetic-items", flags->synthetic_items,
                      "Items of the synthetic catalogue")
          ->capture_default_str();
      sub->add_option("--synthetic-users", flags->synthetic_users,
                      "Users of the synthetic generator")
          ->capture_default_str();
      sub->footer(
          "Each line is one event of DESIGN §2, produced unchanged with key user_id. Rejected "
          "lines "
          "go unchanged to the DLQ with header streamrec.reject.reason. Prints one summary line.");
      return [flags](const CommandContext& ctx) { return RunProduce(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
