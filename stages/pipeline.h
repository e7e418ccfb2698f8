#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "runtime/stage_runner.h"
#include "streams/topics.h"

namespace streamrec::serving {
class ServingOperator;
}

namespace streamrec::stages {

struct PipelineOptions {
  // Kafka bootstrap servers; empty (and no kafka.bootstrap.servers in the config) starts
  // the embedded broker with every topic.
  std::string brokers;
  // Write the embedded broker's address here when non-empty.
  std::string bootstrap_file;
  // Partitions per topic of the embedded broker. Default 4.
  int partitions = 4;
  // HTTP API of the serving stage, HOST:PORT (port 0 = any free port).
  std::string http = "127.0.0.1:8080";
  // Stage state and the model store; empty: a fresh temporary directory.
  std::string state_dir;
  // Keep the temporary state directory on exit.
  bool keep_state = false;
  // With `state_dir`: remove what the user, item and trainer stages stored there (their
  // partition stores and the model store; stages/stage_state.h) before starting, so they
  // start over from what the broker holds. For a state directory whose stored positions
  // do not match the broker's topics (a recreated topic, another or a reset broker: the
  // stages refuse to start and say so).
  bool reset_state = false;
  // Trainer defaults for an interactive run (a config key of the same name wins):
  // snapshot every this many seconds, batches of this many examples.
  double snapshot_every_seconds = 10;
  int64_t batch_size = 256;
  // Asked by every stage thread besides Stop() (e.g. the process's stop signal); may be
  // empty.
  std::function<bool()> external_stop;
};

// The whole system in one process (`streamrec run`, `streamrec bench prequential`): the
// embedded broker or an external cluster, the user, item and trainer stages each on its
// own thread, and the serving operator with its HTTP API. Start/Stop from one owner
// thread; serving() is thread-safe as ServingOperator is.
class Pipeline {
 public:
  static Result<std::unique_ptr<Pipeline>> Start(const Config& config, const PipelineOptions& options);
  // Stops (if not stopped) and removes a temporary state directory.
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Stops the serving operator and the stages in reverse start order; the first stage
  // error, if any. Idempotent.
  Status Stop();

  const std::string& brokers() const;
  bool embedded_broker() const;
  const std::string& state_dir() const;
  // Where batch views are written and adopted from: lambda.batch_dir, by default
  // <state_dir>/batch.
  const std::string& batch_dir() const;
  // Whether the batch layer runs on a schedule (lambda.batch_interval_minutes > 0).
  bool batch_scheduled() const;
  bool temporary_state() const;
  const TopicNames& topics() const;
  serving::ServingOperator& serving();
  // True once any stage thread has ended on its own or a serving loop failed (an error):
  // the owner should stop; Stop() returns the cause.
  bool StageEnded() const;

  struct Rep;

 private:
  explicit Pipeline(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::stages
