#include "streams/broker_check.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "core/thread_annotations.h"
#include "streams/rdkafka_handles.h"

namespace streamrec {
namespace {

// librdkafka's error callback runs inside rd_kafka_poll() on the checking thread; its
// log callback on librdkafka's own threads. The last connection error explains a failure
// better than "timed out".
struct ErrorLog {
  Mutex mu;
  std::string last GUARDED_BY(mu);          // the newest error other than "all brokers down"
  std::string all_down GUARDED_BY(mu);      // ERR__ALL_BROKERS_DOWN's text, a fallback

  std::string Describe() {
    MutexLock lock(&mu);
    return last.empty() ? all_down : last;
  }
};

extern "C" void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* log = static_cast<ErrorLog*>(opaque);
  MutexLock lock(&log->mu);
  const char* text =
      reason != nullptr ? reason : rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    log->all_down = text;
  } else {
    log->last = text;
  }
}

// Connection failures are the expected outcome of a check against a missing cluster:
// they are reported once in the returned Status, not printed by librdkafka as they come.
extern "C" void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  spdlog::debug("[broker check] {} {} {}", level, fac, buf);
}

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string Seconds(int ms) {
  char buf[32];
  if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof(buf), "%d s", ms / 1000);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f s", ms / 1000.0);
  }
  return buf;
}

}  // namespace

std::vector<std::string> BootstrapServerList(const std::string& servers) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= servers.size()) {
    size_t comma = servers.find(',', start);
    if (comma == std::string::npos) comma = servers.size();
    std::string one = Trim(servers.substr(start, comma - start));
    if (!one.empty()) out.push_back(std::move(one));
    start = comma + 1;
  }
  return out;
}

Status WaitForBrokers(const BrokerCheckOptions& options) {
  KafkaProperties props = options.properties;
  if (!options.brokers.empty()) props["bootstrap.servers"] = options.brokers;
  std::string servers;
  if (auto it = props.find("bootstrap.servers"); it != props.end()) {
    servers = it->second;
  } else if (auto it2 = props.find("metadata.broker.list"); it2 != props.end()) {
    servers = it2->second;
  }
  const std::vector<std::string> tried = BootstrapServerList(servers);
  if (tried.empty()) {
    return Status::InvalidArgument("no Kafka brokers (set --brokers or kafka.bootstrap.servers)");
  }
  const std::string where = Join(tried, ",");

  auto errors = std::make_unique<ErrorLog>();
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka property " + k + "=" + v + ": " + errstr);
    }
  }
  rd_kafka_conf_set_error_cb(conf, OnError);
  rd_kafka_conf_set_log_cb(conf, OnLog);
  rd_kafka_conf_set_opaque(conf, errors.get());
  internal::RdKafkaHandle rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka client for ") + where + ": " + errstr);
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(options.timeout_ms);
  bool noticed = false;
  while (true) {
    if (options.stop && options.stop()) {
      return Status::Unavailable("stopped while waiting for Kafka at " + where);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (!noticed && options.on_slow &&
        now - start >= std::chrono::milliseconds(options.notice_after_ms)) {
      noticed = true;
      options.on_slow();
    }
    const int slice = static_cast<int>(std::max<int64_t>(
        1, std::min<int64_t>(options.slice_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    deadline - now)
                                                    .count())));
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, nullptr, &raw, slice);
    internal::MetadataHandle md(raw);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    rd_kafka_poll(rk.get(), 0);  // serves the error callback
  }
  rd_kafka_poll(rk.get(), 0);
  std::string detail = "tried: " + Join(tried, ", ");
  const std::string last = errors->Describe();
  if (!last.empty()) detail += "; last error: " + last;
  return Status::Unavailable("cannot reach Kafka at " + where + " within " +
                             Seconds(options.timeout_ms) + " (" + detail + ")");
}

}  // namespace streamrec
