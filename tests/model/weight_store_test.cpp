// WeightStore: the HF -> llama.cpp name mapping GGUF lookups go through, and the
// lookups over a synthetic safetensors model: views for float weights, FP8
// dequantized once, and errors that name the tensor and both shapes.
#include "model/weight_store.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::ScopedTempDir;
using testing_util::SynthModelDir;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(GgufNameOfTest, MapsRepresentativeNames) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"rope_freqs.weight", "rope_freqs.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"model.layers.31.post_attention_layernorm.weight", "blk.31.ffn_norm.weight"},
      {"model.layers.3.self_attn.q_proj.weight", "blk.3.attn_q.weight"},
      {"model.layers.3.self_attn.q_proj.bias", "blk.3.attn_q.bias"},
      {"model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight"},
      {"model.layers.3.self_attn.v_proj.bias", "blk.3.attn_v.bias"},
      {"model.layers.12.self_attn.o_proj.weight", "blk.12.attn_output.weight"},
      {"model.layers.2.mlp.gate_proj.weight", "blk.2.ffn_gate.weight"},
      {"model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight"},
      {"model.layers.2.mlp.down_proj.weight", "blk.2.ffn_down.weight"},
      // DeepSeek MLA.
      {"model.layers.5.self_attn.q_a_proj.weight", "blk.5.attn_q_a.weight"},
      {"model.layers.5.self_attn.q_a_layernorm.weight", "blk.5.attn_q_a_norm.weight"},
      {"model.layers.5.self_attn.q_b_proj.weight", "blk.5.attn_q_b.weight"},
      {"model.layers.5.self_attn.kv_a_proj_with_mqa.weight", "blk.5.attn_kv_a_mqa.weight"},
      {"model.layers.5.self_attn.kv_a_layernorm.weight", "blk.5.attn_kv_a_norm.weight"},
      {"model.layers.5.self_attn.kv_b_proj.weight", "blk.5.attn_kv_b.weight"},
      // DeepSeek MoE: router, shared experts, V3's routing bias.
      {"model.layers.7.mlp.gate.weight", "blk.7.ffn_gate_inp.weight"},
      {"model.layers.7.mlp.shared_experts.gate_proj.weight", "blk.7.ffn_gate_shexp.weight"},
      {"model.layers.7.mlp.shared_experts.up_proj.weight", "blk.7.ffn_up_shexp.weight"},
      {"model.layers.7.mlp.shared_experts.down_proj.weight", "blk.7.ffn_down_shexp.weight"},
      {"model.layers.60.mlp.gate.e_score_correction_bias", "blk.60.exp_probs_b.bias"},
  };
  for (const auto& [hf, gguf] : cases) {
    const GgufName g = GgufNameOf(hf);
    EXPECT_EQ(g.name, gguf) << hf;
    EXPECT_EQ(g.expert, -1) << hf;
  }
}

TEST(GgufNameOfTest, RoutedExpertsMapToTheStackedTensorWithTheirIndex) {
  const std::vector<std::tuple<std::string, std::string, int64_t>> cases = {
      {"model.layers.3.mlp.experts.0.gate_proj.weight", "blk.3.ffn_gate_exps.weight", 0},
      {"model.layers.3.mlp.experts.17.up_proj.weight", "blk.3.ffn_up_exps.weight", 17},
      {"model.layers.58.mlp.experts.255.down_proj.weight", "blk.58.ffn_down_exps.weight", 255},
  };
  for (const auto& [hf, gguf, expert] : cases) {
    const GgufName g = GgufNameOf(hf);
    EXPECT_EQ(g.name, gguf) << hf;
    EXPECT_EQ(g.expert, expert) << hf;
  }
}

TEST(GgufNameOfTest, NamesLlamaCppDoesNotStoreMapToNothing) {
  for (const char* hf : {"model.layers.3.self_attn.rotary_emb.inv_freq", "model.layers.x.mlp.up_proj.weight",
                         "model.layers.3.mlp.experts.x.up_proj.weight", "model.layers.3.mlp.experts.1.w1.weight",
                         "model.layers.3.mlp.experts.1.gate_proj.weight_scale_inv", "model.layers.3", "model.layers.",
                         "model.layers.3.mlp.gate_proj", "unknown.weight", ""}) {
    const GgufName g = GgufNameOf(hf);
    EXPECT_EQ(g.name, "") << hf;
    EXPECT_EQ(g.expert, -1) << hf;
  }
}

TEST(WeightStoreTest, OpenRefusesWhatIsNotAModel) {
  Result<WeightStore> missing = WeightStore::Open("/nonexistent/model-dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "/nonexistent/model-dir")) << missing.status().message();

  ScopedTempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("weights.bin"), "xx").ok());
  Result<WeightStore> other = WeightStore::Open(dir.File("weights.bin"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(other.status().message(), "weights.bin")) << other.status().message();

  Result<WeightStore> no_config = WeightStore::Open(dir.path());
  ASSERT_FALSE(no_config.ok());
  EXPECT_TRUE(Contains(no_config.status().message(), "config.json")) << no_config.status().message();
}

TEST(WeightStoreTest, FloatWeightsAreViewsAndShapesAreChecked) {
  SynthModelDir dir({Architecture::kLlama, "tiny", DType::kBF16});
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  Result<WeightStore> store = WeightStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_FALSE(store->is_gguf());
  EXPECT_TRUE(store->Has("model.layers.1.self_attn.q_proj.weight"));
  EXPECT_FALSE(store->Has("model.layers.2.self_attn.q_proj.weight"));
  EXPECT_EQ(store->bytes_loaded(), 0);

  const std::string q = "model.layers.1.self_attn.q_proj.weight";
  Result<Tensor> w = store->Matrix(q, 64, 64);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->dtype(), DType::kBF16);
  EXPECT_FALSE(w->owns_data());  // read in place from the mapping
  EXPECT_EQ(store->bytes_loaded(), 64 * 64 * 2);

  Result<Tensor> wrong = store->Matrix(q, 64, 32);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(wrong.status().message(), "tensor '" + q + "' has shape [64, 64], expected [64, 32]"))
      << wrong.status().message();
  EXPECT_TRUE(Contains(wrong.status().message(), dir.path())) << wrong.status().message();

  Result<std::vector<float>> norm = store->Vector("model.norm.weight", 64);
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(norm->size(), 64u);
  Result<std::vector<float>> bad_norm = store->Vector("model.norm.weight", 63);
  ASSERT_FALSE(bad_norm.ok());
  EXPECT_TRUE(Contains(bad_norm.status().message(), "has shape [64], expected [63]")) << bad_norm.status().message();
  // A matrix asked for as a vector reports its real rank.
  Result<std::vector<float>> as_vector = store->Vector(q, 64);
  ASSERT_FALSE(as_vector.ok());
  EXPECT_TRUE(Contains(as_vector.status().message(), "has shape [64, 64], expected [64]"))
      << as_vector.status().message();

  Result<Tensor> missing = store->Matrix("model.layers.9.mlp.up_proj.weight", 160, 64);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "missing tensor 'model.layers.9.mlp.up_proj.weight'"))
      << missing.status().message();
}

TEST(WeightStoreTest, Fp8WeightsAreDequantizedToFloat32) {
  SynthModelDir dir({Architecture::kDeepseekV3, "tiny-fp8"});
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  Result<WeightStore> store = WeightStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // (n_heads * v_head_dim = 128, hidden 320) in FP8 with 128x128-block scales.
  Result<Tensor> w = store->Matrix("model.layers.0.self_attn.o_proj.weight", 320, 128);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->dtype(), DType::kF32);
  EXPECT_TRUE(w->owns_data());
  EXPECT_EQ(store->bytes_loaded(), 320 * 128 * 4);
  // Finite, not all zero: the scales were applied.
  double sum_abs = 0.0;
  for (int64_t i = 0; i < 320 * 128; ++i) {
    ASSERT_TRUE(std::isfinite(w->data_as<float>()[i]));
    sum_abs += std::abs(w->data_as<float>()[i]);
  }
  EXPECT_GT(sum_abs, 0.0);
}

}  // namespace
}  // namespace fathom
