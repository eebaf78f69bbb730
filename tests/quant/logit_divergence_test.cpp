#include "quant/logit_divergence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace fathom {
namespace {

TEST(LogitDivergenceTest, IdenticalRowsDivergeByNothing) {
  LogitDivergence d(4);
  const std::vector<float> row = {1.0f, -2.0f, 3.5f, 0.25f};
  d.Add(row, row);
  d.Add(row, row);
  const LogitDivergence::Summary s = d.Summarize();
  EXPECT_EQ(s.num_positions, 2);
  EXPECT_EQ(s.mean_kl, 0.0);
  EXPECT_EQ(s.max_kl, 0.0);
  EXPECT_EQ(s.top1_agreement, 1.0);
  EXPECT_EQ(s.logits_rel_rms, 0.0);
}

TEST(LogitDivergenceTest, ShiftedLogitsGiveTheSameDistribution) {
  LogitDivergence d(3);
  d.Add(std::vector<float>{0.0f, 1.0f, 2.0f}, std::vector<float>{10.0f, 11.0f, 12.0f});
  EXPECT_NEAR(d.Summarize().mean_kl, 0.0, 1e-12);
  EXPECT_GT(d.Summarize().logits_rel_rms, 1.0);
}

TEST(LogitDivergenceTest, KlMatchesTheClosedForm) {
  // Two tokens: p = softmax(0, 0) = (1/2, 1/2), q = softmax(0, ln 3) = (1/4, 3/4).
  LogitDivergence d(2);
  d.Add(std::vector<float>{0.0f, 0.0f}, std::vector<float>{0.0f, static_cast<float>(std::log(3.0))});
  const double want = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  EXPECT_NEAR(d.Summarize().mean_kl, want, 1e-7);
}

TEST(LogitDivergenceTest, SummaryCountsTopOneAndPercentiles) {
  LogitDivergence d(2);
  // 100 positions: 99 identical, one with the argmax flipped.
  for (int i = 0; i < 99; ++i) d.Add(std::vector<float>{1.0f, 0.0f}, std::vector<float>{1.0f, 0.0f});
  d.Add(std::vector<float>{1.0f, 0.0f}, std::vector<float>{0.0f, 1.0f});
  const LogitDivergence::Summary s = d.Summarize();
  EXPECT_EQ(s.num_positions, 100);
  EXPECT_DOUBLE_EQ(s.top1_agreement, 0.99);
  EXPECT_GT(s.max_kl, 0.0);
  EXPECT_EQ(s.p99_kl, 0.0);  // the 99th smallest of 100 is still an exact match
  EXPECT_NEAR(s.mean_kl, s.max_kl / 100.0, 1e-15);
}

TEST(LogitDivergenceTest, AddRowsSplitsBlocksIntoPositions) {
  LogitDivergence d(2);
  const std::vector<float> block = {1.0f, 0.0f, 0.0f, 1.0f, 2.0f, 2.0f};
  d.AddRows(block, block);
  EXPECT_EQ(d.Summarize().num_positions, 3);
}

}  // namespace
}  // namespace fathom
