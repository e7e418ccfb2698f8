// End-to-end in a real browser: `streamrec run` (embedded broker, every stage, synthetic
// clicks, HTTP API) serves the storefront page at `/`; Debian's chromium, driven headless
// by puppeteer-core (storefront.js), picks a shopper, clicks a recommendation, and sees
// the list change. The test then finds that click on the `clicks` topic, checks that a
// catalogue title full of HTML was shown as text, and keeps a screenshot
// (BUILD/Testing/artifacts/storefront.png, path printed). Skipped, saying why, without
// node, chromium or the pinned JS tools. Bounded in time, loopback only; chromium and
// `streamrec run` are killed on every exit path and the scratch directory removed.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "streams/catalog.h"
#include "streams/click_event.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using testing::HaveProgram;
using testing::ReadFile;
using testing::ScratchDir;
using testing::Subprocess;

// A title a shop could be sent by anyone: if the page parsed it as HTML, an <img> would
// appear (the page has none) and its handler would set the flag storefront.js checks.
const char kPoisonedTitle[] =
    "<img src=x onerror=\"window.__storefront_xss=1\">Evil & <b>\"bold\"</b> deal";

// Kills the process group chromium was started in (puppeteer starts it detached, so it
// survives its node parent), after checking the pid is still a chromium.
class ChromiumReaper {
 public:
  explicit ChromiumReaper(std::string pid_file) : pid_file_(std::move(pid_file)) {}
  ~ChromiumReaper() {
    const std::string text = ReadFile(pid_file_);
    const int pid = text.empty() ? 0 : std::atoi(text.c_str());
    if (pid <= 0) return;
    const std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find("chrom") == std::string::npos) return;  // gone (or the pid was reused)
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }

 private:
  std::string pid_file_;
};

std::string JsToolsDir() { return STREAMREC_JS_TOOLS_DIR; }

std::vector<std::string> StringArray(simdjson::dom::element doc, const char* key) {
  std::vector<std::string> out;
  simdjson::dom::array array;
  if (doc[key].get(array)) return out;
  for (simdjson::dom::element e : array) {
    std::string_view s;
    if (!e.get(s)) out.emplace_back(s);
  }
  return out;
}

std::string StringField(simdjson::dom::element doc, const char* key) {
  std::string_view s;
  return doc[key].get(s) ? std::string() : std::string(s);
}

class StorefrontE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveProgram("node")) GTEST_SKIP() << "node is not installed (Debian package nodejs)";
    if (!HaveProgram("chromium")) GTEST_SKIP() << "chromium is not installed (Debian package chromium)";
    if (!std::filesystem::exists(JsToolsDir() + "/puppeteer-core/package.json")) {
      GTEST_SKIP() << "puppeteer-core is not installed at " << JsToolsDir()
                   << " (scripts/dev.sh build installs tests/js there when npm is present)";
    }
    std::string chromium;
    ASSERT_EQ(testing::RunShell(dir_, "command -v chromium", "", 10, &chromium), 0);
    chromium_ = chromium.substr(0, chromium.find_first_of("\r\n"));
  }

  void TearDown() override {
    if (run_ != nullptr) {
      run_->Signal(SIGINT);
      if (run_->Wait(seconds(60)) < 0) ADD_FAILURE() << "streamrec run did not stop on SIGINT";
    }
    run_.reset();
  }

  // Starts `streamrec run` with a small synthetic workload and waits for its HTTP API.
  void StartRun() {
    const std::vector<std::string> argv = {
        STREAMREC_BINARY, "run", "--http", "127.0.0.1:0", "--metrics", "off",
        "--bootstrap-file", dir_.File("bootstrap"), "--rate", "300",
        "--state-dir", dir_.File("state"),
        "--set", "trainer.snapshot_every_seconds=3", "--set", "trainer.batch_size=128"};
    run_ = std::make_unique<Subprocess>(argv, dir_.File("run.out"), dir_.File("run.err"));
    const std::regex http_line(R"(HTTP API:\s+http://([0-9.]+):([0-9]+))");
    const auto deadline = Clock::now() + seconds(90);
    while (Clock::now() < deadline && port_ == 0) {
      std::smatch m;
      const std::string out = run_->out();
      if (std::regex_search(out, m, http_line)) {
        host_ = m[1];
        port_ = std::stoi(m[2]);
      } else if (run_->Wait(milliseconds(100)) >= 0) {
        break;
      }
    }
    ASSERT_GT(port_, 0) << "no HTTP address\n" << run_->out() << "\n" << run_->err();
    bootstrap_ = ReadFile(dir_.File("bootstrap"));
    ASSERT_FALSE(bootstrap_.empty());
  }

  httplib::Client Client() const {
    httplib::Client client(host_, port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    return client;
  }

  // Bounded wait for a served model (the cards show its version).
  bool WaitForModel(seconds limit) const {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      auto res = Client().Get("/readyz");
      if (res && res->status == 200 && res->body.find("\"model_version\":0") == std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
    return false;
  }

  ScratchDir dir_;
  std::string chromium_;
  std::unique_ptr<Subprocess> run_;
  std::string host_;
  int port_ = 0;
  std::string bootstrap_;
};

TEST_F(StorefrontE2eTest, ClickInTheBrowserChangesTheListAndReachesClicks) {
  ASSERT_NO_FATAL_FAILURE(StartRun());
  ASSERT_TRUE(WaitForModel(seconds(120))) << "no model was swapped in\n" << run_->err();
  const std::string user = "storefront-shopper-" + std::to_string(::getpid());

  // Give some of the items this new shopper is shown (cold start: trending) a title full of HTML,
  // through the `items` topic as any catalogue producer would.
  auto first = Client().Get(("/v1/recommendations?user_id=" + user + "&k=20").c_str());
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(first->body).get(doc), simdjson::SUCCESS);
  std::vector<std::string> shown;
  for (simdjson::dom::element item : doc["items"].get_array()) {
    std::string_view id;
    ASSERT_EQ(item["item_id"].get(id), simdjson::SUCCESS);
    shown.emplace_back(id);
  }
  ASSERT_FALSE(shown.empty());
  ProducerOptions po;
  po.brokers = bootstrap_;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  std::string query;
  for (const std::string& id : shown) query += (query.empty() ? "?id=" : "&id=") + id;
  auto catalogue = Client().Get(("/v1/items" + query).c_str());
  ASSERT_TRUE(catalogue);
  ASSERT_EQ(catalogue->status, 200) << catalogue->body;
  simdjson::dom::element entries;
  ASSERT_EQ(parser.parse(catalogue->body).get(entries), simdjson::SUCCESS);
  size_t n = 0;
  for (simdjson::dom::element e : entries["items"].get_array()) {
    if (n++ % 4 != 1) continue;  // a few, so the screenshot stays readable
    Result<CatalogItem> item = ParseCatalogItem(simdjson::minify(e));
    ASSERT_TRUE(item.ok()) << item.status().ToString();
    item->title = kPoisonedTitle;
    ASSERT_TRUE((*producer)->Produce("items", item->item_id, EncodeCatalogItem(*item)).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  const auto titled_deadline = Clock::now() + seconds(30);
  bool titled = false;
  while (!titled && Clock::now() < titled_deadline) {
    auto res = Client().Get(("/v1/items?id=" + shown[1 % shown.size()]).c_str());
    titled = res && res->status == 200 && res->body.find("onerror") != std::string::npos;
    if (!titled) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(titled) << "the catalogue update never reached serving";

  // The browser.
  const std::string artifacts = std::string(STREAMREC_BUILD_DIR) + "/Testing/artifacts";
  std::filesystem::create_directories(artifacts);
  const std::string screenshot = artifacts + "/storefront.png";
  std::filesystem::remove(screenshot);
  const std::string profile = dir_.File("chromium-profile");
  std::filesystem::create_directories(profile);
  const std::string result_path = dir_.File("result.json");
  ChromiumReaper reaper(dir_.File("chromium.pid"));
  {
    const std::string url = "http://" + host_ + ":" + std::to_string(port_) + "/";
    Subprocess node({"/usr/bin/env", "NODE_PATH=" + JsToolsDir(), "HOME=" + dir_.path(),
                     "XDG_CONFIG_HOME=" + dir_.File("xdg-config"),
                     "XDG_CACHE_HOME=" + dir_.File("xdg-cache"), "node",
                     std::string(STREAMREC_SOURCE_DIR) + "/tests/e2e/storefront/storefront.js", url,
                     chromium_, user, profile, dir_.File("chromium.pid"), screenshot, result_path,
                     kPoisonedTitle},
                    dir_.File("node.out"), dir_.File("node.err"));
    int code = node.Wait(seconds(180));
    if (code < 0) {
      node.Signal(SIGTERM);  // storefront.js closes chromium, writes what it saw
      code = node.Wait(seconds(10));
    }
    EXPECT_EQ(code, 0) << "storefront.js\n" << node.out() << "\n" << node.err();
  }
  const std::string result_text = ReadFile(result_path);
  ASSERT_FALSE(result_text.empty()) << "storefront.js wrote no result";
  simdjson::dom::element result;
  ASSERT_EQ(parser.parse(result_text).get(result), simdjson::SUCCESS) << result_text;
  std::printf("storefront.js saw:\n%s\n", result_text.c_str());

  EXPECT_EQ(StringArray(result, "errors"), std::vector<std::string>{});
  EXPECT_EQ(StringArray(result, "outside_requests"), std::vector<std::string>{})
      << "the page reached beyond its own server";
  // Every answer was a success, but for similar items of an item no channel knows yet
  // (404 by design; the page says "no neighbours known yet").
  for (const std::string& failed : StringArray(result, "failed_responses")) {
    EXPECT_TRUE(std::regex_search(failed, std::regex("^404 .*/v1/items/[^/]+/similar"))) << failed;
  }
  const std::vector<std::string> before = StringArray(result, "before");
  const std::vector<std::string> after = StringArray(result, "after");
  const std::string clicked = StringField(result, "clicked");
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(clicked.empty());
  EXPECT_EQ(clicked, before[0]);
  EXPECT_NE(after, before) << "the list did not change after the click";
  EXPECT_FALSE(after.empty());
  for (const std::string& id : after) EXPECT_NE(id, clicked) << "the clicked (seen) item came back";
  EXPECT_NE(StringField(result, "status").find("the list changed"), std::string::npos)
      << StringField(result, "status");
  int64_t change_ms = -1;
  EXPECT_EQ(result["click_to_change_ms"].get(change_ms), simdjson::SUCCESS);
  RecordProperty("click_to_list_change_ms", static_cast<int>(change_ms));
  std::printf("click -> list changed in the browser: %lld ms (POST, then GETs until it differs)\n",
              static_cast<long long>(change_ms));

  // Cards carry the served model's version; the live panel has figures.
  EXPECT_NE(StringField(result, "model_version_attr"), "0");
  simdjson::dom::element live;
  ASSERT_EQ(result["live"].get(live), simdjson::SUCCESS);
  EXPECT_EQ(StringField(live, "model").rfind("v", 0), 0u) << StringField(live, "model");
  EXPECT_NE(StringField(live, "events"), "–");
  EXPECT_NE(StringField(live, "freshness"), "–");
  // The similar panel shows the clicked item's neighbours.
  EXPECT_FALSE(StringArray(result, "similar").empty());

  // User data shown as text: the poisoned title appears verbatim, no element came of it.
  int64_t poisoned = 0, intact = 0, images = -1;
  bool xss = true;
  ASSERT_EQ(result["poisoned_cards"].get(poisoned), simdjson::SUCCESS);
  ASSERT_EQ(result["poisoned_intact"].get(intact), simdjson::SUCCESS);
  ASSERT_EQ(result["img_elements"].get(images), simdjson::SUCCESS);
  ASSERT_EQ(result["xss_ran"].get(xss), simdjson::SUCCESS);
  EXPECT_GE(poisoned, 1) << "no card showed a retitled item";
  EXPECT_EQ(intact, poisoned) << "a title was altered on its way to the page";
  EXPECT_EQ(images, 0);
  EXPECT_FALSE(xss);

  // The screenshot is a PNG of some size.
  const std::string png = ReadFile(screenshot);
  ASSERT_GT(png.size(), 10000u) << screenshot;
  EXPECT_EQ(png.substr(1, 3), "PNG");
  RecordProperty("screenshot", screenshot);
  std::printf("screenshot: %s\n", screenshot.c_str());

  // The click reached `clicks`: key the shopper, the clicked item, event click.
  ConsumerOptions co;
  co.brokers = bootstrap_;
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  auto partitions = (*consumer)->PartitionCount("clicks", 10000);
  ASSERT_TRUE(partitions.ok());
  std::vector<TopicPartitionOffset> assignment;
  for (int p = 0; p < *partitions; ++p) assignment.push_back({"clicks", p, kOffsetBeginning});
  ASSERT_TRUE((*consumer)->Assign(assignment).ok());
  ClickEventParser click_parser;
  bool found = false;
  const auto deadline = Clock::now() + seconds(60);
  while (!found && Clock::now() < deadline) {
    Record record;
    auto got = (*consumer)->Poll(200, &record);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (!*got || record.key != user) continue;
    ClickParseResult parsed = click_parser.Parse(record.value);
    ASSERT_TRUE(parsed.ok()) << record.value;
    EXPECT_EQ(parsed.event.user_id, user);
    EXPECT_EQ(parsed.event.event, EventType::kClick);
    found = parsed.event.item_id == clicked;
  }
  EXPECT_TRUE(found) << "the browser's click on " << clicked << " is not on the clicks topic";
}

}  // namespace
}  // namespace streamrec
