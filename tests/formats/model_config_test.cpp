#include "formats/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fathom {
namespace {

using nlohmann::json;

json TinyLlama() {
  return json::parse(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100})");
}

json TinyV3() {
  return json::parse(R"({"model_type": "deepseek_v3", "hidden_size": 64, "intermediate_size": 128,
    "moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4,
    "q_lora_rank": 48, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
    "n_routed_experts": 16, "n_shared_experts": 1, "num_experts_per_tok": 4, "first_k_dense_replace": 1,
    "n_group": 4, "topk_group": 2, "vocab_size": 100})");
}

std::string ErrorOf(const json& j) {
  Result<ModelConfig> c = ParseHfConfig(j, "config.json");
  return c.ok() ? "" : c.status().message();
}

TEST(ModelConfigTest, LlamaDefaultsFollowTransformers) {
  Result<ModelConfig> c = ParseHfConfig(TinyLlama(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kDefault);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->rms_norm_eps, 1e-6);
}

TEST(ModelConfigTest, Qwen2AlwaysHasQkvBias) {
  json j = TinyLlama();
  j["model_type"] = "qwen2";
  Result<ModelConfig> c = ParseHfConfig(j, "");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_EQ(c->arch, Architecture::kQwen2);
}

TEST(ModelConfigTest, RopeScalingAndRopeParametersGiveTheSameConfig) {
  json old_style = TinyLlama();
  old_style["rope_theta"] = 500000.0;
  old_style["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                               {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  json new_style = TinyLlama();
  new_style["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                                  {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                                  {"original_max_position_embeddings", 8192}};
  Result<ModelConfig> a = ParseHfConfig(old_style, "");
  Result<ModelConfig> b = ParseHfConfig(new_style, "");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->ToHfJson(), b->ToHfJson());
  EXPECT_EQ(b->rope_theta, 500000.0);
  EXPECT_EQ(b->rope_scaling.type, RopeType::kLlama3);
  EXPECT_EQ(b->rope_scaling.original_max_position_embeddings, 8192);
}

TEST(ModelConfigTest, YarnKeepsMscaleFields) {
  json j = TinyV3();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 40}, {"original_max_position_embeddings", 4096},
                       {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 0.707}, {"mscale_all_dim", 0.707}};
  Result<ModelConfig> c = ParseHfConfig(j, "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, RopeType::kYarn);
  EXPECT_EQ(c->rope_scaling.mscale_all_dim, 0.707);
  EXPECT_EQ(c->rope_scaling.factor, 40.0);
}

TEST(ModelConfigTest, DeepseekV3DefaultsToSigmoidNoauxTc) {
  Result<ModelConfig> c = ParseHfConfig(TinyV3(), "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->q_lora_rank, 48);
  EXPECT_EQ(c->head_dim, 24);
  EXPECT_FALSE(c->IsMoeLayer(0));
  EXPECT_TRUE(c->IsMoeLayer(1));
}

TEST(ModelConfigTest, NullQLoraRankMeansPlainQProj) {
  json j = TinyV3();
  j["model_type"] = "deepseek_v2";
  j["q_lora_rank"] = nullptr;
  j["topk_method"] = "greedy";
  Result<ModelConfig> c = ParseHfConfig(j, "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->q_lora_rank.has_value());
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSoftmax);
}

TEST(ModelConfigTest, Fp8QuantizationConfig) {
  json j = TinyV3();
  j["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"activation_scheme", "dynamic"},
                              {"weight_block_size", {128, 128}}};
  Result<ModelConfig> c = ParseHfConfig(j, "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->fp8.enabled);
  j["quantization_config"]["quant_method"] = "gptq";
  EXPECT_NE(ErrorOf(j).find("gptq"), std::string::npos);
}

TEST(ModelConfigTest, ToHfJsonRoundTrips) {
  json j = TinyV3();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}, {"original_max_position_embeddings", 64}};
  Result<ModelConfig> a = ParseHfConfig(j, "");
  ASSERT_TRUE(a.ok());
  Result<ModelConfig> b = ParseHfConfig(a->ToHfJson(), "");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->ToHfJson(), b->ToHfJson());
}

TEST(ModelConfigTest, BadInputNamesTheKeyAndFile) {
  json j = TinyLlama();
  j["hidden_size"] = "sixty-four";
  EXPECT_EQ(ErrorOf(j), "config.json: 'hidden_size' must be an integer, got string \"sixty-four\"");
  j = TinyLlama();
  j.erase("num_hidden_layers");
  EXPECT_EQ(ErrorOf(j), "config.json: missing required key 'num_hidden_layers'");
  j = TinyLlama();
  j["model_type"] = "gpt2";
  EXPECT_NE(ErrorOf(j).find("'gpt2' is not supported"), std::string::npos);
  j = TinyLlama();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(ErrorOf(j).find("not a multiple of num_key_value_heads"), std::string::npos);
  j = TinyLlama();
  j["rope_scaling"] = {{"rope_type", "longrope"}};
  EXPECT_NE(ErrorOf(j).find("longrope"), std::string::npos);
  j = TinyLlama();
  j["hidden_size"] = -64;
  EXPECT_NE(ErrorOf(j).find("hidden_size must be positive"), std::string::npos);
  j = TinyV3();
  j["num_experts_per_tok"] = 17;
  EXPECT_NE(ErrorOf(j).find("num_experts_per_tok"), std::string::npos);
  j = TinyV3();
  j["n_group"] = 3;
  EXPECT_NE(ErrorOf(j).find("n_group"), std::string::npos);
  EXPECT_NE(ErrorOf(json::array()).find("must be a JSON object"), std::string::npos);
}

TEST(ModelConfigTest, TextParserRejectsMalformedJson) {
  Result<ModelConfig> c = ParseHfConfigText("{\"model_type\": ", "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "config.json: not valid JSON");
}

}  // namespace
}  // namespace fathom
