#include "quant/quant_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace fathom {
namespace {

DType For(std::string_view name, std::vector<int64_t> shape, DType target, bool tied = false) {
  return QuantTypeFor(name, shape, target, tied);
}

TEST(QuantPolicyTest, MatricesTakeTheTarget) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K, DType::kBF16, DType::kF16}) {
    EXPECT_EQ(For("model.layers.3.mlp.down_proj.weight", {1536, 8960}, t), t) << DTypeName(t);
    EXPECT_EQ(For("model.embed_tokens.weight", {151936, 1536}, t), t) << DTypeName(t);
  }
}

TEST(QuantPolicyTest, VectorsAndTheRouterStayFloat32) {
  EXPECT_EQ(For("model.layers.0.input_layernorm.weight", {1536}, DType::kQ4_0), DType::kF32);
  EXPECT_EQ(For("model.layers.0.self_attn.q_proj.bias", {1536}, DType::kQ4_K), DType::kF32);
  EXPECT_EQ(For("model.layers.1.mlp.gate.weight", {64, 2048}, DType::kQ4_K), DType::kF32);
  EXPECT_EQ(For("model.layers.1.mlp.gate.e_score_correction_bias", {64}, DType::kQ8_0), DType::kF32);
}

TEST(QuantPolicyTest, TheOutputHeadGetsQ6KUnlessTheTargetIsQ8_0) {
  EXPECT_EQ(For("lm_head.weight", {151936, 1536}, DType::kQ4_0), DType::kQ6_K);
  EXPECT_EQ(For("lm_head.weight", {151936, 1536}, DType::kQ4_K), DType::kQ6_K);
  EXPECT_EQ(For("lm_head.weight", {151936, 1536}, DType::kQ8_0), DType::kQ8_0);
  EXPECT_EQ(For("model.embed_tokens.weight", {151936, 1536}, DType::kQ4_0, /*tied=*/true), DType::kQ6_K);
  EXPECT_EQ(For("model.embed_tokens.weight", {151936, 1536}, DType::kQ4_0, /*tied=*/false), DType::kQ4_0);
}

TEST(QuantPolicyTest, RowsThatAreNotWholeBlocksFallBack) {
  EXPECT_EQ(For("model.layers.0.mlp.up_proj.weight", {128, 96}, DType::kQ4_K), DType::kQ8_0);
  EXPECT_EQ(For("lm_head.weight", {128, 96}, DType::kQ4_0), DType::kQ8_0);
  EXPECT_EQ(For("model.layers.0.mlp.up_proj.weight", {128, 48}, DType::kQ4_0), DType::kF16);
}

TEST(QuantPolicyTest, ParsesTargetsAndRejectsOthers) {
  EXPECT_EQ(*ParseQuantTarget("q4_k"), DType::kQ4_K);
  EXPECT_EQ(*ParseQuantTarget("Q8_0"), DType::kQ8_0);
  EXPECT_EQ(*ParseQuantTarget("bf16"), DType::kBF16);
  const Result<DType> bad = ParseQuantTarget("q3_k");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Q4_K"), std::string::npos);
}

}  // namespace
}  // namespace fathom
