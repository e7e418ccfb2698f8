#include "streams/synthetic_source.h"

#include <chrono>

#include "core/clock.h"
#include "streams/catalog.h"
#include "streams/click_publisher.h"

namespace streamrec {

SyntheticClickSource::SyntheticClickSource(const SyntheticSourceOptions& options)
    : options_(options) {}

Result<std::unique_ptr<SyntheticClickSource>> SyntheticClickSource::Start(
    const SyntheticSourceOptions& options) {
  std::unique_ptr<SyntheticClickSource> source(new SyntheticClickSource(options));
  auto producer = KafkaProducer::Create(options.producer);
  if (!producer.ok()) return producer.status();
  source->producer_ = std::move(producer).value();
  source->thread_ = std::thread([s = source.get()] { s->Run(); });
  return source;
}

SyntheticClickSource::~SyntheticClickSource() {
  Stop();
  Wait();
}

void SyntheticClickSource::Stop() { stop_.store(true); }

void SyntheticClickSource::SetError(const Status& st) {
  MutexLock lock(&mu_);
  if (error_.ok()) error_ = st;
}

Status SyntheticClickSource::Wait() {
  {
    MutexLock lock(&mu_);
    if (joined_) return error_;
    joined_ = true;
  }
  if (thread_.joinable()) thread_.join();
  Status st = producer_->Flush(10000);
  if (!st.ok()) SetError(st);
  MutexLock lock(&mu_);
  return error_;
}

int64_t SyntheticClickSource::delivered() const { return producer_->delivered_count(); }
int64_t SyntheticClickSource::failed() const { return producer_->failed_count(); }

void SyntheticClickSource::Run() {
  SyntheticClickGenerator generator(options_.generator);
  if (options_.publish_catalog) {
    for (const auto& item : generator.items()) {
      if (stop_.load()) break;
      Status st = producer_->Produce(options_.items_topic, item.catalog.item_id,
                                     EncodeCatalogItem(item.catalog));
      if (!st.ok()) {
        SetError(st);
        finished_.store(true);
        return;
      }
      items_.fetch_add(1);
    }
  }
  ClickPublisherOptions popts;
  popts.clicks_topic = options_.clicks_topic;
  popts.use_event_time = true;
  ClickPublisher publisher(producer_.get(), popts);
  const auto start = std::chrono::steady_clock::now();
  int64_t n = 0;
  while (!stop_.load() && (options_.max_events < 0 || n < options_.max_events)) {
    if (options_.rate > 0) {
      const auto due =
          start + std::chrono::microseconds(static_cast<int64_t>(n * 1e6 / options_.rate));
      // Sleep in short steps so Stop() is prompt even at low rates.
      while (!stop_.load() && std::chrono::steady_clock::now() < due) {
        producer_->Poll(0);
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            due - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
      }
      if (stop_.load()) break;
    }
    ClickEvent event = generator.Next();
    if (options_.wall_clock_time) event.ts_ms = SystemClock().NowMillis();
    Status st = publisher.PublishEvent(event);
    if (!st.ok()) {
      SetError(st);
      break;
    }
    ++n;
    produced_.store(n);
    if ((n & 1023) == 0) producer_->Poll(0);
  }
  finished_.store(true);
}

}  // namespace streamrec
