#pragma once

// The Kafka broker of an integration or e2e test: the embedded broker (librdkafka's mock
// cluster, one per test, the default) or the real Apache Kafka broker that the CTest
// fixture `real_kafka` started with scripts/kafka.sh (tests labelled `real-kafka`).
//
// Which one is decided by the environment:
//   STREAMREC_TEST_BROKERS=HOST:PORT   a running real broker (a developer's own);
//   STREAMREC_TEST_BROKERS_DIR=DIR     kafka.sh's state folder: DIR/bootstrap, or, when the
//                                      broker could not be started for want of Java or
//                                      Maven, DIR/skip-reason (the test then skips);
//   neither                            the embedded broker.
// One real broker serves the whole CTest run, two tests at a time: on it every topic and
// consumer group of a test carries a suffix unique to the test's process (Topic(),
// Group(), Names()), so tests never see each other's records and leave nothing to clean.
// Used from the test's thread only.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/status.h"
#include "streams/embedded_broker.h"
#include "streams/topic_admin.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"

namespace streamrec::testing {

inline constexpr char kTestBrokersEnv[] = "STREAMREC_TEST_BROKERS";
inline constexpr char kTestBrokersDirEnv[] = "STREAMREC_TEST_BROKERS_DIR";

namespace internal {
inline std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace internal

// What the environment asks for. `real` false: the embedded broker. `skip_reason` set:
// the real broker was asked for and is missing for a reason that is not the code's fault
// (no Java, no Maven, Maven Central unreachable): the test skips with it.
struct TestBrokerTarget {
  bool real = false;
  std::string bootstrap;       // PLAINTEXT listener
  std::string sasl_bootstrap;  // SASL_PLAINTEXT listener (PLAIN, kRealBrokerSaslUser)
  std::optional<std::string> skip_reason;
  std::string error;  // a real broker was asked for and is missing for another reason
};

// The SASL/PLAIN credentials of scripts/kafka.sh's SASL_PLAINTEXT listener.
inline constexpr char kRealBrokerSaslUser[] = "streamrec";
inline constexpr char kRealBrokerSaslPassword[] = "streamrec-secret";

inline TestBrokerTarget TestBrokerTargetFromEnv() {
  TestBrokerTarget t;
  if (const char* b = std::getenv(kTestBrokersEnv); b != nullptr && *b != '\0') {
    t.real = true;
    t.bootstrap = b;
    return t;
  }
  const char* dir = std::getenv(kTestBrokersDirEnv);
  if (dir == nullptr || *dir == '\0') return t;
  t.real = true;
  const std::string d = dir;
  t.bootstrap = internal::Trimmed(ReadFile(d + "/bootstrap"));
  t.sasl_bootstrap = internal::Trimmed(ReadFile(d + "/sasl-bootstrap"));
  if (t.bootstrap.empty()) {
    const std::string why = internal::Trimmed(ReadFile(d + "/skip-reason"));
    if (!why.empty()) {
      t.skip_reason = "no real Kafka broker: " + why;
    } else {
      t.error = "no real Kafka broker in " + d +
                " (the CTest fixture real-kafka.start failed or did not run; see its output)";
    }
  }
  return t;
}

class TestBroker {
 public:
  // The embedded broker started with `options`, or, on the real broker, `options.topics`
  // (default: every default topic with `options.default_partitions`) created under this
  // test's names. A spec's name is the base name: Topic(name) is what clients use.
  static Result<std::unique_ptr<TestBroker>> Start(const EmbeddedBrokerOptions& options,
                                                   const TestBrokerTarget& target) {
    std::unique_ptr<TestBroker> broker(new TestBroker());
    if (!target.real) {
      auto embedded = EmbeddedBroker::Start(options);
      if (!embedded.ok()) return embedded.status();
      broker->embedded_ = std::move(embedded).value();
      broker->bootstrap_ = broker->embedded_->bootstrap_servers();
      return broker;
    }
    if (!target.error.empty()) return Status::Unavailable(target.error);
    if (target.skip_reason) return Status::Unavailable(*target.skip_reason);
    broker->bootstrap_ = target.bootstrap;
    broker->sasl_bootstrap_ = target.sasl_bootstrap;
    broker->suffix_ = "." + TestId();
    std::vector<TopicSpec> specs = options.topics;
    if (specs.empty()) specs = DefaultTopicSpecs(TopicNames(), options.default_partitions);
    for (const TopicSpec& spec : specs) {
      STREAMREC_RETURN_IF_ERROR(broker->CreateTopic(spec.name, spec.partitions, spec.compacted));
    }
    return broker;
  }

  bool real() const { return embedded_ == nullptr; }
  const std::string& bootstrap_servers() const { return bootstrap_; }
  // The SASL/PLAIN listener of the real broker (empty on the embedded one, or when the
  // broker came from STREAMREC_TEST_BROKERS).
  const std::string& sasl_bootstrap_servers() const { return sasl_bootstrap_; }
  // Mock-only controls (SetBrokerDown, ...); null on the real broker.
  EmbeddedBroker* embedded() const { return embedded_.get(); }

  // This test's name for topic `name`: `name` itself on the embedded broker.
  std::string Topic(const std::string& name) const { return name + suffix_; }
  // This test's name for consumer group `name`.
  std::string Group(const std::string& name) const { return name + suffix_; }
  // Every default topic (DESIGN §2) under this test's names.
  TopicNames Names() const {
    TopicNames n;
    for (std::string* s : {&n.clicks, &n.clicks_dlq, &n.items, &n.rec_requests,
                           &n.recommendations, &n.cooc_deltas, &n.training_examples,
                           &n.item_neighbors, &n.item_stats, &n.models, &n.batch_views,
                           &n.user_changelog, &n.item_changelog, &n.serving_members,
                           &n.ranker_examples}) {
      *s = Topic(*s);
    }
    return n;
  }
  // `--set topics.X=NAME` for each default topic, for the `streamrec` binary (empty on the
  // embedded broker, where the defaults are this test's).
  std::vector<std::string> TopicFlags() const {
    if (!real()) return {};
    const TopicNames n = Names();
    const std::pair<const char*, const std::string*> keys[] = {
        {"clicks", &n.clicks},
        {"clicks_dlq", &n.clicks_dlq},
        {"items", &n.items},
        {"rec_requests", &n.rec_requests},
        {"recommendations", &n.recommendations},
        {"cooc_deltas", &n.cooc_deltas},
        {"training_examples", &n.training_examples},
        {"item_neighbors", &n.item_neighbors},
        {"item_stats", &n.item_stats},
        {"models", &n.models},
        {"batch_views", &n.batch_views},
        {"user_changelog", &n.user_changelog},
        {"item_changelog", &n.item_changelog},
        {"serving_members", &n.serving_members},
        {"ranker_examples", &n.ranker_examples}};
    std::vector<std::string> flags;
    for (const auto& [key, name] : keys) {
      flags.push_back("--set");
      flags.push_back(std::string("topics.") + key + "=" + *name);
    }
    return flags;
  }

  // Creates topic Topic(name) (replication 1; compacted: cleanup.policy=compact).
  // On the embedded broker `compacted` has no effect (the mock does not compact).
  Status CreateTopic(const std::string& name, int partitions, bool compacted = false) {
    if (!real()) return embedded_->CreateTopic(name, partitions);
    TopicAdminOptions o;
    o.brokers = bootstrap_;
    o.replication_factor = 1;
    o.timeout_ms = 30000;
    TopicSpec spec;
    spec.name = Topic(name);
    spec.partitions = partitions;
    spec.compacted = compacted;
    auto results = CreateTopics(o, {spec});
    if (!results.ok()) return results.status();
    for (const auto& r : *results) STREAMREC_RETURN_IF_ERROR(r.status);
    // CreateTopics answers once the controller has the topic; the broker's metadata cache
    // learns of it a moment later, and a client asking in between is told it does not
    // exist. Wait (bounded) until metadata shows every partition.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
      auto topics = ListTopics(o);
      if (topics.ok()) {
        for (const TopicInfo& t : *topics) {
          if (t.name == spec.name && t.partitions == partitions) return Status::Ok();
        }
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Timeout("topic " + spec.name + " not in the broker's metadata 30 s after creation");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

 private:
  TestBroker() = default;

  // "<test suite>.<test>.<pid>", with characters Kafka refuses in topic names replaced.
  static std::string TestId() {
    std::string id;
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
      id = std::string(info->test_suite_name()) + "." + info->name();
    } else if (const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite()) {
      id = suite->name();
    }
    id += "." + std::to_string(::getpid());
    for (char& c : id) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) c = '_';
    }
    if (id.size() > 180) id = id.substr(id.size() - 180);
    return id;
  }

  std::unique_ptr<EmbeddedBroker> embedded_;
  std::string bootstrap_;
  std::string sasl_bootstrap_;
  std::string suffix_;  // "" on the embedded broker
};

}  // namespace streamrec::testing

// In a TEST body or a SetUp (void functions): `lhs` (a declaration such as `auto broker`, or
// a member `broker_`) receives the std::unique_ptr<TestBroker> started with `options`. Skips
// the test when the real broker was asked for but Java or Maven is missing; fails it when
// the broker cannot be had for another reason. Once per scope.
#define STREAMREC_TEST_BROKER_OR_SKIP(lhs, options)                                        \
  const ::streamrec::testing::TestBrokerTarget streamrec_test_broker_target =              \
      ::streamrec::testing::TestBrokerTargetFromEnv();                                      \
  if (streamrec_test_broker_target.skip_reason) {                                          \
    GTEST_SKIP() << *streamrec_test_broker_target.skip_reason;                             \
  }                                                                                         \
  auto streamrec_test_broker_or =                                                           \
      ::streamrec::testing::TestBroker::Start((options), streamrec_test_broker_target);    \
  ASSERT_TRUE(streamrec_test_broker_or.ok()) << streamrec_test_broker_or.status().ToString(); \
  lhs = std::move(streamrec_test_broker_or).value()
