#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "batch/batch_announcement.h"
#include "core/config.h"
#include "core/status.h"
#include "operators/lambda.h"
#include "streams/kafka_properties.h"

namespace streamrec::batch {

// What the item stage's merge (lambda.merge, operators/lambda.h) reads of
// `streamrec.batch`.
struct BatchViewFollowerOptions {
  std::string brokers;
  KafkaProperties properties;
  std::string topic = "streamrec.batch";  // topics.batch_views
  std::string clicks_topic = "clicks";    // topics.clicks: the cutoff must be of it
  // lambda.batch_dir: an announced version is adopted only if its path resolves inside
  // this directory (`streamrec batch --out`), so a forged announcement cannot make the
  // item stage read another directory.
  std::string root;
  std::string view = "items";

  // kafka.*, topics.*, lambda.batch_dir (required: InvalidArgument when empty).
  static Result<BatchViewFollowerOptions> FromConfig(const Config& config, const std::string& brokers);
};

// The adoptable form of an announcement: its version's `view/` and its cutoff (each
// partition's end offset), once the version is checked: the view and source topic are
// the expected ones, the path lies inside `root`, the manifest names the same version,
// and every file matches its size and checksum (VerifyVersion). Reads the files.
Result<operators::BatchViewRef> AdoptableView(const BatchAnnouncement& announcement,
                                              const BatchViewFollowerOptions& options);

// Follows `streamrec.batch` on a thread of its own (a runtime::TableReader, from the
// beginning: the newest announcement wins) and offers every adoptable version to `inbox`,
// where the item-stage tasks pick it up at their next flush. Announcements that are not
// adoptable are logged and skipped.
class BatchViewFollower {
 public:
  static Result<std::unique_ptr<BatchViewFollower>> Start(BatchViewFollowerOptions options,
                                                          std::shared_ptr<operators::BatchViewInbox> inbox);
  ~BatchViewFollower();
  void Stop();
  // Versions offered so far (for tests and logs).
  int64_t offered() const { return offered_.load(); }

 private:
  BatchViewFollower() = default;
  Status Run();

  BatchViewFollowerOptions options_;
  std::shared_ptr<operators::BatchViewInbox> inbox_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> offered_{0};
  std::thread thread_;
};

}  // namespace streamrec::batch
