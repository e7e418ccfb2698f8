#include "batch/batch_announcement.h"

#include <climits>
#include <cstdlib>

#include <simdjson.h>

#include "core/file_system.h"
#include "core/json_writer.h"

namespace streamrec::batch {

Result<BatchAnnouncement> BatchAnnouncement::FromManifest(const BatchManifest& m) {
  BatchAnnouncement a;
  a.view = m.view;
  a.version = m.version;
  char resolved[PATH_MAX];
  if (::realpath(m.dir.c_str(), resolved) == nullptr) return Status::NotFound("no batch view at " + m.dir);
  a.path = resolved;
  a.created_ms = m.created_ms;
  if (m.source.kind == BatchSource::Kind::kTopic) {
    a.source = "topic";
    a.topic = m.source.topic;
    a.cutoff = m.source.partitions;
  } else {
    a.source = "file";
    a.file = m.source.path;
    a.lines = m.source.lines;
  }
  a.events = m.events;
  a.max_event_ts_ms = m.max_event_ts_ms;
  auto sum = FileChecksum(file_system::JoinPath(m.dir, kManifestFileName));
  if (!sum.ok()) return sum.status();
  a.manifest_xxh3 = *sum;
  return a;
}

std::string BatchAnnouncement::ToJson() const {
  JsonWriter j;
  j.BeginObject();
  j.Key("view").String(view);
  j.Key("version").Int(version);
  j.Key("path").String(path);
  j.Key("created_ms").Int(created_ms);
  j.Key("source").String(source);
  if (source == "topic") {
    j.Key("topic").String(topic);
    j.Key("cutoff").BeginArray();
    for (const PartitionRange& p : cutoff) {
      j.BeginObject().Key("partition").Int(p.partition).Key("start").Int(p.start).Key("end").Int(p.end).EndObject();
    }
    j.EndArray();
  } else {
    j.Key("file").String(file);
    j.Key("lines").Int(lines);
  }
  j.Key("events").Int(events);
  j.Key("max_event_ts_ms").Int(max_event_ts_ms);
  j.Key("manifest_xxh3").String(manifest_xxh3);
  j.EndObject();
  return j.Release();
}

Result<BatchAnnouncement> BatchAnnouncement::FromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::InvalidArgument("batch announcement: not a JSON object");
  }
  BatchAnnouncement a;
  bool ok = true;
  auto str = [&](const char* key, std::string* out) {
    std::string_view v;
    if (root[key].get_string().get(v) != simdjson::SUCCESS) {
      ok = false;
    } else {
      *out = std::string(v);
    }
  };
  auto num = [&](simdjson::dom::element obj, const char* key, int64_t* out) {
    if (obj[key].get_int64().get(*out) != simdjson::SUCCESS) ok = false;
  };
  str("view", &a.view);
  num(root, "version", &a.version);
  str("path", &a.path);
  num(root, "created_ms", &a.created_ms);
  str("source", &a.source);
  num(root, "events", &a.events);
  num(root, "max_event_ts_ms", &a.max_event_ts_ms);
  str("manifest_xxh3", &a.manifest_xxh3);
  if (a.source == "topic") {
    str("topic", &a.topic);
    simdjson::dom::array parts;
    if (root["cutoff"].get_array().get(parts) != simdjson::SUCCESS) {
      ok = false;
    } else {
      for (simdjson::dom::element p : parts) {
        PartitionRange r;
        int64_t partition = 0;
        num(p, "partition", &partition);
        r.partition = static_cast<int32_t>(partition);
        num(p, "start", &r.start);
        num(p, "end", &r.end);
        a.cutoff.push_back(r);
      }
    }
  } else if (a.source == "file") {
    str("file", &a.file);
    num(root, "lines", &a.lines);
  } else {
    ok = false;
  }
  if (!ok || a.view.empty() || a.path.empty()) {
    return Status::InvalidArgument(
        "batch announcement: view, version, path, created_ms, source (topic with cutoff, or file with lines), "
        "events, max_event_ts_ms and manifest_xxh3 are required");
  }
  return a;
}

Status Announce(const BatchAnnouncement& announcement, const std::string& topic, ProducerOptions options,
                int timeout_ms) {
  auto producer = KafkaProducer::Create(std::move(options));
  if (!producer.ok()) return producer.status();
  STREAMREC_RETURN_IF_ERROR((*producer)->Produce(topic, announcement.view, announcement.ToJson()));
  Status flushed = (*producer)->Flush(timeout_ms);
  if (!flushed.ok()) return flushed.WithContext("announcing on " + topic);
  if ((*producer)->delivered_count() != 1) {
    return Status::Unavailable("the announcement on " + topic + " was not acknowledged");
  }
  return Status::Ok();
}

}  // namespace streamrec::batch
