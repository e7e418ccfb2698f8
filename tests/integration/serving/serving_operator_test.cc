// The serving operator against the embedded broker: global tables from their topics,
// requests on rec-requests answered on recommendations, models hot-swapped from
// streamrec.models, and events posted over HTTP flowing back through clicks.
#include "serving/serving_operator.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/id_hash.h"
#include "core/records.h"
#include "serving/ranking_example.h"
#include "serving/rec_json.h"
#include "streams/click_event.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/test_broker.h"
#include "tests/support/tiny_trainer.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec::serving {
namespace {

namespace fs = std::filesystem;

// Polls `done` every 20 ms for at most 30 s.
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 1500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class ServingOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/serving_operator_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    EmbeddedBrokerOptions bopts;
    bopts.default_partitions = 2;
    STREAMREC_TEST_BROKER_OR_SKIP(broker_, bopts);
    ProducerOptions popts;
    popts.brokers = broker_->bootstrap_servers();
    auto producer = KafkaProducer::Create(popts);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  void TearDown() override {
    if (op_ != nullptr) op_->Stop();
    op_.reset();
    producer_.reset();
    broker_.reset();
    fs::remove_all(dir_);
  }

  // `topic` is a default topic name; on the real broker the test's own (TestBroker::Topic).
  void Produce(const std::string& topic, const std::string& key, const std::string& value) {
    ASSERT_TRUE(producer_->Produce(broker_->Topic(topic), key, value).ok());
  }
  void Flush() { ASSERT_TRUE(producer_->Flush(10000).ok()); }

  void StartOperator(const std::function<void(ServingOperatorOptions&)>& tweak = {}) {
    ServingOperatorOptions options;
    options.brokers = broker_->bootstrap_servers();
    options.topics = broker_->Names();
    options.group_id = broker_->Group(options.group_id);
    options.poll_timeout_ms = 50;
    options.service.recommender.popular_weight = 0.1;
    if (tweak) tweak(options);
    op_ = std::make_unique<ServingOperator>(options);
    ASSERT_TRUE(op_->Start().ok());
  }

  // Every recommendations message so far, by request id.
  std::map<std::string, std::string> ReadResponses(size_t n) {
    if (consumer_ == nullptr) {
      ConsumerOptions copts;
      copts.brokers = broker_->bootstrap_servers();
      auto c = KafkaConsumer::Create(copts);
      EXPECT_TRUE(c.ok());
      consumer_ = std::move(c).value();
      std::vector<TopicPartitionOffset> tps;
      for (int32_t p = 0; p < 2; ++p) {
        tps.push_back({broker_->Topic("recommendations"), p, kOffsetBeginning});
      }
      EXPECT_TRUE(consumer_->Assign(tps).ok());
    }
    for (int i = 0; i < 300 && responses_.size() < n; ++i) {
      std::vector<Record> batch;
      auto got = consumer_->PollBatch(100, 100, &batch);
      EXPECT_TRUE(got.ok());
      for (const Record& r : batch) {
        // Responses carry request_id first; error objects too (when known).
        const auto pos = r.value.find("\"request_id\":\"");
        std::string id = "?";
        if (pos != std::string::npos) {
          const size_t start = pos + 14;
          id = r.value.substr(start, r.value.find('"', start) - start);
        }
        responses_[id] = r.value;
        EXPECT_EQ(r.key, "u1");
      }
    }
    return responses_;
  }

  std::string dir_;
  std::unique_ptr<testing::TestBroker> broker_;
  std::unique_ptr<KafkaProducer> producer_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::map<std::string, std::string> responses_;
  std::unique_ptr<ServingOperator> op_;
};

std::string Neighbors(const std::string& id, std::vector<std::pair<std::string, double>> list) {
  ItemNeighbors nb;
  nb.item_id = id;
  nb.item_key = HashId(id);
  for (const auto& [n, s] : list) nb.neighbors.push_back({HashId(n), n, s, s});
  return EncodeItemNeighbors(nb);
}

TEST_F(ServingOperatorTest, AnswersRequestsFromTablesAndFreshClicks) {
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    Produce("items", id, std::string("{\"item_id\":\"") + id + "\",\"available\":" +
                             (std::string(id) == "e" ? "false" : "true") + "}");
  }
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"b", 4}, {"c", 2}, {"e", 9}}));
  ItemStats stats;
  stats.item_id = "d";
  stats.item_key = HashId("d");
  stats.popularity = 3;
  Produce("streamrec.item-stats", "d", EncodeItemStats(stats));
  Produce("clicks", "u1", R"({"user_id":"u1","item_id":"a","event":"click","ts":1732270000000})");
  Flush();
  StartOperator();
  ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().ready; }));
  ASSERT_TRUE(WaitFor([&] { return !op_->service().history().Get(HashId("u1")).empty(); }));

  Produce("rec-requests", "u1", R"({"request_id":"r1","user_id":"u1","k":3})");
  Produce("rec-requests", "u1", R"({"request_id":"r2","user_id":"u1","k":0})");
  Produce("rec-requests", "u1", R"({"request_id":"r3",)");
  Flush();
  auto responses = ReadResponses(3);
  ASSERT_EQ(responses.size(), 3u);
  // a seen; e unavailable; b (cooc 1), c (.5), d trending (.1).
  EXPECT_EQ(responses["r1"],
            R"({"request_id":"r1","user_id":"u1","model_version":0,"cold_start":false,"items":[)"
            R"({"item_id":"b","score":1,"sources":["cooc"]},)"
            R"({"item_id":"c","score":0.5,"sources":["cooc"]},)"
            R"({"item_id":"d","score":0.1,"sources":["popular"]}]})");
  EXPECT_EQ(responses["r2"],
            R"({"request_id":"r2","user_id":"u1","error":{"code":"invalid_argument",)"
            R"("message":"k must be positive, got 0"}})");
  EXPECT_EQ(responses["?"],
            R"({"error":{"code":"invalid_argument","message":"request is not valid JSON"}})");
  EXPECT_EQ(op_->kafka_requests_answered(), 3);

  // A neighbour-list update reaches the next answer.
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"c", 5}}));
  Flush();
  ASSERT_TRUE(WaitFor([&] {
    auto nb = op_->service().neighbors().Get(HashId("a"));
    return nb != nullptr && nb->size() == 1;
  }));
  Produce("rec-requests", "u1", R"({"request_id":"r4","user_id":"u1","k":1})");
  Flush();
  responses = ReadResponses(4);
  auto r4 = DecodeRecResponse(responses["r4"]);
  ASSERT_TRUE(r4.ok()) << responses["r4"];
  ASSERT_EQ(r4->response.items.size(), 1u);
  EXPECT_EQ(r4->response.items[0].item_id, "c");
}

TEST_F(ServingOperatorTest, PostedEventsFlowThroughClicksIntoRecommendations) {
  Produce("items", "a", R"({"item_id":"a"})");
  Produce("items", "b", R"({"item_id":"b"})");
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"b", 1}}));
  Flush();
  StartOperator();
  ASSERT_NE(op_->http(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().tables_loaded; }));
  httplib::Client client("127.0.0.1", op_->http()->port());
  auto res = client.Get("/v1/recommendations?user_id=u7&k=1");
  ASSERT_TRUE(res);
  auto before = DecodeRecResponse(res->body);
  ASSERT_TRUE(before.ok()) << res->body;
  EXPECT_TRUE(before->response.cold_start);

  res = client.Post("/v1/events",
                    R"({"user_id":"u7","item_id":"a","event":"click","ts":1732270000000})",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  // The event goes to `clicks`, comes back through the request loop's consumer, and
  // the user's next recommendations follow a's neighbours.
  std::string body;
  ASSERT_TRUE(WaitFor([&] {
    auto r = client.Get("/v1/recommendations?user_id=u7&k=1");
    body = r ? r->body : "";
    return body.find(R"("cold_start":false)") != std::string::npos;
  })) << body;
  EXPECT_EQ(body,
            R"({"request_id":"","user_id":"u7","model_version":0,"cold_start":false,"items":[)"
            R"({"item_id":"b","score":1,"sources":["cooc"]}]})");
}

// Every `clicks` record so far (both partitions), waiting until `n` arrived (at most 30 s).
std::vector<Record> ReadClicks(const testing::TestBroker& broker, size_t n) {
  ConsumerOptions copts;
  copts.brokers = broker.bootstrap_servers();
  auto c = KafkaConsumer::Create(copts);
  EXPECT_TRUE(c.ok());
  std::vector<TopicPartitionOffset> tps;
  for (int32_t p = 0; p < 2; ++p) tps.push_back({broker.Topic("clicks"), p, kOffsetBeginning});
  EXPECT_TRUE((*c)->Assign(tps).ok());
  std::vector<Record> out;
  for (int i = 0; i < 300 && out.size() < n; ++i) EXPECT_TRUE((*c)->PollBatch(100, 100, &out).ok());
  return out;
}

// 202 means Kafka acknowledged the events; with the broker down, 503 (a JSON error) once
// serving.events_ack_timeout_ms passed, and 202 again once the broker is back.
TEST_F(ServingOperatorTest, PostedEventsAreAcceptedOnlyOnceKafkaAcknowledgedThem) {
  StartOperator([](ServingOperatorOptions& o) { o.events_ack_timeout_ms = 1500; });
  ASSERT_NE(op_->http(), nullptr);
  httplib::Client client("127.0.0.1", op_->http()->port());
  client.set_read_timeout(60, 0);
  const auto event = [](int i) {
    return R"({"user_id":"u7","item_id":"i)" + std::to_string(i) +
           R"(","event":"click","ts":1732270000000})";
  };
  auto res = client.Post("/v1/events", event(1), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  // Acknowledged means written: it is on `clicks` already.
  ASSERT_EQ(ReadClicks(*broker_, 1).size(), 1u);

  if (broker_->embedded() == nullptr) GTEST_SKIP() << "takes the embedded broker down";
  ASSERT_TRUE(broker_->embedded()->SetBrokerDown(-1).ok());
  const auto posted = std::chrono::steady_clock::now();
  res = client.Post("/v1/events", "[" + event(2) + "," + event(3) + "]", "application/json");
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - posted).count();
  std::printf("[ measured ] POST /v1/events with the broker down: %.2f s to its answer\n", secs);
  ASSERT_TRUE(res) << "no answer";
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_EQ(res->body.rfind(R"({"error":{"code":"unavailable","message":")", 0), 0u) << res->body;
  EXPECT_NE(res->body.find("not acknowledged by Kafka within 1500 ms"), std::string::npos)
      << res->body;
  EXPECT_LT(secs, 30);  // bounded (the bound is 1.5 s; a loaded machine is slow)

  ASSERT_TRUE(broker_->embedded()->SetBrokerUp(-1).ok());
  // The client retries until the producer reconnected (librdkafka backs off up to 10 s).
  int status = 0;
  for (int i = 0; i < 30 && status != 202; ++i) {
    res = client.Post("/v1/events", event(4), "application/json");
    ASSERT_TRUE(res);
    status = res->status;
    if (status != 202) {
      EXPECT_EQ(status, 503) << res->body;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ASSERT_EQ(status, 202) << res->body;
  // Events 1 and 4 are there. 2 and 3 were refused: their messages expired after
  // message.timeout.ms (= the ack timeout), unless the broker came back first (at least
  // once: the client was told 503 and may send them again).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<Record> clicks = ReadClicks(*broker_, 2);
  std::set<std::string> items;
  for (const Record& r : clicks) {
    ClickEventParser parser;
    auto parsed = parser.Parse(r.value);
    ASSERT_TRUE(parsed.ok()) << r.value;
    items.insert(parsed.event.item_id);
  }
  EXPECT_TRUE(items.count("i1") && items.count("i4")) << clicks.size();
}

// The broker goes away and comes back (issue 14 item 3): serving keeps answering from
// the tables and windows it has, /readyz stays 200 and says "kafka_reachable": false,
// then true again once the broker is back.
TEST_F(ServingOperatorTest, KeepsAnsweringWhileKafkaIsAwayAndReadyzSaysSo) {
  if (broker_->embedded() == nullptr) GTEST_SKIP() << "takes the embedded broker down";
  for (const char* id : {"a", "b", "c"}) {
    Produce("items", id, std::string("{\"item_id\":\"") + id + "\",\"available\":true}");
  }
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"b", 4}, {"c", 2}}));
  Produce("clicks", "u1", R"({"user_id":"u1","item_id":"a","event":"click","ts":1732270000000})");
  Flush();
  StartOperator();
  ASSERT_NE(op_->http(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().ready; }));
  ASSERT_TRUE(WaitFor([&] { return !op_->service().history().Get(HashId("u1")).empty(); }));
  httplib::Client client("127.0.0.1", op_->http()->port());
  client.set_read_timeout(30, 0);
  auto readyz = [&] { return client.Get("/readyz"); };
  auto res = readyz();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(R"("kafka_reachable":true)"), std::string::npos) << res->body;

  ASSERT_TRUE(broker_->embedded()->SetBrokerDown(-1).ok());
  const auto down = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return !op_->service().GetReadiness().kafka_reachable; }));
  std::printf("[ measured ] /readyz marked Kafka unreachable %.1f s after the outage began\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - down).count());
  res = readyz();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << "still serving: " << res->body;
  EXPECT_NE(res->body.find(R"("kafka_reachable":false)"), std::string::npos) << res->body;
  res = client.Get("/v1/recommendations?user_id=u1&k=2");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(R"("item_id":"b")"), std::string::npos) << res->body;

  ASSERT_TRUE(broker_->embedded()->SetBrokerUp(-1).ok());
  ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().kafka_reachable; }));
  res = readyz();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(R"("kafka_reachable":true)"), std::string::npos) << res->body;
  // And it follows the topics again.
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"c", 5}}));
  Flush();
  EXPECT_TRUE(WaitFor([&] {
    auto nb = op_->service().neighbors().Get(HashId("a"));
    return nb != nullptr && nb->size() == 1;
  }));
  EXPECT_FALSE(op_->failed()) << op_->error().ToString();
}

TEST_F(ServingOperatorTest, HotSwapsAnnouncedModelsAndRefusesCorruptOnes) {
  auto trainer = training::Trainer::Create(testing::TinyTrainerOptions(dir_ + "/store"));
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::vector<training::SnapshotManifest> manifests;
  for (int v = 0; v < 3; ++v) {
    for (int i = 0; i < 16; ++i) {
      TrainingExample e;
      e.user_id = "u" + std::to_string(i % 4);
      e.user_key = HashId(e.user_id);
      e.item_id = "i" + std::to_string(i % 6);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1000000 + i;
      ASSERT_TRUE((*trainer)->AddExample(e).ok());
    }
    auto m = (*trainer)->WriteSnapshot(2000000 + v);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manifests.push_back(*m);
  }
  StartOperator();
  Produce("streamrec.models", "two_tower",
          training::ModelAnnouncement::FromManifest(manifests[0]).ToJson());
  Flush();
  ASSERT_TRUE(WaitFor([&] { return op_->service().models().version() == manifests[0].version; }));

  // Version 2 is announced with a checksum its directory doesn't match: refused.
  auto bad = training::ModelAnnouncement::FromManifest(manifests[1]);
  bad.checksum = "0123456789abcdef";
  Produce("streamrec.models", "two_tower", bad.ToJson());
  Produce("streamrec.models", "ranker", R"({"component":"ranker","version":99,"path":"/x"})");
  Flush();
  ASSERT_TRUE(WaitFor([&] { return !op_->service().models().last_refusal().ok(); }));
  EXPECT_EQ(op_->service().models().version(), manifests[0].version);

  Produce("streamrec.models", "two_tower",
          training::ModelAnnouncement::FromManifest(manifests[2]).ToJson());
  Flush();
  ASSERT_TRUE(WaitFor([&] { return op_->service().models().version() == manifests[2].version; }));
  RecRequest request;
  request.user_id = "u1";
  request.k = 2;
  auto response = op_->service().Recommend(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->model_version, manifests[2].version);
}

// A loop that fails stops the whole operator and Run() returns its cause (so the stage
// exits non-zero with it); a requested stop returns OK.
TEST_F(ServingOperatorTest, AFailingLoopEndsRunWithItsCause) {
  ServingOperatorOptions options;
  options.brokers = broker_->bootstrap_servers();
  options.topics = broker_->Names();
  options.group_id = broker_->Group(options.group_id);
  options.serve_http = false;
  options.poll_timeout_ms = 50;
  options.table_fetch_wait_ms = -1;  // librdkafka refuses it: the tables consumer cannot start
  ServingOperator failing(options);
  Status st = failing.Run([] { return false; });  // returns on its own
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("serving tables loop"), std::string::npos) << st.ToString();
  EXPECT_NE(st.ToString().find("fetch.wait.max.ms"), std::string::npos) << st.ToString();
  EXPECT_TRUE(failing.failed());

  // The request stage (on runtime::StageRunner) fails the same way.
  options.table_fetch_wait_ms = 50;
  options.request_fetch_wait_ms = -1;
  ServingOperator failing_requests(options);
  st = failing_requests.Run([] { return false; });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("serving requests loop"), std::string::npos) << st.ToString();
  EXPECT_NE(st.ToString().find("fetch.wait.max.ms"), std::string::npos) << st.ToString();

  options.request_fetch_wait_ms = 5;
  ServingOperator fine(options);
  int polls = 0;
  EXPECT_TRUE(fine.Run([&] { return ++polls > 20; }).ok());
  EXPECT_FALSE(fine.failed());
}

}  // namespace
}  // namespace streamrec::serving

namespace streamrec::serving {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Windows from a bounded time range (issue 10 item 2), measured back from the newest
// click of `clicks` (not from the wall clock). Partition 0 holds clicks before and inside
// the range; partition 1 only one before it. On the embedded broker, which has no time
// index, partition 0 is read from its start and its two older clicks skipped; a broker
// with one starts partition 0 at the offset for the range's start (nothing skipped);
// partition 1 starts at its end on both (its last click is older than the range).
class WindowsLookbackTest : public ServingOperatorTest {
 protected:
  void Click(const std::string& user, const std::string& item, int64_t ts, int32_t partition) {
    ClickEvent e;
    e.user_id = user;
    e.item_id = item;
    e.ts_ms = ts;
    ProduceMessage m;
    const std::string topic = broker_->Topic("clicks");
    const std::string value = EncodeClickEvent(e);
    m.topic = topic;
    m.key = user;
    m.value = value;
    m.partition = partition;
    m.timestamp_ms = ts;
    ASSERT_TRUE(producer_->Produce(m).ok());
  }

  // The clicks above, `newest` the newest click's time; then the operator with a 1 h
  // lookback (or `lookback_ms`) and a 30-day window horizon (without the lookback every
  // click would count), until its windows are loaded.
  void ProduceAndStart(int64_t newest, int64_t lookback_ms = 3'600'000) {
    Click("old-only", "a", newest - 3 * 86'400'000LL, 0);
    Click("both", "b", newest - 3 * 86'400'000LL, 0);
    Click("both", "c", newest - 60'000, 0);
    Click("fresh", "d", newest, 0);
    Click("quiet", "e", newest - 2 * 86'400'000LL, 1);
    Flush();
    StartOperator([&](ServingOperatorOptions& o) {
      o.windows_lookback_ms = lookback_ms;
      o.service.history.window.horizon_ms = 30 * 86'400'000LL;
    });
    ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().windows_loaded; }));
  }

  std::vector<std::string> Items(const std::string& user, int64_t as_of) {
    std::vector<std::string> out;
    for (const auto& e : op_->service().history().Get(HashId(user), as_of)) out.push_back(e.item_id);
    return out;
  }

  void ExpectOnlyTheLookback(int64_t newest) {
    EXPECT_TRUE(Items("old-only", newest).empty());
    EXPECT_EQ(Items("both", newest), std::vector<std::string>{"c"});
    EXPECT_EQ(Items("fresh", newest), std::vector<std::string>{"d"});
    EXPECT_TRUE(Items("quiet", newest).empty());
    EXPECT_EQ(op_->clicks_skipped_before_lookback(), broker_->real() ? 0 : 2);
  }
};

TEST_F(WindowsLookbackTest, WindowsAreRebuiltFromTheLookbackOnly) {
  const int64_t now = NowMs();
  ProduceAndStart(now - 60'000);
  ExpectOnlyTheLookback(now - 60'000);
}

// A replayed history keeps its own times (MovieLens: 1998): the range is measured from
// its newest click, so its last hour still makes windows (from the wall clock, none).
TEST_F(WindowsLookbackTest, WindowsAreRebuiltFromTheLookbackOfAReplayedOldHistory) {
  const int64_t newest = 893'286'638'000LL;  // MovieLens-100k's last rating, 1998-04-22
  ProduceAndStart(newest);
  ExpectOnlyTheLookback(newest);
  // Clicks produced after the assignment are all applied, however old their time.
  Click("late", "f", newest - 10 * 86'400'000LL, 0);
  Click("quiet", "g", newest - 86'400'000LL, 1);
  Flush();
  ASSERT_TRUE(WaitFor([&] { return !Items("late", newest).empty() && !Items("quiet", newest).empty(); }));
  EXPECT_EQ(Items("late", newest), std::vector<std::string>{"f"});
  EXPECT_EQ(Items("quiet", newest), std::vector<std::string>{"g"});
}

// windows_lookback_ms 0 (set so; the default is 7 days): every click the broker keeps.
TEST_F(WindowsLookbackTest, ZeroLookbackRebuildsFromEverything) {
  const int64_t newest = 893'286'638'000LL;
  ProduceAndStart(newest, 0);
  EXPECT_EQ(Items("old-only", newest), std::vector<std::string>{"a"});
  EXPECT_EQ(Items("both", newest), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Items("quiet", newest), std::vector<std::string>{"e"});
  EXPECT_EQ(op_->clicks_skipped_before_lookback(), 0);
}

// Routing (issue 10 item 2): a replica announces its HTTP address and the clicks
// partitions it owns on the members topic, reads it back, routes its own users to
// itself, and leaves a tombstone on a clean stop.
TEST_F(ServingOperatorTest, AnnouncesItsPartitionsAndLeavesATombstone) {
  Flush();
  StartOperator([](ServingOperatorOptions& o) { o.replica_id = "replica-1"; });
  ASSERT_NE(op_->members(), nullptr);
  const ServingMembers& members = *op_->members();
  ASSERT_TRUE(WaitFor([&] {
    const auto all = members.Members();
    return all.size() == 1 && all[0].partitions == std::vector<int32_t>{0, 1} && all[0].windows_loaded;
  }));
  const ServingMember self = members.Members()[0];
  EXPECT_EQ(self.replica_id, "replica-1");
  EXPECT_EQ(self.http_address, "127.0.0.1:" + std::to_string(op_->http()->port()));
  EXPECT_EQ(self.partition_count, 2);
  for (const char* user : {"u1", "u2", "u3"}) {
    const ServingRoute route = members.RouteUser(user);
    EXPECT_TRUE(route.owned && route.local) << user;
  }
  httplib::Client client("127.0.0.1", op_->http()->port());
  auto res = client.Get("/v1/recommendations?user_id=u1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value(kRouteHeader), "local");
  EXPECT_EQ(res->get_header_value(kServedByHeader), "replica-1");
  op_->Stop();

  // The members topic: announcements of replica-1, the last one a tombstone.
  ConsumerOptions copts;
  copts.brokers = broker_->bootstrap_servers();
  auto c = KafkaConsumer::Create(copts);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Assign({{broker_->Topic(kServingMembersTopic), 0, kOffsetBeginning}}).ok());
  auto marks = (*c)->QueryWatermarks(broker_->Topic(kServingMembersTopic), 0, 5000);
  ASSERT_TRUE(marks.ok());
  std::vector<Record> records;
  for (int i = 0; i < 100 && static_cast<int64_t>(records.size()) < marks->second; ++i) {
    ASSERT_TRUE((*c)->PollBatch(100, 100, &records).ok());
  }
  ASSERT_GE(records.size(), 2u);
  for (const Record& r : records) EXPECT_EQ(r.key, "replica-1");
  EXPECT_TRUE(records.back().value.empty()) << records.back().value;
  EXPECT_TRUE(DecodeServingMember(records[records.size() - 2].value).ok());
}

// Every record of topics.ranker_examples (both partitions) read within `wait_ms` after
// `n` arrived or the wait ended.
std::vector<Record> ReadRankerExamples(const testing::TestBroker& broker, size_t n, int wait_ms) {
  ConsumerOptions copts;
  copts.brokers = broker.bootstrap_servers();
  auto c = KafkaConsumer::Create(copts);
  EXPECT_TRUE(c.ok());
  std::vector<TopicPartitionOffset> tps;
  for (int32_t p = 0; p < 2; ++p) tps.push_back({broker.Topic(kRankerExamplesTopic), p, kOffsetBeginning});
  EXPECT_TRUE((*c)->Assign(tps).ok());
  std::vector<Record> out;
  for (int i = 0; i < wait_ms / 100 && out.size() < n; ++i) EXPECT_TRUE((*c)->PollBatch(100, 100, &out).ok());
  return out;
}

// The live ranker's examples (docs/DESIGN.md "The ranking stage"): with the ranker on,
// a live click whose item the recommender had among its candidates for the user just
// before it publishes the list with that item as the positive; a click whose item was
// not among them publishes nothing, and neither do the clicks re-read to rebuild the
// windows at assignment.
TEST_F(ServingOperatorTest, PublishesARankingExampleForAClickOnACandidate) {
  for (const char* id : {"a", "b", "c", "d"}) {
    Produce("items", id, std::string("{\"item_id\":\"") + id + "\",\"available\":true}");
  }
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"b", 4}, {"c", 2}, {"d", 1}}));
  // Before the start: re-read to rebuild u1's window at assignment, so no example.
  Produce("clicks", "u1", R"({"user_id":"u1","item_id":"a","event":"click","ts":1732270000000})");
  Flush();
  StartOperator([](ServingOperatorOptions& o) {
    o.service.recommender.ranker_enabled = true;
    o.ranker_examples_rate = 1;
  });
  ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().ready; }));
  ASSERT_TRUE(WaitFor([&] { return !op_->service().history().Get(HashId("u1")).empty(); }));
  EXPECT_EQ(op_->ranker_examples_published(), 0);
  EXPECT_EQ(op_->ranker_examples_not_candidate(), 0);

  // c is a neighbour of a (the window): a candidate.
  Produce("clicks", "u1", R"({"user_id":"u1","item_id":"c","event":"click","ts":1732270001000})");
  Flush();
  ASSERT_TRUE(WaitFor([&] { return op_->service().history().Get(HashId("u1")).size() == 2; }));
  EXPECT_EQ(op_->ranker_examples_published(), 1);
  // zz is nobody's neighbour and not trending: not a candidate, no example.
  Produce("clicks", "u1", R"({"user_id":"u1","item_id":"zz","event":"click","ts":1732270002000})");
  Flush();
  ASSERT_TRUE(WaitFor([&] { return op_->service().history().Get(HashId("u1")).size() == 3; }));
  EXPECT_EQ(op_->ranker_examples_published(), 1);
  EXPECT_EQ(op_->ranker_examples_not_candidate(), 1);

  std::vector<Record> examples = ReadRankerExamples(*broker_, 2, 3000);
  ASSERT_EQ(examples.size(), 1u);
  EXPECT_EQ(examples[0].key, "u1");
  auto e = DecodeRankingExample(examples[0].value);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->user_id, "u1");
  EXPECT_EQ(e->user_key, HashId("u1"));
  EXPECT_EQ(e->item_key, HashId("c"));
  EXPECT_EQ(e->ts_ms, 1732270001000);
  EXPECT_EQ(e->num_features, static_cast<uint32_t>(kRankerFeatures));
  // The list as of just before the click: b (cooc 4), c (2), d (1) in blend order, a
  // (the window) filtered; c the positive.
  ASSERT_EQ(e->candidates(), 3u);
  EXPECT_EQ(e->positive, 1u);
  EXPECT_FLOAT_EQ(e->features[e->positive * kRankerFeatures + 3], 0.5f);  // cooc / max cooc
}

// At rate 0, and with the ranker off whatever the rate, serving makes no example.
TEST_F(ServingOperatorTest, NoRankingExamplesAtRateZeroOrWithTheRankerOff) {
  Produce("items", "a", R"({"item_id":"a"})");
  Produce("items", "b", R"({"item_id":"b"})");
  Produce("streamrec.item-neighbors", "a", Neighbors("a", {{"b", 1}}));
  Flush();
  for (const bool ranker_on : {true, false}) {
    SCOPED_TRACE(ranker_on ? "rate 0" : "ranker off");
    StartOperator([&](ServingOperatorOptions& o) {
      o.service.recommender.ranker_enabled = ranker_on;
      o.ranker_examples_rate = ranker_on ? 0 : 1;
      // A group of its own each time: no wait for the previous member to leave.
      o.group_id = broker_->Group(ranker_on ? "serving-rate-0" : "serving-ranker-off");
    });
    ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().tables_loaded; }));
    const std::string user = ranker_on ? "u1" : "u2";
    // Once the windows are loaded, a click then one on its neighbour (a candidate).
    ASSERT_TRUE(WaitFor([&] { return op_->service().GetReadiness().windows_loaded; }));
    Produce("clicks", user, R"({"user_id":")" + user + R"(","item_id":"a","event":"click","ts":1732270000000})");
    Produce("clicks", user, R"({"user_id":")" + user + R"(","item_id":"b","event":"click","ts":1732270001000})");
    Flush();
    ASSERT_TRUE(WaitFor([&] { return op_->service().history().Get(HashId(user)).size() == 2; }));
    EXPECT_EQ(op_->ranker_examples_published(), 0);
    EXPECT_EQ(op_->ranker_examples_not_candidate(), 0);
    op_->Stop();
    op_.reset();
  }
  EXPECT_TRUE(ReadRankerExamples(*broker_, 1, 1000).empty());
}

}  // namespace
}  // namespace streamrec::serving
