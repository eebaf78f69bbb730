// The metadata GgufModelMetadata writes (its file types are checked against
// gguf-py in tests/python): the keys a DeepSeek model needs (including the
// q_lora_rank llama.cpp insists on), and
// llama3 rope factors that reproduce transformers' llama3 frequencies.
#include "quant/gguf_metadata.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/presets.h"
#include "model/rope_table.h"

namespace fathom {
namespace {

std::map<std::string, GgufValue> AsMap(const GgufMetadata& m) {
  std::map<std::string, GgufValue> out;
  for (const auto& [k, v] : m) EXPECT_TRUE(out.emplace(k, v).second) << "duplicate key " << k;
  return out;
}

TEST(GgufMetadataTest, DeepseekWithoutQLoraWritesZero) {
  Result<ModelConfig> c = FindPreset(Architecture::kDeepseekV2, "tiny");
  ASSERT_TRUE(c.ok());
  c->vocab_size = 512;
  Result<GgufMetadata> m = GgufModelMetadata(*c, "v2", DType::kQ8_0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::map<std::string, GgufValue> keys = AsMap(*m);
  EXPECT_EQ(*keys["general.architecture"].AsString(), "deepseek2");
  EXPECT_EQ(keys["deepseek2.attention.q_lora_rank"].AsInt(), 0);
  EXPECT_EQ(keys["deepseek2.attention.head_count_kv"].AsInt(), 1);
  EXPECT_EQ(keys["deepseek2.attention.key_length"].AsInt(), c->kv_lora_rank + c->qk_rope_head_dim);
  EXPECT_EQ(keys["deepseek2.attention.value_length_mla"].AsInt(), c->v_head_dim);
  EXPECT_EQ(keys["deepseek2.expert_gating_func"].AsInt(), 1);
  EXPECT_EQ(*keys["deepseek2.rope.scaling.type"].AsString(), "yarn");
  EXPECT_NEAR(*keys["deepseek2.rope.scaling.yarn_log_multiplier"].AsFloat(), 0.0707, 1e-6);
  EXPECT_EQ(keys["general.file_type"].AsInt(), 7);
  EXPECT_EQ(keys["general.quantization_version"].AsInt(), 2);
}

TEST(GgufMetadataTest, Llama3FactorsReproduceTheLlama3Frequencies) {
  Result<ModelConfig> c = FindPreset(Architecture::kLlama, "r1-distill-llama-8b");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->rope_scaling.type, RopeType::kLlama3);
  const std::vector<float> factors = Llama3RopeFactors(*c);  // (head_dim / 2)
  ASSERT_EQ(static_cast<int64_t>(factors.size()), c->head_dim / 2);
  const RopeTable formula(*c, c->head_dim);
  ModelConfig from_tensor = *c;
  from_tensor.rope_scaling.freqs_from_tensor = true;
  const RopeTable divided(from_tensor, c->head_dim, factors);
  for (size_t i = 0; i < factors.size(); ++i) {
    EXPECT_NEAR(divided.inv_freq()[i], formula.inv_freq()[i], 1e-6 * formula.inv_freq()[i]) << i;
  }
  // No rope.scaling keys: llama.cpp reads the scaling from the tensor alone.
  Result<GgufMetadata> m = GgufModelMetadata(*c, "l", DType::kF16);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(AsMap(*m).count("llama.rope.scaling.type"), 0u);
}

}  // namespace
}  // namespace fathom
