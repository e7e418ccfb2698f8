#include "eval/prequential.h"

#include <gtest/gtest.h>

#include "core/metrics.h"
#include "streams/synthetic_clicks.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::eval {
namespace {

std::vector<ClickEvent> Synthetic(int n) {
  SyntheticOptions o;
  o.seed = 7;
  o.num_items = 400;
  o.num_users = 200;
  SyntheticClickGenerator g(o);
  std::vector<ClickEvent> events;
  for (int i = 0; i < n; ++i) events.push_back(g.Next());
  return events;
}

// The served configuration, with a model small enough for a unit test.
PrequentialOptions Options() {
  Config config;
  EXPECT_TRUE(config.Set("trainer.item_capacity", "1000").ok());
  EXPECT_TRUE(config.Set("trainer.user_capacity", "1000").ok());
  EXPECT_TRUE(config.Set("trainer.batch_size", "128").ok());
  EXPECT_TRUE(config.Set("trainer.device", "cpu").ok());
  auto o = PrequentialOptions::FromConfig(config);
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  o->window_events = 1000;
  o->snapshot_every_events = 1000;
  return *o;
}

TEST(PrequentialTest, TwoRunsGiveTheSameReport) {
  const auto events = Synthetic(3000);
  PrequentialOptions options = Options();
  auto a = RunPrequential(events, options);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = RunPrequential(events, options);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  a->seconds = b->seconds = 0;
  EXPECT_EQ(a->ToJson(), b->ToJson());
  EXPECT_EQ(a->all.events, 3000);
  EXPECT_EQ(a->windows.size(), 3u);
  EXPECT_GT(a->models_loaded, 0);
  EXPECT_GT(a->train_steps, 0);
  EXPECT_GE(a->windows.back().model_version, 1);  // the last snapshot comes after the last request
  EXPECT_LE(a->warm.events, a->all.events);
  EXPECT_GT(a->all.hits, 0);
  EXPECT_LE(a->all.ndcg, a->all.hits);
  EXPECT_LE(a->all.rr, a->all.ndcg);
}

// The ranking stage (serving.ranker.enabled): each request's candidates train the
// trainer's ranker (the clicked item against the others), the snapshots carry it, and
// the swapped-in versions reorder the lists: the answers differ from the blend's.
TEST(PrequentialTest, TheRankingStageTrainsOnTheServedRequestsAndChangesTheLists) {
  const auto events = Synthetic(3000);
  PrequentialOptions off = Options();
  auto blend = RunPrequential(events, off);
  ASSERT_TRUE(blend.ok()) << blend.status().ToString();
  EXPECT_EQ(blend->ranking_lists, 0);
  PrequentialOptions on = Options();
  on.service.recommender.ranker_enabled = true;
  auto ranked = RunPrequential(events, on);
  ASSERT_TRUE(ranked.ok()) << ranked.status().ToString();
  EXPECT_GT(ranked->ranking_lists, 300);
  EXPECT_EQ(ranked->all.events, 3000);
  // The first window is served before any model (and so any ranker) is swapped in.
  EXPECT_EQ(ranked->windows[0].metrics.hits, blend->windows[0].metrics.hits);
  EXPECT_NE(ranked->windows.back().metrics.ndcg, blend->windows.back().metrics.ndcg);
}

// The counter of the item stage's batch view adoptions, by result (process-wide).
double Adoptions(const std::string& result) {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != "streamrec_lambda_adoptions_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "result" && l.value == result) return m.counter.value;
      }
    }
  }
  return 0;
}

// The lambda merge in the harness (--batch-every): every 500 events the batch layer's
// code recomputes the views of everything consumed and the item stage re-bases onto
// them; each view is adopted (none refused) and the run is still deterministic.
TEST(PrequentialTest, MergedServingAdoptsEveryBatchView) {
  const auto events = Synthetic(3000);
  PrequentialOptions options = Options();
  options.batch_every_events = 500;
  const double adopted = Adoptions("adopted"), refused = Adoptions("refused");
  auto a = RunPrequential(events, options);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  // Six views, each adopted at the item stage's next commit (the last at its closing one).
  EXPECT_EQ(Adoptions("adopted") - adopted, 6);
  EXPECT_EQ(Adoptions("refused") - refused, 0);
  auto b = RunPrequential(events, options);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  a->seconds = b->seconds = 0;
  EXPECT_EQ(a->ToJson(), b->ToJson());
  EXPECT_EQ(a->all.events, 3000);
  EXPECT_GT(a->all.hits, 0);
}

TEST(PrequentialTest, BaselinesRunInTheSameHarness) {
  const auto events = Synthetic(2000);
  for (const char* model : {"top", "mc", "itemknn"}) {
    PrequentialOptions options = Options();
    options.model = model;
    auto r = RunPrequential(events, options);
    ASSERT_TRUE(r.ok()) << model << ": " << r.status().ToString();
    EXPECT_EQ(r->model, model);
    EXPECT_EQ(r->all.events, 2000);
    EXPECT_GT(r->all.hits, 0) << model;
  }
  PrequentialOptions bad = Options();
  bad.model = "svd";
  EXPECT_FALSE(RunPrequential(events, bad).ok());
}

TEST(PrequentialTest, ServedBlendBeatsPopularityOnThePlantedStructure) {
  // Sessions stay within a user's latent cluster (streams/synthetic_clicks.h), so the
  // co-occurrence and two-tower channels can find what popularity cannot.
  const auto events = Synthetic(12000);
  PrequentialOptions served = Options();
  served.window_events = 4000;
  served.snapshot_every_events = 2000;
  auto blend = RunPrequential(events, served);
  ASSERT_TRUE(blend.ok()) << blend.status().ToString();
  PrequentialOptions baseline = served;
  baseline.model = "top";
  auto top = RunPrequential(events, baseline);
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  std::printf("blend %s\ntop   %s\n", blend->SummaryLine().c_str(), top->SummaryLine().c_str());
  EXPECT_EQ(blend->model, "blend");
  EXPECT_GE(blend->all.hit_rate(), 1.5 * top->all.hit_rate());
  EXPECT_GE(blend->all.hit_rate(), top->all.hit_rate() + 0.05);
}

}  // namespace
}  // namespace streamrec::eval
