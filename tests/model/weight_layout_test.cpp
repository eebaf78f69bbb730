#include "model/weight_layout.h"

#include <gtest/gtest.h>

#include <string>

#include "formats/model_config.h"

namespace fathom {
namespace {

ModelConfig LoadShared(const std::string& name) {
  Result<ModelConfig> c = LoadHfConfig(std::string(FATHOM_SHARED_DIR) + "/models/configs/" + name + ".json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ModelConfig{};
}

int64_t CheckpointBytes(const ModelConfig& c) {
  int64_t bytes = 0;
  for (const WeightSpec& w : HfWeightLayout(c)) {
    bytes += *DTypeByteSize(StoredDType(c, w.role, DType::kBF16), w.num_elements());
  }
  return bytes;
}

// Totals of the published checkpoints (sum of every safetensors tensor's elements).
TEST(WeightLayoutTest, DenseModelsMatchPublishedParameterCounts) {
  EXPECT_EQ(CountParameters(LoadShared("deepseek-r1-distill-qwen-1.5b")).total, 1'777'088'000);
  EXPECT_EQ(CountParameters(LoadShared("deepseek-r1-distill-qwen-7b")).total, 7'615'616'512);
  EXPECT_EQ(CountParameters(LoadShared("deepseek-r1-distill-llama-8b")).total, 8'030'261'248);
}

TEST(WeightLayoutTest, DeepseekV2LiteMatchesPublishedCount) {
  ParameterCount p = CountParameters(LoadShared("deepseek-v2-lite"));
  EXPECT_EQ(p.total, 15'706'484'224);
  EXPECT_EQ(p.total, p.main_model);
  EXPECT_EQ(p.fp8_scales, 0);
}

// The published DeepSeek-V3 safetensors hold 91,991 tensors and 688,574,839,360
// bytes of tensor data (FP8 weights, F32 scales, BF16 rest), MTP layer included.
TEST(WeightLayoutTest, DeepseekV3MatchesPublishedCheckpoint) {
  ModelConfig c = LoadShared("deepseek-v3");
  ParameterCount p = CountParameters(c);
  EXPECT_EQ(p.num_tensors, 91'991);
  EXPECT_EQ(CheckpointBytes(c), 688'574'839'360);
  EXPECT_EQ(p.total, 684'531'386'000);       // the hub's "685B"
  EXPECT_EQ(p.main_model, 671'026'419'200);  // the paper's "671B"
  EXPECT_EQ(p.total, p.main_model + p.mtp + p.fp8_scales);
  EXPECT_GT(p.active_per_token, 37'000'000'000);  // the paper's "37B activated"
  EXPECT_LT(p.active_per_token, 38'000'000'000);
}

TEST(WeightLayoutTest, FirstDenseLayersAndMoeLayersHaveTheirTensors) {
  ModelConfig c = LoadShared("deepseek-v3");
  c.num_hidden_layers = 4;
  c.num_nextn_predict_layers = 0;
  std::vector<WeightSpec> specs = HfWeightLayout(c);
  auto has = [&](const std::string& n) {
    for (const auto& s : specs) if (s.name == n) return true;
    return false;
  };
  EXPECT_TRUE(has("model.layers.2.mlp.gate_proj.weight"));
  EXPECT_FALSE(has("model.layers.2.mlp.gate.weight"));
  EXPECT_TRUE(has("model.layers.3.mlp.gate.e_score_correction_bias"));
  EXPECT_TRUE(has("model.layers.3.mlp.experts.255.down_proj.weight_scale_inv"));
  EXPECT_TRUE(has("model.layers.3.mlp.shared_experts.up_proj.weight"));
  EXPECT_TRUE(has("model.layers.0.self_attn.q_a_layernorm.weight"));
  EXPECT_FALSE(has("model.layers.0.self_attn.q_proj.weight"));
}

TEST(WeightLayoutTest, QwenHasQkvBiasAndNoOutputBias) {
  ModelConfig c = LoadShared("deepseek-r1-distill-qwen-1.5b");
  c.num_hidden_layers = 1;
  std::vector<WeightSpec> specs = HfWeightLayout(c);
  int biases = 0;
  for (const auto& s : specs) {
    if (s.role == WeightRole::kBias) {
      ++biases;
      EXPECT_EQ(s.name.find("o_proj"), std::string::npos) << s.name;
    }
  }
  EXPECT_EQ(biases, 3);
}

}  // namespace
}  // namespace fathom
