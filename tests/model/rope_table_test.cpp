// RopeTable's frequencies for each scaling type against the formulas of
// transformers' modeling_rope_utils, re-derived here in double precision from
// the published code (_compute_default_rope_parameters, _compute_linear_...,
// _compute_llama3_parameters, _compute_yarn_parameters), on the real
// checkpoints' configs as well as the tiny presets.
#include "model/rope_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::PresetConfig;

// The same config without rope scaling.
ModelConfig Unscaled(ModelConfig c) {
  c.rope_scaling = RopeScaling{};
  return c;
}

void ExpectRelNear(double got, double want, double rel, const std::string& what) {
  EXPECT_NEAR(got, want, rel * std::abs(want)) << what;
}

TEST(RopeTableTest, DefaultIsThetaToTheMinusTwoIOverD) {
  for (double theta : {10000.0, 500000.0, 1000000.0}) {
    for (int64_t dim : {8, 64, 96, 128}) {
      ModelConfig c;
      c.rope_theta = theta;
      const RopeTable t(c, dim);
      ASSERT_EQ(t.inv_freq().size(), static_cast<size_t>(dim / 2));
      EXPECT_EQ(t.rot_dim(), dim);
      EXPECT_EQ(t.attention_factor(), 1.0f);
      for (int64_t i = 0; i < dim / 2; ++i) {
        // float32 exponent and pow, as torch evaluates them: a few ulps from the exact value.
        ExpectRelNear(t.inv_freq()[i], std::pow(theta, -2.0 * i / dim), 2e-6,
                      "theta=" + std::to_string(theta) + " dim=" + std::to_string(dim) + " i=" + std::to_string(i));
      }
      EXPECT_EQ(t.inv_freq()[0], 1.0f);
    }
  }
}

TEST(RopeTableTest, LinearDividesByFactor) {
  const ModelConfig tied = PresetConfig(Architecture::kLlama, "tiny-tied");  // linear, factor 2
  ASSERT_EQ(tied.rope_scaling.type, RopeType::kLinear);
  for (double factor : {2.0, 3.0}) {
    ModelConfig c = tied;
    c.rope_scaling.factor = factor;
    const RopeTable scaled(c, c.head_dim), plain(Unscaled(c), c.head_dim);
    for (size_t i = 0; i < plain.inv_freq().size(); ++i) {
      EXPECT_FLOAT_EQ(scaled.inv_freq()[i], plain.inv_freq()[i] / factor) << "i=" << i;
    }
    EXPECT_EQ(scaled.attention_factor(), 1.0f);
  }
}

// _compute_llama3_parameters, from the default frequencies.
double Llama3Reference(const RopeScaling& s, double inv_freq) {
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_len / s.low_freq_factor;
  const double high_freq_wavelen = old_len / s.high_freq_factor;
  const double wavelen = 2 * std::numbers::pi / inv_freq;
  if (wavelen < high_freq_wavelen) return inv_freq;
  if (wavelen > low_freq_wavelen) return inv_freq / s.factor;
  const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  return (1 - smooth) * inv_freq / s.factor + smooth * inv_freq;
}

TEST(RopeTableTest, Llama3KeepsShortWavelengthsDividesLongOnesAndBlendsBetween) {
  for (const char* preset : {"r1-distill-llama-8b", "tiny"}) {
    const ModelConfig c = PresetConfig(Architecture::kLlama, preset);
    const RopeScaling& s = c.rope_scaling;
    ASSERT_EQ(s.type, RopeType::kLlama3) << preset;
    const RopeTable scaled(c, c.head_dim), plain(Unscaled(c), c.head_dim);
    const double low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    const double high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    int num_short = 0, num_long = 0, num_medium = 0;
    for (size_t i = 0; i < plain.inv_freq().size(); ++i) {
      const float f = plain.inv_freq()[i], got = scaled.inv_freq()[i];
      const double wavelen = 2 * std::numbers::pi / f;
      const std::string where = std::string(preset) + " i=" + std::to_string(i);
      ExpectRelNear(got, Llama3Reference(s, f), 1e-6, where);
      if (wavelen < high_freq_wavelen) {
        ++num_short;
        EXPECT_EQ(got, f) << where;
      } else if (wavelen > low_freq_wavelen) {
        ++num_long;
        EXPECT_EQ(got, static_cast<float>(f / s.factor)) << where;
      } else {
        ++num_medium;
        EXPECT_GT(got, f / s.factor) << where;
        EXPECT_LT(got, f) << where;
      }
      // Smooth: the scale applied never jumps back, so frequencies stay ordered.
      if (i > 0) {
        EXPECT_LT(got, scaled.inv_freq()[i - 1]) << where;
      }
    }
    // Every band is exercised.
    EXPECT_GT(num_short, 0) << preset;
    EXPECT_GT(num_long, 0) << preset;
    EXPECT_GT(num_medium, 0) << preset;
  }
}

// _compute_yarn_parameters' correction range and ramp.
struct YarnRange {
  double low, high;
};
YarnRange YarnReferenceRange(const RopeScaling& s, double base, int64_t dim, double original) {
  auto correction_dim = [&](double rotations) {
    return dim * std::log(original / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  YarnRange r = {std::max(std::floor(correction_dim(s.beta_fast)), 0.0),
                 std::min(std::ceil(correction_dim(s.beta_slow)), static_cast<double>(dim - 1))};
  if (r.low == r.high) r.high += 0.001;
  return r;
}

TEST(RopeTableTest, YarnRampsFromExtrapolationToInterpolation) {
  for (auto [arch, preset] : {std::pair{Architecture::kDeepseekV3, "v3"},
                              {Architecture::kDeepseekV2, "v2-lite"},
                              {Architecture::kDeepseekV2, "tiny"}}) {
    const ModelConfig c = PresetConfig(arch, preset);
    const RopeScaling& s = c.rope_scaling;
    ASSERT_EQ(s.type, RopeType::kYarn) << preset;
    const int64_t dim = c.qk_rope_head_dim;
    const RopeTable scaled(c, dim), plain(Unscaled(c), dim);
    const YarnRange range = YarnReferenceRange(s, c.rope_theta, dim, s.original_max_position_embeddings);
    // Both ends of the ramp fall inside the table, or the test proves little.
    ASSERT_LT(range.high, dim / 2.0) << preset;
    for (size_t i = 0; i < plain.inv_freq().size(); ++i) {
      const double extrapolation = plain.inv_freq()[i], interpolation = extrapolation / s.factor;
      const double ramp = std::clamp((static_cast<double>(i) - range.low) / (range.high - range.low), 0.0, 1.0);
      const std::string where = std::string(preset) + " i=" + std::to_string(i);
      ExpectRelNear(scaled.inv_freq()[i], interpolation * ramp + extrapolation * (1 - ramp), 1e-6, where);
      if (i <= range.low) {
        EXPECT_EQ(scaled.inv_freq()[i], plain.inv_freq()[i]) << where << " (extrapolated)";
      }
      if (i >= range.high) ExpectRelNear(scaled.inv_freq()[i], interpolation, 3e-7, where + " (interpolated)");
    }
  }
}

TEST(RopeTableTest, YarnWithoutOriginalLengthUsesMaxPositionEmbeddings) {
  ModelConfig with = PresetConfig(Architecture::kDeepseekV3, "v3");
  with.max_position_embeddings = with.rope_scaling.original_max_position_embeddings;
  ModelConfig without = with;
  without.rope_scaling.original_max_position_embeddings = 0;
  EXPECT_EQ(RopeTable(with, 64).inv_freq(), RopeTable(without, 64).inv_freq());
}

TEST(RopeTableTest, YarnMscale) {
  EXPECT_EQ(YarnMscale(1.0, 0.707), 1.0);
  EXPECT_EQ(YarnMscale(0.5, 0.707), 1.0);
  EXPECT_DOUBLE_EQ(YarnMscale(40.0, 0.707), 0.1 * 0.707 * std::log(40.0) + 1.0);
  EXPECT_DOUBLE_EQ(YarnMscale(40.0, 1.0), 0.1 * std::log(40.0) + 1.0);
}

TEST(RopeTableTest, YarnAttentionFactor) {
  ModelConfig c = PresetConfig(Architecture::kDeepseekV3, "v3");
  // mscale == mscale_all_dim, as every DeepSeek checkpoint: the ratio is 1 (the
  // correction moves into the softmax scale instead).
  EXPECT_FLOAT_EQ(RopeTable(c, 64).attention_factor(), 1.0f);
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 0.707;
  EXPECT_FLOAT_EQ(RopeTable(c, 64).attention_factor(),
                  static_cast<float>(YarnMscale(40.0, 1.0) / YarnMscale(40.0, 0.707)));
  c.rope_scaling.mscale_all_dim = 0.0;  // absent: the paper's 0.1 ln(s) + 1
  EXPECT_FLOAT_EQ(RopeTable(c, 64).attention_factor(), static_cast<float>(0.1 * std::log(40.0) + 1.0));
  c.rope_scaling.attention_factor = 1.25;  // given explicitly: used as is
  EXPECT_FLOAT_EQ(RopeTable(c, 64).attention_factor(), 1.25f);
}

TEST(RopeTableTest, CosSinAreScaledByTheAttentionFactor) {
  ModelConfig c = PresetConfig(Architecture::kDeepseekV3, "v3");
  c.rope_scaling.mscale_all_dim = 0.0;
  const RopeTable t(c, 64);
  const double af = t.attention_factor();
  ASSERT_GT(af, 1.1);
  std::vector<float> cos(32), sin(32);
  for (int64_t pos : {0, 1, 17, 4095, 100000}) {
    t.CosSin(pos, cos.data(), sin.data());
    for (int64_t i = 0; i < 32; ++i) {
      // The angle is float(pos) * inv_freq rounded to float32, as transformers computes it.
      const double angle = static_cast<float>(static_cast<float>(pos) * t.inv_freq()[i]);
      EXPECT_NEAR(cos[i], std::cos(angle) * af, 1e-6) << "pos=" << pos << " i=" << i;
      EXPECT_NEAR(sin[i], std::sin(angle) * af, 1e-6) << "pos=" << pos << " i=" << i;
    }
  }
}

// llama.cpp's GGUF files carry llama3's per-frequency divisors as a tensor.
TEST(RopeTableTest, FreqFactorsDivideTheDefaultFrequencies) {
  ModelConfig c = PresetConfig(Architecture::kLlama, "tiny");
  c.rope_scaling.freqs_from_tensor = true;
  const int64_t dim = c.head_dim;
  std::vector<float> factors(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) factors[i] = 1.0f + 0.5f * static_cast<float>(i);
  const RopeTable scaled(c, dim, factors), plain(Unscaled(c), dim);
  for (int64_t i = 0; i < dim / 2; ++i) EXPECT_EQ(scaled.inv_freq()[i], plain.inv_freq()[i] / factors[i]) << i;
  // The factors replace the formula; they do not apply on top of it.
  ModelConfig formula = c;
  formula.rope_scaling.freqs_from_tensor = false;
  const std::vector<float> ones(dim / 2, 1.0f);
  EXPECT_EQ(RopeTable(c, dim, ones).inv_freq(), plain.inv_freq());
  EXPECT_NE(RopeTable(formula, dim).inv_freq(), plain.inv_freq());
}

}  // namespace
}  // namespace fathom
