// `streamrec bench`: whole-system benchmarks (micro-benchmarks live in bench/).
//   bench prequential   replays a history file through the live pipeline (every stage in
//                       this process, embedded broker) and, for each event in time
//                       order, asks for the user's top-k *before* the event is ingested:
//                       HitRate@k and NDCG@k over time (DESIGN §7, streaming evaluation).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/pipeline.h"
#include "apps/stop_signal.h"
#include "serving/recommendation_service.h"
#include "serving/serving_operator.h"
#include "streams/catalog.h"
#include "streams/click_publisher.h"
#include "streams/history_reader.h"
#include "streams/kafka_producer.h"
#include "streams/kafka_properties.h"

namespace streamrec::apps {
namespace {

struct PrequentialFlags {
  std::string data;
  std::string format = "movielens";
  std::string items;
  std::string model = "blend";  // cooc | two_tower | blend
  int k = 10;
  double rate = 1000;           // events per second
  int64_t limit = 0;            // 0 = every event
  int64_t window = 5000;        // events per reported window
  std::string report;
  int partitions = 4;
};

struct WindowStats {
  int64_t end_event = 0;
  int64_t events = 0;
  double hits = 0;
  double ndcg = 0;
  int64_t model_version = 0;
};

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "streamrec bench prequential: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

// The scorer a --model name stands for, as serving config overrides.
Status ApplyModel(const std::string& model, Config* config) {
  if (model == "cooc") {
    STREAMREC_RETURN_IF_ERROR(config->Set("serving.weights.two_tower", "0"));
    return config->Set("serving.candidates.two_tower", "0");
  }
  if (model == "two_tower") {
    STREAMREC_RETURN_IF_ERROR(config->Set("serving.weights.cooc", "0"));
    return config->Set("serving.candidates.cooc_per_item", "0");
  }
  if (model == "blend") return Status::Ok();
  return Status::InvalidArgument("--model must be cooc, two_tower or blend, not '" + model + "'");
}

Status PublishCatalogue(const std::string& path, const Pipeline& pipeline, const Config& config) {
  auto items = ReadMovieLensItems(path);
  if (!items.ok()) return items.status();
  ProducerOptions po;
  po.brokers = pipeline.brokers();
  po.properties = KafkaPropertiesFromConfig(config);
  auto producer = KafkaProducer::Create(po);
  if (!producer.ok()) return producer.status();
  for (const CatalogItem& item : *items) {
    STREAMREC_RETURN_IF_ERROR(
        (*producer)->Produce(pipeline.topics().items, item.item_id, EncodeCatalogItem(item)));
  }
  return (*producer)->Flush(30000);
}

int RunPrequential(const CommandContext& ctx, const PrequentialFlags& flags) {
  InstallStopSignalHandlers();
  auto format = ParseHistoryFormat(flags.format);
  if (!format.ok()) return Fail("--format", format.status());
  HistoryReaderOptions ro;
  ro.format = *format;
  auto events = ReadHistoryFile(flags.data, ro, /*skip_bad=*/false, /*sort_by_time=*/true);
  if (!events.ok()) return Fail("reading " + flags.data, events.status());
  if (flags.limit > 0 && static_cast<int64_t>(events->size()) > flags.limit) events->resize(flags.limit);

  Config config = ctx.config;
  if (Status st = ApplyModel(flags.model, &config); !st.ok()) return Fail("model", st);
  // Requests come from this process; the HTTP API is not needed.
  (void)config.Set("serving.http_enabled", "false");
  PipelineOptions po;
  po.partitions = flags.partitions;
  po.http = "127.0.0.1:0";
  po.snapshot_every_seconds = 5;
  auto pipeline = Pipeline::Start(config, po);
  if (!pipeline.ok()) return Fail("starting the pipeline", pipeline.status());
  if (!flags.items.empty()) {
    if (Status st = PublishCatalogue(flags.items, **pipeline, config); !st.ok()) {
      return Fail("catalogue " + flags.items, st);
    }
  }
  ProducerOptions prod;
  prod.brokers = (*pipeline)->brokers();
  prod.properties = KafkaPropertiesFromConfig(config);
  prod.linger_ms = 0;  // each event should reach the stages at once
  auto producer = KafkaProducer::Create(prod);
  if (!producer.ok()) return Fail("producer", producer.status());
  ClickPublisherOptions cpo;
  cpo.clicks_topic = (*pipeline)->topics().clicks;
  cpo.dlq_topic = (*pipeline)->topics().clicks_dlq;
  cpo.use_event_time = true;
  ClickPublisher publisher(producer->get(), cpo);
  serving::RecommendationService& service = (*pipeline)->serving().service();

  std::vector<WindowStats> windows;
  WindowStats current;
  double total_hits = 0, total_ndcg = 0;
  int64_t asked = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < events->size() && !StopRequested(); ++i) {
    const ClickEvent& event = (*events)[i];
    serving::RecRequest request;
    request.user_id = event.user_id;
    request.k = flags.k;
    auto response = service.Recommend(request);
    if (!response.ok()) return Fail("recommend", response.status());
    double hit = 0, gain = 0;
    for (size_t rank = 0; rank < response->items.size(); ++rank) {
      if (response->items[rank].item_id == event.item_id) {
        hit = 1;
        gain = 1.0 / std::log2(static_cast<double>(rank) + 2.0);
        break;
      }
    }
    ++asked;
    total_hits += hit;
    total_ndcg += gain;
    current.events++;
    current.hits += hit;
    current.ndcg += gain;
    current.model_version = response->model_version;
    if (current.events == flags.window) {
      current.end_event = static_cast<int64_t>(i) + 1;
      windows.push_back(current);
      std::fprintf(stderr, "  events %7lld  HitRate@%d %.4f  NDCG@%d %.4f  model v%lld\n",
                   static_cast<long long>(current.end_event), flags.k, current.hits / current.events,
                   flags.k, current.ndcg / current.events, static_cast<long long>(current.model_version));
      current = WindowStats{};
    }
    if (Status st = publisher.PublishEvent(event); !st.ok()) return Fail("publishing", st);
    (*producer)->Poll(0);
    if (flags.rate > 0) {
      const auto due = start + std::chrono::duration<double>(static_cast<double>(i + 1) / flags.rate);
      std::this_thread::sleep_until(due);
    }
    if ((*pipeline)->StageEnded()) return Fail("pipeline", (*pipeline)->Stop());
  }
  if (current.events > 0) {
    current.end_event = asked;
    windows.push_back(current);
  }
  (void)(*producer)->Flush(10000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Status stop = (*pipeline)->Stop();
  const double hit_rate = asked > 0 ? total_hits / asked : 0;
  const double ndcg = asked > 0 ? total_ndcg / asked : 0;
  std::printf("prequential %s: %lld events, HitRate@%d %.4f, NDCG@%d %.4f, %.1f s (%.0f events/s)\n",
              flags.model.c_str(), static_cast<long long>(asked), flags.k, hit_rate, flags.k, ndcg,
              seconds, asked / std::max(seconds, 1e-9));
  if (!flags.report.empty()) {
    std::ofstream out(flags.report);
    out << "{\"model\":\"" << flags.model << "\",\"data\":\"" << flags.data << "\",\"k\":" << flags.k
        << ",\"rate\":" << flags.rate << ",\"events\":" << asked << ",\"hit_rate\":" << hit_rate
        << ",\"ndcg\":" << ndcg << ",\"windows\":[";
    for (size_t w = 0; w < windows.size(); ++w) {
      const WindowStats& s = windows[w];
      out << (w ? "," : "") << "{\"end_event\":" << s.end_event << ",\"events\":" << s.events
          << ",\"hit_rate\":" << s.hits / s.events << ",\"ndcg\":" << s.ndcg / s.events
          << ",\"model_version\":" << s.model_version << "}";
    }
    out << "]}\n";
    if (!out) return Fail("writing " + flags.report, Status::IoError("write failed"));
  }
  if (!stop.ok()) return Fail("stopping", stop);
  return 0;
}

const CommandRegistration kBench(
    "bench", "Whole-system benchmarks: prequential evaluation of the live pipeline",
    [](CLI::App* sub) -> RunFn {
      sub->require_subcommand(1);
      auto flags = std::make_shared<PrequentialFlags>();
      CLI::App* preq = sub->add_subcommand(
          "prequential",
          "Replay a history file through the live pipeline; before each event ask for the user's "
          "top-k, count a hit if the event's item is in it, then ingest the event");
      preq->add_option("--data", flags->data, "History file (MovieLens u.data, jsonl or csv)")
          ->required()
          ->check(CLI::ExistingFile);
      preq->add_option("--format", flags->format, "movielens | jsonl | csv")->capture_default_str();
      preq->add_option("--items", flags->items, "MovieLens u.item catalogue to publish first")
          ->check(CLI::ExistingFile);
      preq->add_option("--model", flags->model, "cooc | two_tower | blend")->capture_default_str();
      preq->add_option("--k", flags->k, "Cut-off of HitRate and NDCG")
          ->check(CLI::Range(1, 1000))
          ->capture_default_str();
      preq->add_option("--rate", flags->rate, "Events per second (0 = as fast as possible)")
          ->capture_default_str();
      preq->add_option("--limit", flags->limit, "Only the first N events in time order (0 = all)");
      preq->add_option("--window", flags->window, "Events per reported window")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      preq->add_option("--report", flags->report, "Write the metrics over time as JSON here");
      preq->add_option("--partitions", flags->partitions, "Partitions per topic")
          ->check(CLI::Range(1, 64))
          ->capture_default_str();
      return [flags, preq](const CommandContext& ctx) -> int {
        if (preq->parsed()) return RunPrequential(ctx, *flags);
        std::fprintf(stderr, "streamrec bench: choose a benchmark; see --help\n");
        return 2;
      };
    });

}  // namespace
}  // namespace streamrec::apps
