#include "engine/model_bench.h"

#include <gtest/gtest.h>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

TEST(RateStatsTest, MeanStddevAndMedian) {
  const RateStats s = RateStats::FromSamples({4.0, 1.0, 3.0, 2.0});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_NEAR(s.stddev, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_EQ(RateStats::FromSamples({7.0}).stddev, 0.0);
  EXPECT_EQ(RateStats::FromSamples({7.0, 1.0, 9.0}).median, 7.0);
  EXPECT_EQ(RateStats::FromSamples({}).mean, 0.0);
}

TEST(ModelBenchTest, RunsEveryRepetitionOfBothTests) {
  testing_util::TinyModel model({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(model.status.ok()) << model.status.ToString();
  int num_progress = 0;
  Result<ModelBenchResult> r = RunModelBench(
      *model.lm, {.num_prompt_tokens = 16, .num_gen_tokens = 4, .num_repetitions = 3,
                  .progress = [&](const std::string&) { ++num_progress; }});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->prompt.samples.size(), 3u);
  ASSERT_EQ(r->gen.samples.size(), 3u);
  for (double x : r->prompt.samples) EXPECT_GT(x, 0.0);
  EXPECT_GT(r->gen.median, 0.0);
  EXPECT_EQ(num_progress, 2 * (1 + 3));  // a warm-up and three runs per test
}

TEST(ModelBenchTest, SkipsATestWithZeroTokensAndRejectsBadOptions) {
  testing_util::TinyModel model({Architecture::kLlama, "tiny"});
  ASSERT_TRUE(model.status.ok()) << model.status.ToString();
  Result<ModelBenchResult> r = RunModelBench(*model.lm, {.num_prompt_tokens = 0, .num_gen_tokens = 2, .num_repetitions = 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->prompt.samples.empty());
  EXPECT_EQ(r->gen.samples.size(), 1u);
  EXPECT_FALSE(RunModelBench(*model.lm, {.num_repetitions = 0}).ok());
  EXPECT_FALSE(RunModelBench(*model.lm, {.num_prompt_tokens = -1}).ok());
  const int64_t too_long = model.lm->config().max_position_embeddings + 1;
  EXPECT_FALSE(RunModelBench(*model.lm, {.num_prompt_tokens = too_long, .num_repetitions = 1}).ok());
}

}  // namespace
}  // namespace fathom
