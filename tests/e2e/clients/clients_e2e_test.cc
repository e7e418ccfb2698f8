// End-to-end: clients in other languages. Every public message streamrec produces
// (clicks and items from the generator, answers and error answers on `recommendations`,
// rejected clicks on `clicks.dlq`) is validated against the JSON Schemas in schemas/
// with python3-jsonschema (schemas/validate.py); the schemas themselves must accept the
// good examples and reject the broken ones (schemas/examples/), and streamrec's own
// parsers must agree with them on those examples. kafkajs (tests/js, pinned) and
// kafka-python talk to a running `streamrec run`: a node script produces clicks and a
// request and reads its answer, the README's kafkajs and kafka-python examples are run
// as written, and both clients must partition users as librdkafka's murmur2_random does. Each part skips, naming what is missing, without python3-jsonschema,
// node and the JS tools, or python3-kafka. Waits are bounded; latencies are recorded
// (test properties), never asserted.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::string kSource = STREAMREC_SOURCE_DIR;
const std::string kSchemas = kSource + "/schemas";
const std::string kExamples = kSchemas + "/examples";

// Single-quotes `s` for sh.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// A python3 that imports `module` ("python3" on PATH first, then Debian's), or "".
std::string FindPython(const std::string& module) {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    const std::string probe =
        std::string(python) + " -c 'import " + module + "' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return "";
}

#define SKIP_WITHOUT_JSONSCHEMA(python)                                                \
  const std::string python = FindPython("jsonschema");                                 \
  if (python.empty()) {                                                                \
    GTEST_SKIP() << "no python3 with the jsonschema module (Debian: python3-jsonschema)"; \
  }

// Runs schemas/validate.py; true when every line was as expected. *out: its output.
bool Validate(const testing::ScratchDir& dir, const std::string& python, const std::string& schema,
              const std::string& file, bool expect_invalid, std::string* out) {
  std::string err;
  const int code = testing::RunShell(
      dir,
      python + " " + Quote(kSchemas + "/validate.py") +
          (expect_invalid ? " --expect-invalid " : " ") + Quote(schema) + " " + Quote(file),
      "", 120, out, &err);
  *out += err;
  return code == 0;
}

// Writes one message per line (each must be a single line) to a file in `dir`.
std::string WriteLines(const testing::ScratchDir& dir, const std::string& name,
                       const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  const std::string path = dir.File(name);
  testing::WriteFile(path, text);
  return path;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(testing::ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The fenced code block that follows `<!-- example: NAME -->` in the root README.
std::string ReadmeExample(const std::string& name) {
  const std::string readme = testing::ReadFile(kSource + "/README.md");
  const size_t marker = readme.find("<!-- example: " + name + " -->");
  if (marker == std::string::npos) return "";
  const size_t fence = readme.find("```", marker);
  const size_t body = readme.find('\n', fence);
  const size_t end = readme.find("\n```", body);
  if (fence == std::string::npos || body == std::string::npos || end == std::string::npos) {
    return "";
  }
  return readme.substr(body + 1, end - body);
}

// The schema examples need no running system.
TEST(SchemaExamples, GoodExamplesPassAndBrokenOnesFail) {
  SKIP_WITHOUT_JSONSCHEMA(python);
  testing::ScratchDir dir;
  for (const char* schema :
       {"clicks", "items", "rec-requests", "recommendations", "errors", "clicks.dlq"}) {
    std::string out;
    const std::string base = kExamples + "/" + schema;
    EXPECT_TRUE(Validate(dir, python, schema, base + ".valid.jsonl", false, &out)) << out;
    EXPECT_TRUE(Validate(dir, python, schema, base + ".invalid.jsonl", true, &out)) << out;
  }
  // A message on `recommendations` is exactly one of answer and error answer.
  std::string out;
  EXPECT_TRUE(Validate(dir, python, "recommendations|errors",
                       kExamples + "/recommendations.valid.jsonl", false, &out)) << out;
  EXPECT_TRUE(Validate(dir, python, "recommendations|errors", kExamples + "/errors.valid.jsonl",
                       false, &out)) << out;
  // The validator fails on what it should: a valid file with --expect-invalid, and the
  // reverse.
  EXPECT_FALSE(Validate(dir, python, "clicks", kExamples + "/clicks.invalid.jsonl", false, &out));
  EXPECT_FALSE(Validate(dir, python, "clicks", kExamples + "/clicks.valid.jsonl", true, &out));
  EXPECT_FALSE(Validate(dir, python, "errors", kExamples + "/recommendations.valid.jsonl", false,
                        &out));
}

// One `streamrec run` per test process (CTest runs each test alone).
class ClientsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir();
    const std::vector<std::string> argv = {
        STREAMREC_BINARY, "run", "--http", "127.0.0.1:0", "--metrics", "off",
        "--bootstrap-file", dir_->File("bootstrap"), "--rate", "500",
        "--state-dir", dir_->File("state"),
        "--set", "trainer.snapshot_every_seconds=3", "--set", "trainer.batch_size=128"};
    run_ = new testing::Subprocess(argv, dir_->File("run.out"), dir_->File("run.err"));
    const std::regex http_line(R"(HTTP API:\s+http://([0-9.]+):([0-9]+))");
    const auto deadline = Clock::now() + seconds(90);
    while (Clock::now() < deadline) {
      std::smatch m;
      const std::string out = run_->out();
      if (std::regex_search(out, m, http_line)) {
        host_ = m[1];
        port_ = std::stoi(m[2]);
        break;
      }
      if (run_->Wait(milliseconds(100)) >= 0) break;  // exited early
    }
    bootstrap_ = testing::ReadFile(dir_->File("bootstrap"));
    while (!bootstrap_.empty() && std::isspace(static_cast<unsigned char>(bootstrap_.back()))) {
      bootstrap_.pop_back();
    }
  }

  static void TearDownTestSuite() {
    if (run_ != nullptr) {
      run_->Signal(SIGINT);
      const int code = run_->Wait(seconds(60));
      if (code != 0) ADD_FAILURE() << "streamrec run exited with " << code << "\n" << run_->err();
    }
    delete run_;
    run_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_GT(port_, 0) << "streamrec run printed no HTTP address\nstdout:\n"
                        << run_->out() << "\nstderr:\n" << run_->err();
    ASSERT_FALSE(bootstrap_.empty());
  }

  static std::unique_ptr<KafkaProducer> Producer() {
    ProducerOptions po;
    po.brokers = bootstrap_;
    auto producer = KafkaProducer::Create(po);
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    return producer.ok() ? std::move(producer).value() : nullptr;
  }

  // Reads `topic` from the beginning until `done(records)` holds, or `limit` passes.
  static std::vector<Record> Consume(const std::string& topic, seconds limit,
                                     const std::function<bool(const std::vector<Record>&)>& done) {
    std::vector<Record> records;
    ConsumerOptions co;
    co.brokers = bootstrap_;
    auto consumer = KafkaConsumer::Create(co);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    if (!consumer.ok()) return records;
    auto partitions = (*consumer)->PartitionCount(topic, 10000);
    EXPECT_TRUE(partitions.ok()) << partitions.status().ToString();
    if (!partitions.ok()) return records;
    std::vector<TopicPartitionOffset> assignment;
    for (int p = 0; p < *partitions; ++p) assignment.push_back({topic, p, kOffsetBeginning});
    EXPECT_TRUE((*consumer)->Assign(assignment).ok());
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline && !done(records)) {
      (*consumer)->PollBatch(1000, 200, &records);
    }
    (*consumer)->Close();
    return records;
  }

  static httplib::Client Http() {
    httplib::Client client(host_, port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    return client;
  }

  // The partitions librdkafka, configured as every streamrec producer (murmur2_random,
  // the Java client's partitioner), gives clicks keyed by `users`: produced, then found
  // on `clicks`. -1 for one not found.
  static std::map<std::string, int32_t> LibrdkafkaPartitionsOf(
      const std::vector<std::string>& users) {
    std::map<std::string, std::string> marker_of;  // value -> user
    std::map<std::string, int32_t> partitions;
    auto producer = Producer();
    if (producer == nullptr) return partitions;
    for (const std::string& user : users) {
      const std::string marker =
          R"({"user_id":")" + user +
          R"(","item_id":"item-00001","event":"view","ts":1732270000123,"via":"librdkafka"})";
      marker_of[marker] = user;
      partitions[user] = -1;
      EXPECT_TRUE(producer->Produce("clicks", user, marker).ok());
    }
    EXPECT_TRUE(producer->Flush(10000).ok());
    size_t seen = 0, found = 0;
    Consume("clicks", seconds(60), [&](const std::vector<Record>& records) {
      for (; seen < records.size(); ++seen) {
        auto it = marker_of.find(records[seen].value);
        if (it != marker_of.end() && partitions[it->second] < 0) {
          partitions[it->second] = records[seen].partition;
          ++found;
        }
      }
      return found == users.size();
    });
    return partitions;
  }

  // Waits (bounded) until /readyz answers 200.
  static bool WaitReady(seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      auto res = Http().Get("/readyz");
      if (res && res->status == 200) return true;
      std::this_thread::sleep_for(milliseconds(250));
    }
    return false;
  }

  static std::string NodeSkipReason() {
    if (!testing::HaveProgram("node")) return "node is not installed";
    if (!std::filesystem::exists(std::string(STREAMREC_JS_TOOLS_DIR) + "/kafkajs/package.json")) {
      return std::string("kafkajs is not installed at ") + STREAMREC_JS_TOOLS_DIR +
             " (scripts/dev.sh build installs tests/js when npm is present)";
    }
    return "";
  }

  static testing::ScratchDir* dir_;
  static testing::Subprocess* run_;
  static std::string host_;
  static int port_;
  static std::string bootstrap_;
};

testing::ScratchDir* ClientsE2eTest::dir_ = nullptr;
testing::Subprocess* ClientsE2eTest::run_ = nullptr;
std::string ClientsE2eTest::host_;
int ClientsE2eTest::port_ = 0;
std::string ClientsE2eTest::bootstrap_;

// Header that marks the deliberately broken clicks this suite sends to `clicks`.
constexpr char kBrokenMark[] = "streamrec-test.broken";

// The generator's clicks and catalogue, the schema examples run through `streamrec
// produce`, and the user stage's and produce's rejections on clicks.dlq.
TEST_F(ClientsE2eTest, ClicksItemsAndRejectedClicksMatchTheirSchemas) {
  SKIP_WITHOUT_JSONSCHEMA(python);
  // streamrec's parser agrees with the schema on its examples: every valid one
  // accepted, every broken one rejected (to clicks.dlq, without a source header).
  const std::regex summary(R"(produce: (\d+) lines, (\d+) accepted -> clicks, (\d+) rejected)");
  std::smatch m;
  std::string out, err;
  ASSERT_EQ(testing::RunToEnd(*dir_, {STREAMREC_BINARY, "produce", "--brokers", bootstrap_,
                                      "--file", kExamples + "/clicks.valid.jsonl"},
                              &out, &err), 0) << out << err;
  ASSERT_TRUE(std::regex_search(out, m, summary)) << out;
  EXPECT_EQ(m[1], m[2]) << "streamrec rejected a schema-valid example click:\n" << out;
  const int produce_rejected =
      static_cast<int>(ReadLines(kExamples + "/clicks.invalid.jsonl").size());
  ASSERT_EQ(testing::RunToEnd(*dir_, {STREAMREC_BINARY, "produce", "--brokers", bootstrap_,
                                      "--file", kExamples + "/clicks.invalid.jsonl"},
                              &out, &err), 0) << out << err;
  ASSERT_TRUE(std::regex_search(out, m, summary)) << out;
  EXPECT_EQ(std::stoi(m[3]), produce_rejected)
      << "streamrec accepted a click the schema rejects:\n" << out;

  // Broken clicks straight onto `clicks`: the user stage routes each to clicks.dlq with
  // a streamrec.source header.
  const std::vector<std::string> broken = {
      R"({"user_id":"dlq-u1","item_id":"i1","event":"like","ts":1732270000123})",
      R"({"user_id":"dlq-u1","item_id":"i1","event":"click","ts":1732270000})",
      R"({"user_id":"dlq-u1","item_id":"i1","event":"click"})",
      R"({"user_id":"dlq-u1","item_id":7,"event":"click","ts":1732270000123})",
      R"({"user_id":"","item_id":"i1","event":"click","ts":1732270000123})",
      R"(not json at all)"};
  {
    auto producer = Producer();
    ASSERT_NE(producer, nullptr);
    const KafkaHeaders mark = {{kBrokenMark, "1"}};
    for (const std::string& value : broken) {
      ProduceMessage msg;
      msg.topic = "clicks";
      msg.key = "dlq-u1";
      msg.value = value;
      msg.headers = &mark;
      ASSERT_TRUE(producer->Produce(msg).ok());
    }
    ASSERT_TRUE(producer->Flush(10000).ok());
  }

  // clicks.dlq: both kinds of rejection, each rendered as {"key","value","headers"}.
  auto from_stage = [](const std::vector<Record>& records) {
    size_t n = 0;
    for (const Record& r : records) n += r.Header(kBrokenMark).has_value();
    return n;
  };
  const std::vector<Record> dlq = Consume("clicks.dlq", seconds(60), [&](const auto& records) {
    return from_stage(records) >= broken.size() &&
           records.size() >= broken.size() + static_cast<size_t>(produce_rejected);
  });
  ASSERT_EQ(from_stage(dlq), broken.size()) << "the user stage did not route every broken click";
  std::vector<std::string> rendered;
  std::set<std::string> reasons;
  for (const Record& r : dlq) {
    JsonWriter w;
    w.BeginObject().Key("key");
    if (r.has_key) {
      w.String(r.key);
    } else {
      w.Null();
    }
    w.Key("value").String(r.value).Key("headers").BeginObject();
    for (const KafkaHeader& h : r.headers) w.Key(h.key).String(h.value);
    w.EndObject().EndObject();
    rendered.push_back(w.Release());
    if (r.Header(kBrokenMark)) {
      EXPECT_TRUE(r.Header("streamrec.source").has_value()) << rendered.back();
      reasons.insert(std::string(r.Header("streamrec.reject.reason").value_or("")));
    }
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"unknown_event_type", "bad_timestamp", "missing_field",
                                            "wrong_type", "empty_id", "bad_json"}));
  EXPECT_TRUE(Validate(*dir_, python, "clicks.dlq", WriteLines(*dir_, "dlq.jsonl", rendered), false,
                       &out)) << out;
  std::cout << out;

  // The generator's clicks (a few seconds' worth) and its catalogue.
  const std::vector<Record> clicks = Consume("clicks", seconds(30), [](const auto& records) {
    return records.size() >= 2000;
  });
  std::vector<std::string> click_values;
  for (const Record& r : clicks) {
    if (!r.Header(kBrokenMark)) click_values.push_back(r.value);
  }
  ASSERT_GE(click_values.size(), 100u);
  EXPECT_TRUE(Validate(*dir_, python, "clicks", WriteLines(*dir_, "clicks.jsonl", click_values),
                       false, &out)) << out;
  std::cout << out;
  // The catalogue is published once at start; read until it stops growing.
  size_t last = 0;
  auto stable_since = Clock::now();
  const std::vector<Record> items = Consume("items", seconds(30), [&](const auto& records) {
    if (records.size() != last) {
      last = records.size();
      stable_since = Clock::now();
    }
    return !records.empty() && Clock::now() - stable_since > seconds(2);
  });
  std::vector<std::string> item_values;
  for (const Record& r : items) item_values.push_back(r.value);
  ASSERT_FALSE(item_values.empty());
  EXPECT_TRUE(Validate(*dir_, python, "items", WriteLines(*dir_, "items.jsonl", item_values), false,
                       &out)) << out;
  std::cout << out;
}

// Every rec-request example gets an answer on `recommendations` (the key of the
// request); the valid ones an answer, the broken ones an error answer, and each message
// validates against exactly one of the two schemas. HTTP answers and errors too.
TEST_F(ClientsE2eTest, AnswersAndErrorAnswersMatchTheirSchemas) {
  SKIP_WITHOUT_JSONSCHEMA(python);
  const std::vector<std::string> valid = ReadLines(kExamples + "/rec-requests.valid.jsonl");
  const std::vector<std::string> invalid = ReadLines(kExamples + "/rec-requests.invalid.jsonl");
  ASSERT_FALSE(valid.empty());
  ASSERT_FALSE(invalid.empty());
  // The key names the example, so each answer can be matched whatever its request_id.
  const std::string nonce = std::to_string(::getpid());
  std::map<std::string, bool> expect_error;  // key -> whether the answer must be an error
  {
    auto producer = Producer();
    ASSERT_NE(producer, nullptr);
    for (size_t i = 0; i < valid.size() + invalid.size(); ++i) {
      const bool bad = i >= valid.size();
      const std::string key = (bad ? "bad-" : "ok-") + std::to_string(i) + "-" + nonce;
      expect_error[key] = bad;
      const std::string& value = bad ? invalid[i - valid.size()] : valid[i];
      ASSERT_TRUE(producer->Produce("rec-requests", key, value).ok());
    }
    ASSERT_TRUE(producer->Flush(10000).ok());
  }
  auto all_answered = [&](const std::vector<Record>& records) {
    size_t ours = 0;
    for (const Record& r : records) ours += expect_error.count(r.key);
    return ours >= expect_error.size();
  };
  const std::vector<Record> answers = Consume("recommendations", seconds(60), all_answered);
  std::vector<std::string> values;
  std::set<std::string> answered;
  simdjson::dom::parser parser;
  for (const Record& r : answers) {
    values.push_back(r.value);
    auto it = expect_error.find(r.key);
    if (it == expect_error.end()) continue;
    answered.insert(r.key);
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(r.value).get(doc), simdjson::SUCCESS) << r.value;
    simdjson::dom::element error;
    EXPECT_EQ(doc["error"].get(error) == simdjson::SUCCESS, it->second)
        << "answer to " << r.key << ": " << r.value;
  }
  EXPECT_EQ(answered.size(), expect_error.size()) << "some requests got no answer";
  std::string out;
  EXPECT_TRUE(Validate(*dir_, python, "recommendations|errors",
                       WriteLines(*dir_, "recommendations.jsonl", values), false, &out)) << out;
  std::cout << out;

  // HTTP: a 200 answer is a recommendations answer, a 400 or 404 an error answer.
  ASSERT_TRUE(WaitReady(seconds(60))) << "serving never became ready\n" << run_->err();
  std::vector<std::string> http_ok, http_errors;
  for (const char* path : {"/v1/recommendations?user_id=user-00007&k=10",
                           "/v1/recommendations?user_id=nobody-yet"}) {
    auto res = Http().Get(path);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    http_ok.push_back(res->body);
  }
  for (const char* path : {"/v1/recommendations?user_id=u1&k=0", "/v1/recommendations?k=5",
                           "/v1/recommendations?user_id=u1&k=ten"}) {
    auto res = Http().Get(path);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 400) << res->body;
    http_errors.push_back(res->body);
  }
  auto missing = Http().Get("/v1/items/no-such-item/similar?k=5");
  ASSERT_TRUE(missing);
  ASSERT_EQ(missing->status, 404) << missing->body;
  http_errors.push_back(missing->body);
  EXPECT_TRUE(Validate(*dir_, python, "recommendations", WriteLines(*dir_, "http.jsonl", http_ok),
                       false, &out)) << out;
  EXPECT_TRUE(Validate(*dir_, python, "errors", WriteLines(*dir_, "http-errors.jsonl", http_errors),
                       false, &out)) << out;
}

// kafkajs (a Kafka client we did not write) produces clicks and a request and reads the
// answer for that request; its partitioner puts a user where librdkafka's does (clicks
// and rec-requests stay co-partitioned across clients). Latencies with kafkajs's
// default fetch wait and with maxWaitTimeInMs=100 are recorded.
TEST_F(ClientsE2eTest, KafkajsProducesClicksAndGetsTheAnswerToItsRequest) {
  const std::string why = NodeSkipReason();
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string user = "kafkajs-user-" + std::to_string(::getpid());
  std::string out, err;
  const int code = testing::RunShell(
      *dir_,
      "NODE_PATH=" + Quote(STREAMREC_JS_TOOLS_DIR) + " node " +
          Quote(kSource + "/tests/e2e/clients/kafkajs_interop.js") + " " + Quote(bootstrap_) + " " +
          Quote(user) + " 3",
      "", 180, &out, &err);
  ASSERT_EQ(code, 0) << "stdout:\n" << out << "\nstderr:\n" << err;
  std::cout << out;
  // The script asserted the answer itself; read its report line.
  const size_t at = out.find("{\"report\"");
  ASSERT_NE(at, std::string::npos) << out;
  simdjson::dom::parser parser;
  simdjson::dom::element report;
  ASSERT_EQ(parser.parse(out.substr(at, out.find('\n', at) - at)).get(report), simdjson::SUCCESS);
  simdjson::dom::element answer = report["report"]["answer"];
  std::string_view answered_user;
  ASSERT_EQ(answer["user_id"].get(answered_user), simdjson::SUCCESS);
  EXPECT_EQ(answered_user, user);
  // Where kafkajs put the user's clicks and a few more keys, against librdkafka.
  std::map<std::string, int32_t> js_partitions;
  int64_t p = -1;
  ASSERT_EQ(report["report"]["click_partition"].get(p), simdjson::SUCCESS);
  js_partitions[user] = static_cast<int32_t>(p);
  simdjson::dom::object probes;
  ASSERT_EQ(report["report"]["probe_partitions"].get(probes), simdjson::SUCCESS);
  for (auto [key, value] : probes) {
    ASSERT_EQ(value.get(p), simdjson::SUCCESS);
    js_partitions[std::string(key)] = static_cast<int32_t>(p);
  }
  std::vector<std::string> users;
  for (const auto& [u, unused] : js_partitions) users.push_back(u);
  ASSERT_GE(users.size(), 8u);
  EXPECT_EQ(js_partitions, LibrdkafkaPartitionsOf(users))
      << "kafkajs and librdkafka put users on different partitions";

  for (const char* key : {"default_wait_ms", "tuned_wait_ms"}) {
    simdjson::dom::array latencies;
    if (report["report"][key].get(latencies) != simdjson::SUCCESS) continue;
    std::string list;
    for (simdjson::dom::element v : latencies) {
      int64_t ms = 0;
      if (v.get(ms) == simdjson::SUCCESS) list += (list.empty() ? "" : " ") + std::to_string(ms);
    }
    RecordProperty(std::string("kafkajs_answer_latency_ms_") + key, list);
  }
}

// The README's kafkajs example, run as written (BROKERS from the environment).
TEST_F(ClientsE2eTest, ReadmeKafkajsExampleWorks) {
  const std::string why = NodeSkipReason();
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string code = ReadmeExample("kafkajs");
  ASSERT_FALSE(code.empty()) << "README.md has no <!-- example: kafkajs --> code block";
  testing::WriteFile(dir_->File("readme-example.js"), code);
  std::string out, err;
  const int rc = testing::RunShell(*dir_,
                                   "BROKERS=" + Quote(bootstrap_) + " NODE_PATH=" +
                                       Quote(STREAMREC_JS_TOOLS_DIR) + " node " +
                                       Quote(dir_->File("readme-example.js")),
                                   "", 120, &out, &err);
  ASSERT_EQ(rc, 0) << "stdout:\n" << out << "\nstderr:\n" << err;
  std::cout << out;
  // "model vN: item (sources), ..." with the 5 items asked for.
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(model v\d+: (\S+ \([a-z_,]+\)(, )?){5}\n)")))
      << out;
}

// The README's kafka-python example, run as written.
TEST_F(ClientsE2eTest, ReadmeKafkaPythonExampleWorks) {
  const std::string python = FindPython("kafka");
  if (python.empty()) GTEST_SKIP() << "no python3 with the kafka module (Debian: python3-kafka)";
  const std::string code = ReadmeExample("kafka-python");
  ASSERT_FALSE(code.empty()) << "README.md has no <!-- example: kafka-python --> code block";
  testing::WriteFile(dir_->File("readme-example.py"), code);
  std::string out, err;
  const int rc = testing::RunShell(
      *dir_,
      "BROKERS=" + Quote(bootstrap_) + " " + python + " " + Quote(dir_->File("readme-example.py")),
      "", 120, &out, &err);
  ASSERT_EQ(rc, 0) << "stdout:\n" << out << "\nstderr:\n" << err;
  std::cout << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(model v\d+: (\S+ \([a-z_,]+\)(, )?){5}\n)")))
      << out;

  // kafka-python's default partitioner puts users where librdkafka's murmur2_random
  // does (the README's first rule for clients).
  const std::string probe =
      "import json, os, sys\n"
      "from kafka import KafkaProducer\n"
      "p = KafkaProducer(bootstrap_servers=os.environ['BROKERS'], key_serializer=str.encode)\n"
      "for u in sys.argv[1:]:\n"
      "    v = {'user_id': u, 'item_id': 'i1', 'event': 'view', 'ts': 1732270000123}\n"
      "    print(u, p.send('clicks', key=u, value=json.dumps(v).encode()).get(30).partition)\n";
  testing::WriteFile(dir_->File("partition-probe.py"), probe);
  std::vector<std::string> users;
  std::string args;
  for (int i = 0; i < 8; ++i) {
    users.push_back("kafka-python-user-" + std::to_string(::getpid()) + "-" + std::to_string(i));
    args += " " + Quote(users.back());
  }
  ASSERT_EQ(testing::RunShell(*dir_,
                              "BROKERS=" + Quote(bootstrap_) + " " + python + " " +
                                  Quote(dir_->File("partition-probe.py")) + args,
                              "", 60, &out, &err),
            0)
      << out << err;
  std::map<std::string, int32_t> python_partitions;
  std::istringstream lines(out);
  std::string u;
  int32_t partition = -1;
  while (lines >> u >> partition) python_partitions[u] = partition;
  std::cout << out;
  EXPECT_EQ(python_partitions, LibrdkafkaPartitionsOf(users))
      << "kafka-python and librdkafka put users on different partitions";
}

}  // namespace
}  // namespace streamrec
