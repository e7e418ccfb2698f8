// Hot swap under load, over HTTP: a client sends requests continuously while model
// versions are announced one after another (one of them corrupt). No request may fail,
// the versions in responses never go backwards, the corrupt one is refused.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/id_hash.h"
#include "serving/http_api.h"
#include "serving/recommendation_service.h"
#include "serving/two_tower_loader.h"
#include "tests/support/tiny_trainer.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec::serving {
namespace {

namespace fs = std::filesystem;

TEST(HotSwapUnderLoadTest, NoFailedRequestsAndVersionsNeverGoBackwards) {
  std::string tmpl = ::testing::TempDir() + "/hot_swap_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  auto trainer = training::Trainer::Create(
      testing::TinyTrainerOptions(dir + "/store", /*item_capacity=*/100, /*batch_size=*/16));
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();

  RecommendationService service;
  for (int u = 0; u < 5; ++u) {
    service.history().Record(HashId("u" + std::to_string(u)), HashId("i1"), "i1", 1000);
  }
  service.SetTablesLoaded(true);
  HttpApi api(HttpApiOptions(), &service, {});
  ASSERT_TRUE(api.Start().ok());

  std::atomic<bool> stop{false};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> failures{0};
  std::atomic<int64_t> backwards{0};
  std::vector<int64_t> seen_versions;
  std::vector<std::thread> clients;
  std::mutex seen_mu;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", api.port());
      client.set_read_timeout(10);
      int64_t last = 0;
      for (int64_t i = 0; !stop.load(); ++i) {
        const std::string path =
            "/v1/recommendations?k=5&user_id=u" + std::to_string((i + c) % 6);  // u5: cold
        auto res = client.Get(path.c_str());
        requests.fetch_add(1);
        if (!res || res->status != 200) {
          failures.fetch_add(1);
          continue;
        }
        auto decoded = DecodeRecResponse(res->body);
        if (!decoded.ok()) {
          failures.fetch_add(1);
          continue;
        }
        const int64_t v = decoded->response.model_version;
        if (v < last) backwards.fetch_add(1);
        if (v != last) {
          std::lock_guard<std::mutex> lock(seen_mu);
          seen_versions.push_back(v);
        }
        last = v;
      }
    });
  }

  int refused = 0;
  for (int version = 1; version <= 6; ++version) {
    for (int i = 0; i < 32; ++i) {
      TrainingExample e;
      e.user_id = "u" + std::to_string(i % 5);
      e.user_key = HashId(e.user_id);
      e.item_id = "i" + std::to_string((i * 7 + version) % 40);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1000000 + version * 100 + i;
      e.history_keys.push_back(HashId("i1"));
      e.history_ts_ms.push_back(e.ts_ms - 10);
      ASSERT_TRUE((*trainer)->AddExample(e).ok());
    }
    auto m = (*trainer)->WriteSnapshot(2000000 + version);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const bool corrupt = version == 4;
    if (corrupt) {
      std::fstream f(m->dir + "/items.bin", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-4, std::ios::end);
      f.write("\x00\x00\xc0\x7f", 4);  // a NaN (and a checksum mismatch)
    }
    auto aspired = AspiredVersionFromAnnouncement(
        training::ModelAnnouncement::FromManifest(*m).ToJson(), "two_tower", {},
        &service.history());
    ASSERT_TRUE(aspired.ok());
    std::vector<AspiredVersion<TwoTowerModel>> versions;
    versions.push_back(std::move(aspired).value());
    Status st = service.models().SetAspiredVersions(std::move(versions));
    EXPECT_EQ(st.ok(), !corrupt) << version << ": " << st.ToString();
    if (!st.ok()) ++refused;
    EXPECT_EQ(service.models().version(), corrupt ? 3 : version);
    // Let the clients get some requests in on this version.
    const int64_t target = requests.load() + 20;
    while (requests.load() < target) std::this_thread::yield();
  }
  stop.store(true);
  for (auto& t : clients) t.join();
  api.Stop();
  fs::remove_all(dir);

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(refused, 1);
  EXPECT_GT(requests.load(), 100);
  std::lock_guard<std::mutex> lock(seen_mu);
  for (int64_t v : seen_versions) EXPECT_NE(v, 4);  // the corrupt version never served
}

}  // namespace
}  // namespace streamrec::serving
