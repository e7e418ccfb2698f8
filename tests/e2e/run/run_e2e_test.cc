// End-to-end: `streamrec run` (embedded broker, every stage, synthetic clicks, HTTP API;
// in the real-kafka set `streamrec run --brokers` on the real Apache Kafka broker, its
// topics created first, as a user of a real cluster does)
// answers recommendation requests over HTTP and on the `recommendations` topic, and a
// click on an item brings that item's planted neighbours into the user's next
// recommendations. Waits are bounded; nothing asserts a wall-clock latency except the
// generous bounds that keep a broken build from hanging (the freshness figure is printed
// and recorded as a test property).
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <unistd.h>

#include <chrono>
#include <sstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <algorithm>
#include <vector>

#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

struct RecItem {
  std::string item_id;
  std::vector<std::string> sources;
};

struct RecResponse {
  int64_t model_version = -1;
  std::string request_id;
  std::vector<RecItem> items;
};

bool ParseRecResponse(const std::string& body, RecResponse* out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) return false;
  int64_t version = -1;
  if (doc["model_version"].get(version)) return false;
  out->model_version = version;
  std::string_view rid;
  if (!doc["request_id"].get(rid)) out->request_id = std::string(rid);
  simdjson::dom::array items;
  if (doc["items"].get(items)) return false;
  out->items.clear();
  for (simdjson::dom::element item : items) {
    RecItem r;
    std::string_view id;
    if (item["item_id"].get(id)) return false;
    r.item_id = std::string(id);
    simdjson::dom::array sources;
    if (!item["sources"].get(sources)) {
      for (simdjson::dom::element s : sources) {
        std::string_view name;
        if (!s.get(name)) r.sources.emplace_back(name);
      }
    }
    out->items.push_back(std::move(r));
  }
  return true;
}

// One `streamrec run` for the whole suite (starting it is the expensive part).
class RunE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir();
    std::vector<std::string> argv = {
        STREAMREC_BINARY, "run", "--http", "127.0.0.1:0", "--metrics", "off", "--rate", "2000",
        "--state-dir", dir_->File("state"),
        "--set", "trainer.snapshot_every_seconds=3", "--set", "trainer.batch_size=128"};
    const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
    if (target.skip_reason) {
      skip_reason_ = *target.skip_reason;
      return;
    }
    if (target.real) {
      // The default topics under this suite's names, 4 partitions as `run` makes them on
      // the embedded broker; `run --brokers` creates no topics.
      auto broker = testing::TestBroker::Start(EmbeddedBrokerOptions{}, target);
      if (!broker.ok()) {
        setup_error_ = broker.status().ToString();
        return;
      }
      broker_ = std::move(broker).value();
      names_ = broker_->Names();
      argv.push_back("--brokers");
      argv.push_back(broker_->bootstrap_servers());
      for (const std::string& flag : broker_->TopicFlags()) argv.push_back(flag);
      // The groups that config names; the user and item stages' (streamrec-user,
      // streamrec-item) it does not, hence the CTest RESOURCE_LOCK (CMakeLists.txt).
      for (const char* stage : {"serving", "trainer"}) {
        argv.push_back("--set");
        argv.push_back(std::string(stage) + ".group_id=" + broker_->Group(std::string("streamrec-") + stage));
      }
    } else {
      argv.push_back("--bootstrap-file");
      argv.push_back(dir_->File("bootstrap"));
    }
    run_ = new testing::Subprocess(argv, dir_->File("run.out"), dir_->File("run.err"));
    const std::regex http_line(R"(HTTP API:\s+http://([0-9.]+):([0-9]+))");
    const auto deadline = Clock::now() + seconds(90);
    while (Clock::now() < deadline && port_ == 0) {
      std::smatch m;
      const std::string out = run_->out();
      if (std::regex_search(out, m, http_line)) {
        host_ = m[1];
        port_ = std::stoi(m[2]);
        break;
      }
      if (run_->Wait(milliseconds(100)) >= 0) break;  // exited early
    }
    bootstrap_ = broker_ ? broker_->bootstrap_servers() : testing::ReadFile(dir_->File("bootstrap"));
  }

  static void TearDownTestSuite() {
    if (run_ != nullptr) {
      run_->Signal(SIGINT);
      stop_code_ = run_->Wait(seconds(60));
      // Ctrl-C must stop every stage cleanly (exit 0), not hang or crash.
      if (stop_code_ != 0) {
        ADD_FAILURE() << "streamrec run exited with " << stop_code_ << " on SIGINT\n" << run_->err();
      }
    }
    delete run_;
    run_ = nullptr;
    broker_.reset();
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_GT(port_, 0) << "streamrec run printed no HTTP address\nstdout:\n"
                        << run_->out() << "\nstderr:\n" << run_->err();
    ASSERT_FALSE(bootstrap_.empty());
  }

  static httplib::Client Client() {
    httplib::Client client(host_, port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    return client;
  }

  // Waits (bounded) until the pipeline has a model and the tables are loaded.
  static bool WaitForModel(seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      auto res = Client().Get("/readyz");
      if (res && res->status == 200 && res->body.find("\"model_version\":0") == std::string::npos &&
          res->body.find("\"model_version\":") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
    return false;
  }

  static testing::ScratchDir* dir_;
  static testing::Subprocess* run_;
  static std::string host_;
  static int port_;
  static std::string bootstrap_;
  static int stop_code_;
  // The real broker (real-kafka set), its topic names, or why there is none.
  static std::unique_ptr<testing::TestBroker> broker_;
  static TopicNames names_;
  static std::string skip_reason_;
  static std::string setup_error_;
};

testing::ScratchDir* RunE2eTest::dir_ = nullptr;
testing::Subprocess* RunE2eTest::run_ = nullptr;
std::string RunE2eTest::host_;
int RunE2eTest::port_ = 0;
std::string RunE2eTest::bootstrap_;
int RunE2eTest::stop_code_ = -1;
std::unique_ptr<testing::TestBroker> RunE2eTest::broker_;
TopicNames RunE2eTest::names_;
std::string RunE2eTest::skip_reason_;
std::string RunE2eTest::setup_error_;

TEST_F(RunE2eTest, RecommendationsOverHttpAndOnTheTopic) {
  ASSERT_TRUE(WaitForModel(seconds(120))) << "no model version was swapped in\n" << run_->err();

  auto res = Client().Get("/v1/recommendations?user_id=user-00007&k=10");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  RecResponse http;
  ASSERT_TRUE(ParseRecResponse(res->body, &http)) << res->body;
  EXPECT_GE(http.model_version, 1);
  ASSERT_EQ(http.items.size(), 10u) << res->body;
  std::set<std::string> distinct;
  for (const RecItem& item : http.items) {
    EXPECT_FALSE(item.sources.empty()) << item.item_id;
    distinct.insert(item.item_id);
  }
  EXPECT_EQ(distinct.size(), 10u);

  // The same question on Kafka: rec-requests -> recommendations, as a service would ask.
  ProducerOptions po;
  po.brokers = bootstrap_;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string request =
      R"({"request_id":"e2e-req-1","user_id":"user-00007","k":5})";
  ASSERT_TRUE((*producer)->Produce(names_.rec_requests, "user-00007", request).ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  ConsumerOptions co;
  co.brokers = bootstrap_;
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  auto partitions = (*consumer)->PartitionCount(names_.recommendations, 10000);
  ASSERT_TRUE(partitions.ok());
  std::vector<TopicPartitionOffset> assignment;
  for (int p = 0; p < *partitions; ++p) assignment.push_back({names_.recommendations, p, kOffsetBeginning});
  ASSERT_TRUE((*consumer)->Assign(assignment).ok());
  RecResponse answer;
  std::string answer_key;
  const auto deadline = Clock::now() + seconds(60);
  while (Clock::now() < deadline && answer.request_id != "e2e-req-1") {
    Record record;
    auto got = (*consumer)->Poll(200, &record);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (*got && ParseRecResponse(record.value, &answer) && answer.request_id == "e2e-req-1") {
      answer_key = record.key;
    }
  }
  ASSERT_EQ(answer.request_id, "e2e-req-1") << "no answer on the recommendations topic";
  EXPECT_EQ(answer_key, "user-00007");
  EXPECT_GE(answer.model_version, 1);
  EXPECT_EQ(answer.items.size(), 5u);
}

// A data engineer's backfill: `streamrec replay` of MovieLens-100k into the running
// system; the replayed users then get recommendations (not cold starts) that leave out
// what they already rated (the Kafka request path is checked by the test above).
TEST_F(RunE2eTest, ReplayedHistoryReachesRecommendations) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  const std::string data = *ml;
  // The replay goes out once serving's windows are loaded: its 1998 clicks then arrive
  // after the assignment and are all applied. Before it, they would be part of the
  // rebuild, which keeps only serving.windows_lookback_hours (7 days) before the newest
  // click, here the generator's (2026): the 1998 history would be left out.
  const auto loaded_deadline = Clock::now() + seconds(90);
  bool loaded = false;
  while (!loaded && Clock::now() < loaded_deadline) {
    auto res = Client().Get("/readyz");
    loaded = res && res->body.find("\"windows_loaded\":true") != std::string::npos;
    if (!loaded) std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(loaded) << "serving's windows were never loaded";
  std::string out, err;
  std::vector<std::string> replay = {STREAMREC_BINARY, "replay", "--format", "movielens",
                                     data + "/u.data", "--items", data + "/u.item",
                                     "--brokers", bootstrap_, "--no-progress"};
  if (broker_) {
    for (const std::string& flag : broker_->TopicFlags()) replay.push_back(flag);
  }
  ASSERT_EQ(testing::RunToEnd(*dir_, replay, &out, &err, "", 180), 0) << err;
  // User 196's window as serving keeps it (the user stage's rules, operators.window.*
  // defaults: the newest 20 distinct items within 1 h of event time): those are the seen
  // items the served answer must leave out (u.data: user, item, rating, ts in seconds).
  std::vector<std::pair<int64_t, std::string>> events;
  {
    std::istringstream in(testing::ReadFile(data + "/u.data"));
    std::string user, item, rating;
    int64_t ts = 0;
    while (in >> user >> item >> rating >> ts) {
      if (user == "196") events.emplace_back(ts, item);
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<int64_t, std::string>> window;
  for (const auto& [ts, item] : events) {
    const int64_t t = ts;
    const std::string id = item;
    window.erase(std::remove_if(window.begin(), window.end(),
                                [&](const auto& e) { return e.first < t - 3600 || e.second == id; }),
                 window.end());
    window.emplace_back(t, id);
    if (window.size() > 20) window.erase(window.begin());
  }
  std::set<std::string> rated;
  for (const auto& e : window) rated.insert(e.second);
  ASSERT_GE(rated.size(), 5u);
  RecResponse recs;
  bool known = false;
  const auto deadline = Clock::now() + seconds(120);
  while (!known && Clock::now() < deadline) {
    auto res = Client().Get("/v1/recommendations?user_id=196&k=20");
    known = res && res->status == 200 && res->body.find("\"cold_start\":false") != std::string::npos &&
            ParseRecResponse(res->body, &recs);
    if (!known) std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(known) << "user 196's replayed history never reached the serving operator";
  ASSERT_EQ(recs.items.size(), 20u);
  for (const RecItem& it : recs.items) {
    EXPECT_EQ(rated.count(it.item_id), 0u) << "recommended an item of user 196's window: " << it.item_id;
  }
}

TEST_F(RunE2eTest, ClickBringsPlantedNeighboursIntoNextRecommendations) {
  ASSERT_TRUE(WaitForModel(seconds(120))) << run_->err();
  // The same generator `streamrec run` uses (seed 42, default options): its planted truth.
  SyntheticClickGenerator truth{SyntheticOptions{}};
  const std::string item_a = truth.items()[truth.ItemsOfCluster(3)[0]].catalog.item_id;
  const std::vector<std::string> planted = truth.PlantedNeighbors(item_a, 10);
  ASSERT_EQ(planted.size(), 10u);

  // Wait (bounded) until the item stage has published A's neighbour list.
  const auto learned_deadline = Clock::now() + seconds(90);
  bool learned = false;
  while (!learned && Clock::now() < learned_deadline) {
    auto res = Client().Get(("/v1/items/" + item_a + "/similar?k=10").c_str());
    RecResponse similar;
    if (res && res->status == 200 && ParseRecResponse(res->body, &similar)) {
      for (const RecItem& it : similar.items) {
        for (const auto& s : it.sources) learned |= s == "cooc";
      }
    }
    if (!learned) std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(learned) << item_a << " has no co-occurrence neighbours yet";

  const std::string user = "e2e-new-shopper";
  auto cooc_planted_in = [&](const RecResponse& r) {
    int n = 0;
    for (const RecItem& it : r.items) {
      const bool is_planted = std::find(planted.begin(), planted.end(), it.item_id) != planted.end();
      const bool from_cooc = std::find(it.sources.begin(), it.sources.end(), "cooc") != it.sources.end();
      n += is_planted && from_cooc;
    }
    return n;
  };
  auto recs_for_user = [&](RecResponse* out) {
    auto res = Client().Get(("/v1/recommendations?user_id=" + user + "&k=20").c_str());
    return res && res->status == 200 && ParseRecResponse(res->body, out);
  };
  RecResponse before;
  ASSERT_TRUE(recs_for_user(&before));
  EXPECT_EQ(cooc_planted_in(before), 0) << "a user with no history has no co-occurrence recall";

  const int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string event = R"({"user_id":")" + user + R"(","item_id":")" + item_a +
                            R"(","event":"click","ts":)" + std::to_string(now_ms) + "}";
  const auto clicked = Clock::now();
  auto posted = Client().Post("/v1/events", event, "application/json");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 202) << posted->body;

  RecResponse after;
  int found = 0;
  while (Clock::now() - clicked < seconds(30)) {
    if (recs_for_user(&after)) found = cooc_planted_in(after);
    if (found >= 3) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  const double latency_s = std::chrono::duration<double>(Clock::now() - clicked).count();
  RecordProperty("click_to_recommendation_ms", static_cast<int>(latency_s * 1000));
  std::printf("click -> planted neighbours in recommendations: %.3f s (%d of 10 planted)\n",
              latency_s, found);
  EXPECT_GE(found, 3) << "planted neighbours of " << item_a << " did not appear";
  for (const RecItem& it : after.items) EXPECT_NE(it.item_id, item_a) << "seen item not filtered";
}

TEST_F(RunE2eTest, BadRequestsGetClearErrors) {
  struct Case {
    std::string path;
    int status;
  };
  for (const Case& c : std::vector<Case>{{"/v1/recommendations?user_id=user-00001&k=0", 400},
                                         {"/v1/recommendations?user_id=user-00001&k=-3", 400},
                                         {"/v1/recommendations?user_id=user-00001&k=100000000", 400},
                                         {"/v1/recommendations?k=5", 400},
                                         {"/v1/nothing-here", 404}}) {
    auto res = Client().Get(c.path.c_str());
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, c.status) << c.path << " -> " << res->body;
    EXPECT_NE(res->body.find("\"error\""), std::string::npos) << c.path << " -> " << res->body;
  }
  auto bad_json = Client().Post("/v1/events", "{\"user_id\": ", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_NE(bad_json->body.find("\"error\""), std::string::npos);
  auto oversized = Client().Post("/v1/events", std::string(2 << 20, 'x'), "application/json");
  ASSERT_TRUE(oversized);
  EXPECT_EQ(oversized->status, 413);
}

// The Grafana dashboard shipped in helm/ may use only metrics the system exports: every
// metric name in its queries must appear in a scrape of a running `streamrec run`.
TEST_F(RunE2eTest, DashboardUsesOnlyExportedMetrics) {
  ASSERT_TRUE(WaitForModel(seconds(120))) << run_->err();
  // A poison message, so that the DLQ path has counted something.
  ProducerOptions po;
  po.brokers = bootstrap_;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce(names_.clicks, "poison", "{not json").ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  const std::string dashboard =
      testing::ReadFile(std::string(STREAMREC_SOURCE_DIR) + "/helm/streamrec/dashboards/streamrec.json");
  ASSERT_FALSE(dashboard.empty());
  std::set<std::string> used;
  const std::regex name_re("streamrec_[a-z_]+");
  for (auto it = std::sregex_iterator(dashboard.begin(), dashboard.end(), name_re);
       it != std::sregex_iterator(); ++it) {
    std::string name = it->str();
    if (name == "streamrec_overview") continue;
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        name.resize(name.size() - s.size());
      }
    }
    used.insert(name);
  }
  ASSERT_GE(used.size(), 10u);
  std::set<std::string> missing = used;
  const auto deadline = Clock::now() + seconds(60);
  while (!missing.empty() && Clock::now() < deadline) {
    auto res = Client().Get("/metrics");
    ASSERT_TRUE(res);
    for (auto it = missing.begin(); it != missing.end();) {
      if (res->body.find("\n" + *it) != std::string::npos) it = missing.erase(it); else ++it;
    }
    if (!missing.empty()) std::this_thread::sleep_for(milliseconds(500));
  }
  for (const auto& name : missing) ADD_FAILURE() << "dashboard uses " << name << ", which is not exported";
}

// Clients we did not write: kcat produces a click and a request, kafka-python (Debian's
// python3-kafka) consumes the answer from `recommendations`.
TEST_F(RunE2eTest, KcatProducerAndKafkaPythonConsumerInterop) {
  if (::access("/usr/bin/kcat", X_OK) != 0) GTEST_SKIP() << "kcat is not installed";
  ASSERT_TRUE(WaitForModel(seconds(120))) << run_->err();
  const std::string user = "kcat-shopper";
  const int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string click = user + "\t" + R"({"user_id":")" + user +
                            R"(","item_id":"item-00005","event":"purchase","ts":)" +
                            std::to_string(now_ms) + "}\n";
  std::string out, err;
  ASSERT_EQ(testing::RunToEnd(*dir_, {"/usr/bin/kcat", "-P", "-b", bootstrap_, "-t", names_.clicks, "-K", "\t"},
                              &out, &err, click, 60), 0) << err;
  // Wait (bounded) until the serving operator has the click in the user's window.
  bool known = false;
  for (auto deadline = Clock::now() + seconds(30); !known && Clock::now() < deadline;) {
    auto res = Client().Get(("/v1/recommendations?user_id=" + user + "&k=7").c_str());
    known = res && res->status == 200 && res->body.find("\"cold_start\":false") != std::string::npos;
    if (!known) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(known) << "the kcat click never reached the serving operator";
  const std::string request = user + "\t" + R"({"request_id":"kcat-req-1","user_id":")" + user +
                              R"(","k":7})" + "\n";
  ASSERT_EQ(testing::RunToEnd(*dir_, {"/usr/bin/kcat", "-P", "-b", bootstrap_, "-t", names_.rec_requests, "-K", "\t"},
                              &out, &err, request, 60), 0) << err;

  const std::string script = dir_->File("consume.py");
  testing::WriteFile(script, R"PY(
import json, sys, time
from kafka import KafkaConsumer
consumer = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
                         auto_offset_reset='earliest', enable_auto_commit=False,
                         consumer_timeout_ms=1000, api_version=(2, 0, 0))
deadline = time.time() + 60
while time.time() < deadline:
    for msg in consumer:
        answer = json.loads(msg.value)
        if answer.get('request_id') == 'kcat-req-1':
            print(msg.key.decode(), len(answer['items']), answer['model_version'],
                  ' '.join(i['item_id'] for i in answer['items']))
            sys.exit(0)
sys.exit(3)
)PY");
  const int code = testing::RunToEnd(*dir_, {"/usr/bin/python3", script, bootstrap_, names_.recommendations}, &out, &err, "", 120);
  ASSERT_EQ(code, 0) << "kafka-python saw no answer\n" << err;
  std::istringstream fields(out);
  std::string key, items;
  int count = 0, version = 0;
  fields >> key >> count >> version;
  std::getline(fields, items);
  EXPECT_EQ(key, user);
  EXPECT_EQ(count, 7) << out;
  EXPECT_GE(version, 1) << out;
  EXPECT_EQ(items.find("item-00005"), std::string::npos) << "the purchased item is filtered: " << out;
}

}  // namespace
}  // namespace streamrec
