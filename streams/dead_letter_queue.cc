#include "streams/dead_letter_queue.h"

#include <xxhash.h>

#include <array>
#include <cinttypes>
#include <cstdio>

#include "streams/stream_metrics.h"
#include "streams/topics.h"

namespace streamrec {

namespace {

constexpr size_t kReasons = static_cast<size_t>(RejectReason::kUnknownEventType) + 1;

// One counter per reason (none for kNone), created together.
const std::array<prometheus::Counter*, kReasons>& RejectionCounters() {
  static const std::array<prometheus::Counter*, kReasons> counters = [] {
    std::array<prometheus::Counter*, kReasons> c{};
    for (size_t i = 1; i < c.size(); ++i) {
      c[i] =
          &EventsRejectedFamily().Add({{"reason", RejectReasonName(static_cast<RejectReason>(i))}});
    }
    return c;
  }();
  return counters;
}

}  // namespace

void RegisterRejectionCounters() { RejectionCounters(); }

void CountRejection(RejectReason reason) {
  const size_t i = static_cast<size_t>(reason);
  const auto& counters = RejectionCounters();
  if (i < counters.size() && counters[i] != nullptr) counters[i]->Increment();
}

namespace {

size_t HeaderBytes(const KafkaHeaders& headers) {
  size_t n = 0;
  for (const auto& [k, v] : headers) n += k.size() + v.size() + 16;
  return n;
}

}  // namespace

bool FitDeadLetter(std::string* key, std::string* value, KafkaHeaders* headers) {
  constexpr size_t kMaxHeaderBytes = 64 * 1024;
  constexpr size_t kMaxKeyBytes = 16 * 1024;
  // The two headers a cut value adds, and those added downstream (the stages' source mark).
  constexpr size_t kCutHeadersReserve = 512;
  if (key->size() + value->size() + HeaderBytes(*headers) <= kDeadLetterMaxBytes) return false;
  bool cut = false;
  if (HeaderBytes(*headers) > kMaxHeaderBytes) {
    // Keep our own reject headers (added last), drop the original ones before them.
    KafkaHeaders kept;
    for (const auto& h : *headers) {
      if (h.key.rfind("streamrec.reject.", 0) == 0 || h.key == kRejectSourceHeader) {
        kept.push_back({h.key, h.value.substr(0, 1024)});
      }
    }
    kept.push_back({"streamrec.reject.headers_dropped", std::to_string(headers->size() - kept.size())});
    *headers = std::move(kept);
    cut = true;
  }
  if (key->size() > kMaxKeyBytes) {
    key->resize(kMaxKeyBytes);
    cut = true;
  }
  const size_t used = key->size() + HeaderBytes(*headers) + kCutHeadersReserve;
  const size_t budget = kDeadLetterMaxBytes > used ? kDeadLetterMaxBytes - used : 0;
  if (value->size() > budget) {
    char digest[40];
    std::snprintf(digest, sizeof(digest), "xxh3-64:%016" PRIx64, XXH3_64bits(value->data(), value->size()));
    headers->push_back({kRejectOriginalBytesHeader, std::to_string(value->size())});
    headers->push_back({kRejectDigestHeader, digest});
    value->resize(budget);
    cut = true;
  }
  return cut;
}

DeadLetterQueue::DeadLetterQueue(KafkaProducer* producer, std::string topic)
    : producer_(producer), topic_(std::move(topic)) {
  RegisterRejectionCounters();
}

Status DeadLetterQueue::Send(const Record& original, RejectReason reason, std::string_view detail) {
  KafkaHeaders headers = original.headers;
  headers.push_back({kRejectReasonHeader, RejectReasonName(reason)});
  headers.push_back({kRejectDetailHeader, std::string(detail)});
  headers.push_back({kRejectSourceHeader, original.topic + "[" +
                                              std::to_string(original.partition) + "]@" +
                                              std::to_string(original.offset)});
  std::string key = original.key;
  std::string value = original.value;
  FitDeadLetter(&key, &value, &headers);
  ProduceMessage m;
  m.topic = topic_;
  m.key = key;
  m.has_key = original.has_key;
  m.value = value;
  m.headers = &headers;
  m.timestamp_ms = original.timestamp_ms > 0 ? original.timestamp_ms : 0;
  CountRejection(reason);
  return producer_->Produce(m);
}

Status DeadLetterQueue::Send(std::string_view key, bool has_key, std::string_view value,
                             RejectReason reason, std::string_view detail) {
  KafkaHeaders headers = {{kRejectReasonHeader, RejectReasonName(reason)},
                          {kRejectDetailHeader, std::string(detail)}};
  std::string fitted_key(key);
  std::string fitted_value(value);
  FitDeadLetter(&fitted_key, &fitted_value, &headers);
  ProduceMessage m;
  m.topic = topic_;
  m.key = fitted_key;
  m.has_key = has_key;
  m.value = fitted_value;
  m.headers = &headers;
  CountRejection(reason);
  return producer_->Produce(m);
}

}  // namespace streamrec
