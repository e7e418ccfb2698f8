#include "training/trainer_config.h"

#include <gtest/gtest.h>

#include <string>

#include "core/config.h"

namespace streamrec::training {
namespace {

TEST(TrainerConfigTest, TheServedPipelineReplaysByDefaultAndTheKeysOverrideIt) {
  Config empty;
  auto defaults = TrainerOptionsFromConfig(empty);
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->replay_steps, 7);
  EXPECT_EQ(defaults->replay_capacity, TrainerOptions().replay_capacity);
  EXPECT_EQ(TrainerOptions().replay_steps, 0);  // the library's own default: no replay

  auto set = Config::FromYamlString("trainer:\n  replay_steps: 0\n  replay_capacity: 4096\n");
  ASSERT_TRUE(set.ok());
  auto off = TrainerOptionsFromConfig(*set);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->replay_steps, 0);
  EXPECT_EQ(off->replay_capacity, 4096);

  auto negative = Config::FromYamlString("trainer:\n  replay_steps: -1\n");
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(TrainerOptionsFromConfig(*negative).status().code(), Status::Code::kInvalidArgument);
  auto small = Config::FromYamlString("trainer:\n  batch_size: 64\n  replay_capacity: 32\n");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(TrainerOptionsFromConfig(*small).status().code(), Status::Code::kInvalidArgument);
}

TEST(TrainerConfigTest, ItemSideFeaturesAutoGivesTheItemTowerSideTables) {
  auto defaults = TrainerOptionsFromConfig(Config());
  ASSERT_TRUE(defaults.ok());
  const bool on_by_default = std::string(kDefaultItemSideFeatures) == "auto";
  EXPECT_EQ(defaults->model.category_capacity, on_by_default ? kSideFeatureBuckets : 0);
  EXPECT_EQ(defaults->model.brand_capacity, on_by_default ? kSideFeatureBuckets : 0);

  auto parse = [](const std::string& yaml) {
    auto c = Config::FromYamlString(yaml);
    EXPECT_TRUE(c.ok());
    return TrainerOptionsFromConfig(*c);
  };
  auto on = parse("trainer:\n  item_side_features: auto\n  brand_capacity: 100\n");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_EQ(on->model.category_capacity, kSideFeatureBuckets);
  EXPECT_EQ(on->model.brand_capacity, 100);
  auto off = parse("trainer:\n  item_side_features: off\n  category_capacity: 100\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->model.category_capacity, 0);  // off: no side tables whatever the sizes
  EXPECT_EQ(off->model.brand_capacity, 0);
  EXPECT_EQ(parse("trainer:\n  item_side_features: maybe\n").status().code(),
            Status::Code::kInvalidArgument);
}

TEST(TrainerConfigTest, HistoryEncoderNamesMeanGruAndWrnn) {
  auto defaults = TrainerOptionsFromConfig(Config());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->model.history_encoder, HistoryEncoder::kWrnn);
  for (auto [name, encoder] : {std::pair{"mean", HistoryEncoder::kMean},
                               std::pair{"gru", HistoryEncoder::kGru},
                               std::pair{"wrnn", HistoryEncoder::kWrnn}}) {
    auto c = Config::FromYamlString(std::string("trainer:\n  history_encoder: ") + name + "\n");
    ASSERT_TRUE(c.ok());
    auto o = TrainerOptionsFromConfig(*c);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->model.history_encoder, encoder) << name;
    EXPECT_STREQ(HistoryEncoderName(encoder), name);
  }
  auto bad = Config::FromYamlString("trainer:\n  history_encoder: lstm\n");
  ASSERT_TRUE(bad.ok());
  const Status s = TrainerOptionsFromConfig(*bad).status();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.ToString().find("mean, gru or wrnn"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace streamrec::training
