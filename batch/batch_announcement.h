#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch_manifest.h"
#include "core/status.h"
#include "streams/kafka_producer.h"

namespace streamrec::batch {

// The message announcing a batch view version on `streamrec.batch` (compacted, one
// partition; key: the view's name, so the topic keeps the newest version of each view),
// like the models' announcement on `streamrec.models`:
// {"view":"items","version":7,"path":"/views/batch-v000007","created_ms":..,
//  "source":"topic","topic":"clicks","cutoff":[{"partition":0,"end":120},..],
//  "events":..,"max_event_ts_ms":..,"manifest_xxh3":".."}
// `cutoff` is what a speed layer re-bases to (empty for a file source, whose `path` and
// `lines` name the history instead); manifest_xxh3 is the checksum of manifest.json, which
// holds the checksums of every other file.
struct BatchAnnouncement {
  std::string view;
  int64_t version = 0;
  std::string path;  // the version directory, absolute
  int64_t created_ms = 0;
  std::string source = "topic";  // "topic" or "file"
  std::string topic;             // source topic
  std::vector<PartitionRange> cutoff;
  std::string file;  // source file
  int64_t lines = 0;
  int64_t events = 0;
  int64_t max_event_ts_ms = 0;
  std::string manifest_xxh3;

  // From a committed version's manifest (path made absolute; the manifest's checksum read
  // from disk).
  static Result<BatchAnnouncement> FromManifest(const BatchManifest& manifest);
  std::string ToJson() const;
  static Result<BatchAnnouncement> FromJson(std::string_view json);
};

// Produces `announcement` to `topic` (key: its view) and waits up to `timeout_ms` for
// the broker's acknowledgement.
Status Announce(const BatchAnnouncement& announcement, const std::string& topic, ProducerOptions options,
                int timeout_ms = 30000);

}  // namespace streamrec::batch
