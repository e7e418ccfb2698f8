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

// lambda.model: which two-tower model serves (DESIGN §2 "Which model serves").
//   online (default, the measured best): the online trainer's, announced on streamrec.models;
//   batch: the batch layer's, the model/ of each version announced on streamrec.batch;
//   warm:  the online trainer's, which starts from each new batch model (and then trains
//          on online).
enum class ServedModel { kOnline, kBatch, kWarm };
Result<ServedModel> ServedModelFromConfig(const Config& config);
const char* ServedModelName(ServedModel m);

// What the item stage's merge (lambda.merge, operators/lambda.h), the trainer (lambda.model
// warm) and serving (lambda.model batch) read of `streamrec.batch`.
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

  // kafka.*, topics.*, lambda.batch_dir (required: InvalidArgument naming `needed_by`
  // when empty).
  static Result<BatchViewFollowerOptions> FromConfig(const Config& config, const std::string& brokers,
                                                     const std::string& needed_by = "lambda.merge");
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
  // Whether the topic was read to the end offsets it had when following began.
  bool caught_up() const { return caught_up_.load(); }

 private:
  BatchViewFollower() = default;
  Status Run();

  BatchViewFollowerOptions options_;
  std::shared_ptr<operators::BatchViewInbox> inbox_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> offered_{0};
  std::atomic<bool> caught_up_{false};
  std::thread thread_;
};

}  // namespace streamrec::batch
