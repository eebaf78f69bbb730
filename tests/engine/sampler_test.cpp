#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace fathom {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Sampler MakeSampler(SamplingParams params, int64_t vocab_size, std::vector<int32_t> prompt_tokens = {}) {
  Result<Sampler> sampler = Sampler::Create(std::move(params), vocab_size, prompt_tokens);
  FATHOM_CHECK_MSG(sampler.ok(), sampler.status().ToString());
  return std::move(sampler).value();
}

SamplingParams Seeded(uint64_t seed) {
  SamplingParams params;
  params.seed = seed;
  return params;
}

int32_t SampleOk(Sampler& sampler, std::span<const float> logits, SamplerScratch* scratch) {
  Result<int32_t> token = sampler.Sample(logits, scratch);
  FATHOM_CHECK_MSG(token.ok(), token.status().ToString());
  return *token;
}

// Returns how often each token came up in `num_draws` draws.
std::vector<int> CountDraws(Sampler& sampler, std::span<const float> logits, int num_draws) {
  SamplerScratch scratch;
  std::vector<int> counts(logits.size());
  for (int i = 0; i < num_draws; ++i) ++counts[SampleOk(sampler, logits, &scratch)];
  return counts;
}

std::set<int32_t> DrawnTokens(const std::vector<int>& counts) {
  std::set<int32_t> drawn;
  for (size_t t = 0; t < counts.size(); ++t) {
    if (counts[t] > 0) drawn.insert(static_cast<int32_t>(t));
  }
  return drawn;
}

// The reference distribution: softmax(logits / temperature) in double.
std::vector<double> Softmax(std::span<const float> logits, double temperature) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs;
  for (float logit : logits) probs.push_back(std::exp((logit - max_logit) / temperature));
  const double sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (double& p : probs) p /= sum;
  return probs;
}

// Token ids ordered most likely first, lower id first on ties.
std::vector<int32_t> RankedTokens(std::span<const float> logits) {
  std::vector<int32_t> ranked(logits.size());
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return ranked;
}

int32_t FirstArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Logits uniform in [lo, hi), the same on every platform.
std::vector<float> RandomLogits(size_t n, uint64_t seed, float lo = -4.0f, float hi = 4.0f) {
  std::mt19937_64 rng(seed);
  std::vector<float> logits(n);
  for (float& logit : logits) logit = lo + (hi - lo) * static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-53);
  return logits;
}

// The reference top-p set: the shortest most-likely-first prefix whose probability
// reaches top_p. Fails the test unless p is clear of both ends of the boundary
// token, so float rounding in the sampler cannot move it.
std::set<int32_t> ReferenceNucleus(std::span<const float> logits, double top_p) {
  const std::vector<double> probs = Softmax(logits, 1.0);
  std::set<int32_t> nucleus;
  double mass = 0.0;
  for (int32_t token : RankedTokens(logits)) {
    nucleus.insert(token);
    mass += probs[token];
    if (mass >= top_p) {
      EXPECT_GT(mass - top_p, 1e-4) << "p is too close to a prefix mass";
      EXPECT_GT(top_p - (mass - probs[token]), 1e-4) << "p is too close to a prefix mass";
      break;
    }
  }
  return nucleus;
}

std::vector<float> LogOf(std::vector<double> probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// ---- greedy and temperature ----

TEST(SamplerTest, GreedyIsArgMaxWithTiesToLowestId) {
  SamplingParams params;
  params.temperature = 0.0f;
  Sampler sampler = MakeSampler(params, 6);
  SamplerScratch scratch;
  const std::vector<float> tied = {1.0f, 3.0f, 0.5f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(SampleOk(sampler, tied, &scratch), 1);
  const std::vector<float> flat(6, 0.25f);
  EXPECT_EQ(SampleOk(sampler, flat, &scratch), 0);
  for (uint64_t row = 0; row < 20; ++row) {
    const std::vector<float> logits = RandomLogits(6, row);
    EXPECT_EQ(SampleOk(sampler, logits, &scratch), FirstArgMax(logits)) << "row " << row;
  }
}

TEST(SamplerTest, GreedyIgnoresFiltersAndSeed) {
  const std::vector<float> logits = RandomLogits(100, 7);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    SamplingParams params = Seeded(seed);
    params.temperature = 0.0f;
    params.top_k = 3;
    params.top_p = 0.1f;
    params.min_p = 0.9f;
    Sampler sampler = MakeSampler(params, 100);
    EXPECT_EQ(CountDraws(sampler, logits, 50)[FirstArgMax(logits)], 50);
  }
}

TEST(SamplerTest, TemperatureNearZeroActsAsGreedy) {
  // Below kGreedyTemperature it is greedy, ties included.
  SamplingParams below = Seeded(1);
  below.temperature = kGreedyTemperature / 2;
  Sampler greedy = MakeSampler(below, 4);
  EXPECT_TRUE(greedy.is_greedy());
  const std::vector<float> tied = {0.0f, 2.0f, 2.0f, 1.0f};
  EXPECT_EQ(CountDraws(greedy, tied, 100)[1], 100);

  // Just above it, gaps of 0.5 leave the runner-up exp(-0.5 / 0.01) ~ 2e-22 of the mass.
  SamplingParams cold = Seeded(1);
  cold.temperature = 0.01f;
  Sampler sampler = MakeSampler(cold, 4);
  EXPECT_FALSE(sampler.is_greedy());
  const std::vector<float> logits = {0.0f, 1.5f, 1.0f, 0.5f};
  EXPECT_EQ(CountDraws(sampler, logits, 500)[1], 500);
}

TEST(SamplerTest, FrequenciesMatchTemperedSoftmax) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f, 1.5f};
  constexpr int kDraws = 20000;
  // Binomial standard deviation is at most sqrt(0.25 / 20000) = 0.0035; 0.012 is
  // over 3 of them, and the fixed seed makes the outcome the same on every run.
  constexpr double kTolerance = 0.012;
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    SamplingParams params = Seeded(99);
    params.temperature = temperature;
    Sampler sampler = MakeSampler(params, logits.size());
    const std::vector<int> counts = CountDraws(sampler, logits, kDraws);
    const std::vector<double> expected = Softmax(logits, temperature);
    for (size_t t = 0; t < logits.size(); ++t) {
      EXPECT_NEAR(static_cast<double>(counts[t]) / kDraws, expected[t], kTolerance)
          << "temperature " << temperature << " token " << t;
    }
  }
  // The bound can tell these temperatures apart.
  EXPECT_GT(std::abs(Softmax(logits, 0.5)[0] - Softmax(logits, 2.0)[0]), 10 * kTolerance);
}

// ---- top-k, top-p, min-p ----

TEST(SamplerTest, TopKDrawsExactlyTheKMostLikely) {
  const std::vector<float> logits = RandomLogits(40, 3, -1.0f, 1.0f);
  const std::vector<int32_t> ranked = RankedTokens(logits);
  for (int32_t k : {1, 5, 12}) {
    SamplingParams params = Seeded(k);
    params.top_k = k;
    Sampler sampler = MakeSampler(params, logits.size());
    const std::set<int32_t> expected(ranked.begin(), ranked.begin() + k);
    EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 1000)), expected) << "k " << k;
  }
  // A k past the vocabulary keeps everything.
  SamplingParams wide = Seeded(5);
  wide.top_k = 1000;
  Sampler sampler = MakeSampler(wide, 4);
  EXPECT_EQ(DrawnTokens(CountDraws(sampler, std::vector<float>(4, 0.0f), 400)).size(), 4u);
}

TEST(SamplerTest, TopKTiesGoToLowerIds) {
  SamplingParams params = Seeded(11);
  params.top_k = 2;
  Sampler sampler = MakeSampler(params, 5);
  const std::vector<float> logits = {0.0f, 2.0f, 2.0f, 2.0f, 1.0f};
  EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 1000)), (std::set<int32_t>{1, 2}));
}

TEST(SamplerTest, TopKOfOneIsGreedy) {
  std::vector<std::vector<float>> rows = {{0.0f, 3.0f, 1.0f, 3.0f, 3.0f, -1.0f}};
  for (uint64_t row = 0; row < 20; ++row) rows.push_back(RandomLogits(6, 100 + row));
  for (size_t row = 0; row < rows.size(); ++row) {
    const std::vector<float>& logits = rows[row];
    SamplingParams params = Seeded(row);
    params.top_k = 1;
    params.temperature = 1.5f;
    Sampler sampler = MakeSampler(params, 6);
    EXPECT_EQ(CountDraws(sampler, logits, 20)[FirstArgMax(logits)], 20);
  }
}

TEST(SamplerTest, TopPKeepsTheShortestPrefixReachingP) {
  // Most likely first: token 1 (0.4), 3 (0.3), 2 (0.2), 0 (0.1); prefix masses
  // 0.4, 0.7, 0.9, 1.0, each well away from the p values below.
  const std::vector<float> logits = LogOf({0.1, 0.4, 0.2, 0.3});
  struct Case {
    float top_p;
    std::set<int32_t> kept;
  };
  for (const Case& c :
       {Case{0.05f, {1}}, Case{0.35f, {1}}, Case{0.65f, {1, 3}}, Case{0.75f, {1, 2, 3}}, Case{1.0f, {0, 1, 2, 3}}}) {
    SamplingParams params = Seeded(21);
    params.top_p = c.top_p;
    Sampler sampler = MakeSampler(params, 4);
    const std::vector<int> counts = CountDraws(sampler, logits, 4000);
    EXPECT_EQ(DrawnTokens(counts), c.kept) << "top_p " << c.top_p;
    if (c.kept.size() == 2) {
      // Renormalised over what is kept: 0.4 / 0.7.
      EXPECT_NEAR(counts[1] / 4000.0, 0.4 / 0.7, 0.03);
    }
  }
}

TEST(SamplerTest, TopPIsOverWhatTopKLeft) {
  // Alone, p = 0.5 keeps {0, 1} (0.4 < 0.5). After top_k = 2 the two renormalise to
  // 0.57 and 0.43, and 0.57 alone reaches 0.5.
  const std::vector<float> logits = LogOf({0.4, 0.3, 0.2, 0.1});
  SamplingParams params = Seeded(4);
  params.top_p = 0.5f;
  Sampler top_p_only = MakeSampler(params, 4);
  EXPECT_EQ(DrawnTokens(CountDraws(top_p_only, logits, 2000)), (std::set<int32_t>{0, 1}));
  params.top_k = 2;
  Sampler both = MakeSampler(params, 4);
  EXPECT_EQ(DrawnTokens(CountDraws(both, logits, 2000)), (std::set<int32_t>{0}));
}

TEST(SamplerTest, TopPNucleusOfManyTokens) {
  // 600 tokens in scrambled id order (rank * 257 mod 600 is a permutation): 100
  // nearly flat at the top, 500 far below. The nucleus is ~60 of the top 100, each
  // likely enough to be drawn, spread over many of the sampler's logit buckets.
  constexpr size_t kVocab = 600;
  constexpr float kTopP = 0.5f;
  std::vector<float> logits(kVocab);
  for (size_t rank = 0; rank < kVocab; ++rank) {
    logits[rank * 257 % kVocab] = rank < 100 ? -0.001f * rank : -3.0f - 0.001f * rank;
  }
  const std::set<int32_t> nucleus = ReferenceNucleus(logits, kTopP);
  ASSERT_GT(nucleus.size(), 50u);

  SamplingParams params = Seeded(31);
  params.top_p = kTopP;
  Sampler sampler = MakeSampler(params, kVocab);
  EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 1500)), nucleus);
}

TEST(SamplerTest, LargeRowsWithTiesSelectLikeTheSortedReference) {
  // Past 512 candidates the sampler buckets logits instead of sorting them. Three
  // tokens at 5 and ten tied at 4 (ids scattered) put the boundary of most k and p
  // below inside one bucket, with the buckets before it already holding mass.
  constexpr size_t kVocab = 600;
  std::vector<float> logits = RandomLogits(kVocab, 12, -3.0f, 0.0f);
  for (size_t i = 0; i < 13; ++i) logits[(i * 277 + 31) % kVocab] = i < 3 ? 5.0f : 4.0f;
  const std::vector<int32_t> ranked = RankedTokens(logits);
  for (int32_t k : {2, 6, 9}) {
    SamplingParams params = Seeded(k);
    params.top_k = k;
    Sampler sampler = MakeSampler(params, kVocab);
    EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 400)), std::set<int32_t>(ranked.begin(), ranked.begin() + k))
        << "k " << k;
  }
  for (float p : {0.2f, 0.45f, 0.6f}) {
    SamplingParams params = Seeded(7);
    params.top_p = p;
    Sampler sampler = MakeSampler(params, kVocab);
    EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 400)), ReferenceNucleus(logits, p)) << "p " << p;
  }
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheMostLikely) {
  // min_p = 0.3 compares exp(-gap / T) with 0.3; gaps to the top are 0, 1, 2, 3, 0.5.
  const std::vector<float> logits = {0.0f, -1.0f, -2.0f, -3.0f, -0.5f};
  struct Case {
    float temperature;
    std::set<int32_t> kept;
  };
  // T = 1: ratios 1, 0.37, 0.14, 0.05, 0.61.  T = 2: 1, 0.61, 0.37, 0.22, 0.78.
  for (const Case& c : {Case{1.0f, {0, 1, 4}}, Case{2.0f, {0, 1, 2, 4}}}) {
    SamplingParams params = Seeded(41);
    params.min_p = 0.3f;
    params.temperature = c.temperature;
    Sampler sampler = MakeSampler(params, logits.size());
    EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 3000)), c.kept) << "temperature " << c.temperature;
  }
}

// ---- non-finite logits ----

TEST(SamplerTest, NegativeInfinityIsNeverDrawn) {
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, -1.0f};
  Sampler sampler = MakeSampler(Seeded(2), 4);
  EXPECT_EQ(DrawnTokens(CountDraws(sampler, logits, 1000)), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, PositiveInfinityTakesAllTheMassEqually) {
  const std::vector<float> logits = {0.0f, kInf, 50.0f, kInf};
  Sampler sampler = MakeSampler(Seeded(3), 4);
  const std::vector<int> counts = CountDraws(sampler, logits, 2000);
  EXPECT_EQ(DrawnTokens(counts), (std::set<int32_t>{1, 3}));
  EXPECT_NEAR(counts[1] / 2000.0, 0.5, 0.05);

  SamplingParams params;
  params.temperature = 0.0f;
  Sampler greedy = MakeSampler(params, 4);
  EXPECT_EQ(CountDraws(greedy, logits, 1)[1], 1);
}

TEST(SamplerTest, NanOrNoFiniteLogitIsAnError) {
  SamplerScratch scratch;
  SamplingParams greedy_params;
  greedy_params.temperature = 0.0f;
  for (const SamplingParams& params : {Seeded(1), greedy_params}) {
    Sampler sampler = MakeSampler(params, 3);
    Result<int32_t> nan = sampler.Sample(std::vector<float>{0.0f, 1.0f, std::nanf("")}, &scratch);
    ASSERT_FALSE(nan.ok());
    EXPECT_EQ(nan.status().code(), StatusCode::kInternal);
    EXPECT_NE(nan.status().message().find("token 2 is NaN"), std::string::npos) << nan.status().message();

    Result<int32_t> none = sampler.Sample(std::vector<float>(3, -kInf), &scratch);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().message().find("every logit is -inf"), std::string::npos) << none.status().message();
  }
}

// ---- penalties and logit bias: exact adjusted logits ----

std::vector<float> Adjusted(const Sampler& sampler, std::vector<float> logits) {
  sampler.ApplyBiasAndPenalties(logits);
  return logits;
}

TEST(SamplerPenaltyTest, RepetitionDividesPositiveAndMultipliesOtherLogits) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  Sampler sampler = MakeSampler(params, 6, {1, 2, 4});
  sampler.Accept(3);
  // Token 0 and 5 were never seen; 1, 2, 4 are prompt tokens; 3 is output.
  EXPECT_EQ(Adjusted(sampler, {1.0f, 2.0f, -2.0f, 4.0f, 0.0f, 5.0f}),
            (std::vector<float>{1.0f, 1.0f, -4.0f, 2.0f, 0.0f, 5.0f}));
}

TEST(SamplerPenaltyTest, RepetitionAppliesOncePerTokenHoweverOftenSeen) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  Sampler sampler = MakeSampler(params, 2, {1, 1, 1});
  sampler.Accept(1);
  sampler.Accept(1);
  EXPECT_EQ(Adjusted(sampler, {3.0f, 3.0f}), (std::vector<float>{3.0f, 1.5f}));
}

TEST(SamplerPenaltyTest, PresenceOncePerOutputTokenFrequencyPerOccurrence) {
  SamplingParams params;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  Sampler sampler = MakeSampler(params, 4, {0, 3});  // prompt tokens take neither
  for (int32_t token : {1, 1, 1, 2}) sampler.Accept(token);
  EXPECT_EQ(Adjusted(sampler, {1.0f, 1.0f, 1.0f, 1.0f}),
            (std::vector<float>{1.0f, 1.0f - 3 * 0.25f - 0.5f, 1.0f - 0.25f - 0.5f, 1.0f}));
}

TEST(SamplerPenaltyTest, NegativePenaltiesEncourageRepeats) {
  SamplingParams params;
  params.presence_penalty = -1.0f;
  params.frequency_penalty = -0.5f;
  Sampler sampler = MakeSampler(params, 2);
  sampler.Accept(0);
  sampler.Accept(0);
  EXPECT_EQ(Adjusted(sampler, {0.0f, 0.0f}), (std::vector<float>{2.0f, 0.0f}));
}

TEST(SamplerPenaltyTest, RepetitionComesBeforeFrequencyAndPresence) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  params.frequency_penalty = 0.5f;
  params.presence_penalty = 1.0f;
  Sampler sampler = MakeSampler(params, 1);
  sampler.Accept(0);
  sampler.Accept(0);
  // 3 / 2 - 0.5 * 2 - 1; the other order would give (3 - 2) / 2.
  EXPECT_EQ(Adjusted(sampler, {3.0f}), (std::vector<float>{-0.5f}));
}

TEST(SamplerPenaltyTest, LogitBiasAddsBeforePenalties) {
  SamplingParams params;
  params.logit_bias = {{0, 3.0f}, {2, -100.0f}};
  params.repetition_penalty = 2.0f;
  Sampler sampler = MakeSampler(params, 3, {0});
  // (1 + 3) / 2; the other order would give 1 / 2 + 3.
  EXPECT_EQ(Adjusted(sampler, {1.0f, 1.0f, 1.0f}), (std::vector<float>{2.0f, 1.0f, -99.0f}));
}

TEST(SamplerPenaltyTest, DisabledPenaltiesLeaveLogitsAlone) {
  Sampler sampler = MakeSampler(SamplingParams{}, 3, {0, 1, 2});
  for (int32_t token : {0, 1, 1, 2}) sampler.Accept(token);
  EXPECT_EQ(Adjusted(sampler, {1.0f, -1.0f, 0.5f}), (std::vector<float>{1.0f, -1.0f, 0.5f}));
}

TEST(SamplerPenaltyTest, SampleSeesPenalisedLogitsAndLeavesTheInputAlone) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.presence_penalty = 0.5f;
  params.logit_bias = {{2, -100.0f}};
  Sampler sampler = MakeSampler(params, 3);
  SamplerScratch scratch;
  const std::vector<float> logits = {2.0f, 1.9f, 50.0f};
  EXPECT_EQ(SampleOk(sampler, logits, &scratch), 0);  // 50 - 100 < 2
  sampler.Accept(0);
  EXPECT_EQ(SampleOk(sampler, logits, &scratch), 1);  // 2 - 0.5 < 1.9
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 1.9f, 50.0f}));
}

// ---- seeds ----

std::vector<int32_t> Generate(Sampler& sampler, std::span<const float> logits, int num_tokens) {
  SamplerScratch scratch;
  std::vector<int32_t> tokens;
  for (int i = 0; i < num_tokens; ++i) {
    tokens.push_back(SampleOk(sampler, logits, &scratch));
    sampler.Accept(tokens.back());
  }
  return tokens;
}

SamplingParams EveryOption(std::optional<uint64_t> seed) {
  SamplingParams params;
  params.seed = seed;
  params.temperature = 0.8f;
  params.top_k = 50;
  params.top_p = 0.95f;
  params.min_p = 0.01f;
  params.presence_penalty = 0.3f;
  params.frequency_penalty = 0.1f;
  params.repetition_penalty = 1.1f;
  return params;
}

TEST(SamplerSeedTest, SameSeedSameTokens) {
  const std::vector<float> logits = RandomLogits(100, 5, -1.0f, 1.0f);
  Sampler a = MakeSampler(EveryOption(42), 100, {3, 4});
  Sampler b = MakeSampler(EveryOption(42), 100, {3, 4});
  EXPECT_EQ(Generate(a, logits, 64), Generate(b, logits, 64));
}

TEST(SamplerSeedTest, DifferentSeedsGiveDifferentTokens) {
  const std::vector<float> logits = RandomLogits(100, 5, -1.0f, 1.0f);
  Sampler a = MakeSampler(EveryOption(1), 100);
  Sampler b = MakeSampler(EveryOption(2), 100);
  EXPECT_NE(Generate(a, logits, 64), Generate(b, logits, 64));
}

TEST(SamplerSeedTest, UnseededSamplersDifferAndReplayFromTheirSeed) {
  const std::vector<float> logits = RandomLogits(100, 6, -1.0f, 1.0f);
  Sampler a = MakeSampler(EveryOption(std::nullopt), 100);
  Sampler b = MakeSampler(EveryOption(std::nullopt), 100);
  EXPECT_NE(a.seed(), b.seed());
  Sampler replay = MakeSampler(EveryOption(a.seed()), 100);
  const std::vector<int32_t> tokens = Generate(a, logits, 32);
  EXPECT_EQ(Generate(replay, logits, 32), tokens);
  for (int32_t token : tokens) EXPECT_TRUE(token >= 0 && token < 100);
}

// ---- logprobs ----

TEST(SamplerLogprobsTest, MatchesDirectLogSoftmax) {
  const std::vector<float> logits = RandomLogits(50, 9, -8.0f, 8.0f);
  const std::vector<double> probs = Softmax(logits, 1.0);
  const PositionLogprobs result = ComputeLogprobs(logits, 17, 50);
  EXPECT_EQ(result.sampled.token, 17);
  EXPECT_NEAR(result.sampled.logprob, std::log(probs[17]), 1e-5);
  ASSERT_EQ(result.top.size(), 50u);
  for (const TokenLogprob& entry : result.top) {
    EXPECT_NEAR(entry.logprob, std::log(probs[entry.token]), 1e-5) << "token " << entry.token;
  }
}

TEST(SamplerLogprobsTest, TopIsMostLikelyFirstThenLowerId) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f, -kInf};
  const PositionLogprobs result = ComputeLogprobs(logits, 0, 4);
  std::vector<int32_t> tokens;
  for (const TokenLogprob& entry : result.top) tokens.push_back(entry.token);
  EXPECT_EQ(tokens, (std::vector<int32_t>{1, 2, 4, 3}));
  EXPECT_EQ(result.top[0].logprob, result.top[2].logprob);
  EXPECT_GT(result.top[2].logprob, result.top[3].logprob);
  EXPECT_EQ(ComputeLogprobs(logits, 5, 0).sampled.logprob, -kInf);
}

TEST(SamplerLogprobsTest, TopCountIsClampedToTheVocabulary) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  EXPECT_TRUE(ComputeLogprobs(logits, 1, 0).top.empty());
  EXPECT_EQ(ComputeLogprobs(logits, 1, 20).top.size(), 3u);
}

TEST(SamplerLogprobsTest, StableForHugeAndInfiniteLogits) {
  const PositionLogprobs huge = ComputeLogprobs(std::vector<float>{1000.0f, 1000.0f}, 0, 1);
  EXPECT_NEAR(huge.sampled.logprob, -std::log(2.0), 1e-6);
  const std::vector<float> infinite = {-kInf, 0.0f, kInf, kInf};
  EXPECT_NEAR(ComputeLogprobs(infinite, 3, 0).sampled.logprob, -std::log(2.0), 1e-6);
  EXPECT_EQ(ComputeLogprobs(infinite, 1, 0).sampled.logprob, -kInf);
}

// ---- validation ----

TEST(SamplerValidationTest, DefaultsAndEdgesAreValid) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}, 10).ok());
  SamplingParams edges;
  edges.temperature = 0.0f;
  edges.top_k = -1;
  edges.top_p = 1.0f;
  edges.min_p = 1.0f;
  edges.presence_penalty = -2.0f;
  edges.frequency_penalty = 2.0f;
  edges.logit_bias = {{0, -100.0f}, {9, 100.0f}};
  EXPECT_TRUE(ValidateSamplingParams(edges, 10).ok());
}

TEST(SamplerValidationTest, BadParamsNameTheirField) {
  const float nan = std::nanf("");
  struct Case {
    std::function<void(SamplingParams&)> set;
    const char* field;
  };
  const std::vector<Case> cases = {
      {[](SamplingParams& p) { p.temperature = -0.1f; }, "temperature"},
      {[&](SamplingParams& p) { p.temperature = nan; }, "temperature"},
      {[](SamplingParams& p) { p.temperature = kInf; }, "temperature"},
      {[](SamplingParams& p) { p.top_p = 0.0f; }, "top_p"},
      {[](SamplingParams& p) { p.top_p = 1.01f; }, "top_p"},
      {[&](SamplingParams& p) { p.top_p = nan; }, "top_p"},
      {[](SamplingParams& p) { p.min_p = -0.01f; }, "min_p"},
      {[](SamplingParams& p) { p.min_p = 1.5f; }, "min_p"},
      {[&](SamplingParams& p) { p.min_p = nan; }, "min_p"},
      {[](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty"},
      {[&](SamplingParams& p) { p.repetition_penalty = nan; }, "repetition_penalty"},
      {[](SamplingParams& p) { p.repetition_penalty = kInf; }, "repetition_penalty"},
      {[](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty"},
      {[&](SamplingParams& p) { p.presence_penalty = nan; }, "presence_penalty"},
      {[](SamplingParams& p) { p.frequency_penalty = -2.5f; }, "frequency_penalty"},
      {[&](SamplingParams& p) { p.frequency_penalty = nan; }, "frequency_penalty"},
      {[](SamplingParams& p) {
         p.logit_bias = {{-1, 1.0f}};
       },
       "logit_bias token -1"},
      {[](SamplingParams& p) {
         p.logit_bias = {{10, 1.0f}};
       },
       "logit_bias token 10"},
      {[](SamplingParams& p) {
         p.logit_bias = {{3, 101.0f}};
       },
       "logit_bias for token 3"},
      {[&](SamplingParams& p) {
         p.logit_bias = {{3, nan}};
       },
       "logit_bias for token 3"},
      {[](SamplingParams& p) {
         p.logit_bias = {{3, 1.0f}, {5, 1.0f}, {3, 2.0f}};
       },
       "logit_bias lists token 3"},
  };
  for (const Case& c : cases) {
    SamplingParams params;
    c.set(params);
    const Status status = ValidateSamplingParams(params, 10);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status.message();
  }
}

TEST(SamplerValidationTest, CreateRejectsBadParamsAndPromptTokens) {
  SamplingParams bad;
  bad.top_p = 0.0f;
  EXPECT_EQ(Sampler::Create(bad, 10, {}).status().code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> prompt = {1, 2, 10};
  Result<Sampler> out_of_range = Sampler::Create(SamplingParams{}, 10, prompt);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_EQ(out_of_range.status().message(), "prompt token 2 is 10, outside the vocabulary [0, 10)");
}

}  // namespace
}  // namespace fathom
