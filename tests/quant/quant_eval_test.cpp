#include "quant/quant_eval.h"

#include <gtest/gtest.h>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::RandomTokens;
using testing_util::TinyModel;
using testing_util::TinyModelSpec;

TEST(QuantEvalTest, AModelAgainstItselfHasNoDivergence) {
  TinyModel ref({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(ref.status.ok()) << ref.status.ToString();
  CausalLm* quants[] = {ref.lm.get()};
  const std::vector<int32_t> tokens = RandomTokens(40, ref.lm->config().vocab_size, 3);
  Result<std::vector<LogitDivergence::Summary>> s = EvaluateQuantization(*ref.lm, quants, tokens, {.context = 16});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].num_positions, 40);  // chunks of 16, 16 and 8
  EXPECT_EQ((*s)[0].mean_kl, 0.0);
  EXPECT_EQ((*s)[0].max_kl, 0.0);
  EXPECT_EQ((*s)[0].top1_agreement, 1.0);
  EXPECT_EQ((*s)[0].logits_rel_rms, 0.0);
}

TEST(QuantEvalTest, RoundedWeightsDivergeALittleAndOtherWeightsALot) {
  // The same seed in bf16 is the f32 model with every weight rounded: a stand-in
  // for a quantized copy. Another seed is a different model altogether.
  TinyModel ref({Architecture::kLlama, "tiny", DType::kF32});
  TinyModel rounded({Architecture::kLlama, "tiny", DType::kBF16});
  testing_util::SynthModelDir other_dir({Architecture::kLlama, "tiny", DType::kF32}, /*seed=*/8);
  ASSERT_TRUE(ref.status.ok() && rounded.status.ok() && other_dir.status().ok());
  Result<std::unique_ptr<CausalLm>> other = other_dir.Load(ref.pool);
  ASSERT_TRUE(other.ok()) << other.status().ToString();

  CausalLm* quants[] = {rounded.lm.get(), other->get()};
  const std::vector<int32_t> tokens = RandomTokens(32, ref.lm->config().vocab_size, 5);
  Result<std::vector<LogitDivergence::Summary>> s = EvaluateQuantization(*ref.lm, quants, tokens, {.context = 32});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const LogitDivergence::Summary& near = (*s)[0];
  const LogitDivergence::Summary& far = (*s)[1];
  EXPECT_GT(near.mean_kl, 0.0);
  EXPECT_GT(near.logits_rel_rms, 0.0);
  EXPECT_LT(near.logits_rel_rms, 0.05);
  EXPECT_GT(far.mean_kl, 10 * near.mean_kl);
  EXPECT_LT(far.top1_agreement, near.top1_agreement);
  EXPECT_GE(near.max_kl, near.p99_kl);
  EXPECT_GE(near.p99_kl, 0.0);
}

TEST(QuantEvalTest, DifferentVocabulariesAreAnError) {
  TinyModel ref({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(ref.status.ok());
  testing_util::ScopedTempDir dir;
  SynthOptions options{.arch = Architecture::kQwen2, .preset = "tiny", .out_dir = dir.path()};
  options.vocab_size = ref.lm->config().vocab_size + 64;
  options.show_progress = false;
  ASSERT_TRUE(WriteSyntheticModel(options).ok());
  Result<std::unique_ptr<CausalLm>> wider = LoadCausalLm(dir.path(), ref.pool);
  ASSERT_TRUE(wider.ok()) << wider.status().ToString();
  CausalLm* quants[] = {wider->get()};
  const std::vector<int32_t> tokens = RandomTokens(4, ref.lm->config().vocab_size, 1);
  Result<std::vector<LogitDivergence::Summary>> s = EvaluateQuantization(*ref.lm, quants, tokens, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("vocabulary"), std::string::npos) << s.status().ToString();
}

TEST(QuantEvalTest, EmptyTokensAreAnError) {
  TinyModel ref({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(ref.status.ok());
  CausalLm* quants[] = {ref.lm.get()};
  EXPECT_FALSE(EvaluateQuantization(*ref.lm, quants, {}, {}).ok());
}

}  // namespace
}  // namespace fathom
