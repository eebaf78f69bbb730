#include "formats/gguf_config.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "formats/gguf_writer.h"

namespace fathom {
namespace {

// Writes a tensor-less-but-for-names GGUF with llama.cpp's metadata keys.
class GgufConfigTest : public ::testing::Test {
 protected:
  std::string Write(GgufWriter& w) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              (std::string("gguf_config_") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".gguf"))
                                 .string();
    Status s = w.Write(path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }
  static void AddTensor(GgufWriter& w, const std::string& name, std::vector<int64_t> ne) {
    ASSERT_TRUE(w.AddTensor(name, DType::kF32, ne, [](std::span<uint8_t>) { return Status::Ok(); }).ok());
  }
  Result<ModelConfig> Load(GgufWriter& w) {
    Result<GgufFile> f = GgufFile::Open(Write(w));
    if (!f.ok()) return f.status();
    return ConfigFromGguf(*f);
  }
};

TEST_F(GgufConfigTest, QwenKeys) {
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("qwen2"));
  w.Set("qwen2.context_length", GgufValue::U32(131072));
  w.Set("qwen2.embedding_length", GgufValue::U32(64));
  w.Set("qwen2.block_count", GgufValue::U32(2));
  w.Set("qwen2.feed_forward_length", GgufValue::U32(176));
  w.Set("qwen2.attention.head_count", GgufValue::U32(4));
  w.Set("qwen2.attention.head_count_kv", GgufValue::U32(2));
  w.Set("qwen2.rope.freq_base", GgufValue::F32(10000.0f));
  w.Set("qwen2.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-6f));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "c"}));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
  AddTensor(w, "token_embd.weight", {64, 3});
  Result<ModelConfig> c = Load(w);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Architecture::kQwen2);
  EXPECT_EQ(c->vocab_size, 3);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->tie_word_embeddings);  // no output.weight
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{2});
}

TEST_F(GgufConfigTest, LlamaRopeFreqsTensorMeansLlama3) {
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("llama.embedding_length", GgufValue::U32(64));
  w.Set("llama.block_count", GgufValue::U32(1));
  w.Set("llama.feed_forward_length", GgufValue::U32(128));
  w.Set("llama.attention.head_count", GgufValue::U32(4));
  w.Set("llama.attention.head_count_kv", GgufValue::U32(4));
  w.Set("llama.vocab_size", GgufValue::U32(100));
  w.Set("llama.rope.freq_base", GgufValue::F32(500000.0f));
  AddTensor(w, "rope_freqs.weight", {8});
  AddTensor(w, "output.weight", {64, 100});
  Result<ModelConfig> c = Load(w);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, RopeType::kLlama3);
  EXPECT_TRUE(c->rope_scaling.freqs_from_tensor);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->rope_theta, 500000.0);
}

void SetDeepseekKeys(GgufWriter& w) {
  w.Set("general.architecture", GgufValue::String("deepseek2"));
  w.Set("deepseek2.embedding_length", GgufValue::U32(64));
  w.Set("deepseek2.block_count", GgufValue::U32(3));
  w.Set("deepseek2.feed_forward_length", GgufValue::U32(128));
  w.Set("deepseek2.attention.head_count", GgufValue::U32(4));
  w.Set("deepseek2.attention.head_count_kv", GgufValue::U32(4));
  w.Set("deepseek2.vocab_size", GgufValue::U32(512));
  w.Set("deepseek2.attention.kv_lora_rank", GgufValue::U32(32));
  w.Set("deepseek2.rope.dimension_count", GgufValue::U32(8));
  w.Set("deepseek2.leading_dense_block_count", GgufValue::U32(1));
  w.Set("deepseek2.expert_feed_forward_length", GgufValue::U32(32));
  w.Set("deepseek2.expert_count", GgufValue::U32(16));
  w.Set("deepseek2.expert_shared_count", GgufValue::U32(1));
  w.Set("deepseek2.expert_used_count", GgufValue::U32(4));
  w.Set("deepseek2.rope.scaling.type", GgufValue::String("yarn"));
  w.Set("deepseek2.rope.scaling.factor", GgufValue::F32(40.0f));
  w.Set("deepseek2.rope.scaling.original_context_length", GgufValue::U32(4096));
  w.Set("deepseek2.rope.scaling.yarn_log_multiplier", GgufValue::F32(0.0707f));
}

TEST_F(GgufConfigTest, DeepseekV2WithOldKeyLengths) {
  GgufWriter w;
  SetDeepseekKeys(w);
  w.Set("deepseek2.attention.key_length", GgufValue::U32(24));
  w.Set("deepseek2.attention.value_length", GgufValue::U32(16));
  w.Set("deepseek2.expert_gating_func", GgufValue::U32(1));
  Result<ModelConfig> c = Load(w);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Architecture::kDeepseekV2);
  EXPECT_FALSE(c->q_lora_rank.has_value());
  EXPECT_EQ(c->qk_nope_head_dim, 16);
  EXPECT_EQ(c->v_head_dim, 16);
  EXPECT_EQ(c->topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kYarn);
  EXPECT_NEAR(c->rope_scaling.mscale_all_dim, 0.707, 1e-6);
  EXPECT_TRUE(c->IsMoeLayer(1));
}

TEST_F(GgufConfigTest, DeepseekV3WithMlaKeys) {
  GgufWriter w;
  SetDeepseekKeys(w);
  w.Set("deepseek2.attention.q_lora_rank", GgufValue::U32(48));
  w.Set("deepseek2.attention.key_length", GgufValue::U32(40));    // kv_lora_rank + rope
  w.Set("deepseek2.attention.value_length", GgufValue::U32(32));  // kv_lora_rank
  w.Set("deepseek2.attention.key_length_mla", GgufValue::U32(24));
  w.Set("deepseek2.attention.value_length_mla", GgufValue::U32(16));
  w.Set("deepseek2.expert_gating_func", GgufValue::U32(2));
  w.Set("deepseek2.expert_weights_scale", GgufValue::F32(2.5f));
  w.Set("deepseek2.expert_weights_norm", GgufValue::Bool(true));
  w.Set("deepseek2.expert_group_count", GgufValue::U32(4));
  w.Set("deepseek2.expert_group_used_count", GgufValue::U32(2));
  Result<ModelConfig> c = Load(w);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Architecture::kDeepseekV3);
  EXPECT_EQ(c->q_lora_rank, 48);
  EXPECT_EQ(c->qk_nope_head_dim, 16);
  EXPECT_EQ(c->v_head_dim, 16);
  EXPECT_EQ(c->topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(c->n_group, 4);
  EXPECT_EQ(c->topk_group, 2);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_FLOAT_EQ(c->routed_scaling_factor, 2.5);
}

TEST_F(GgufConfigTest, ErrorsNameTheKey) {
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("llama.embedding_length", GgufValue::String("wide"));
  Result<ModelConfig> c = Load(w);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "metadata key 'llama.embedding_length' must be an integer");
  GgufWriter g;
  g.Set("general.architecture", GgufValue::String("gpt2"));
  c = Load(g);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'gpt2' is not supported"), std::string::npos);
}

}  // namespace
}  // namespace fathom
