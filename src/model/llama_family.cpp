#include "model/llama_family.h"

#include <cmath>
#include <vector>

#include "model/decoder_model.h"
#include "model/mlp.h"

namespace fathom {
namespace {

struct LlamaLayerWeights {
  DeviceVector input_layernorm;           // (hidden)
  Linear q_proj;                          // (heads * head_dim, hidden)
  Linear k_proj;                          // (kv_heads * head_dim, hidden)
  Linear v_proj;                          // (kv_heads * head_dim, hidden)
  Linear o_proj;                          // (hidden, heads * head_dim)
  DeviceVector post_attention_layernorm;  // (hidden)
  Mlp mlp;
};

class LlamaFamilyModel final : public DecoderModel {
 public:
  LlamaFamilyModel(WeightStore store, std::unique_ptr<Backend> backend, int64_t head_dim)
      : DecoderModel(std::move(store), std::move(backend), head_dim) {
    // llama.cpp's converter permutes q/k rows of `llama` GGUF files so that its
    // interleaved rope equals transformers' rotate_half on the original rows.
    rope_style_ = store_.is_gguf() && config_.arch == Architecture::kLlama ? cpu::RopeStyle::kInterleaved
                                                                           : cpu::RopeStyle::kNeox;
  }

  Status Load() {
    const ModelConfig& c = config_;
    Backend& b = *backend_;
    const int64_t h = c.hidden_size, q_dim = c.num_attention_heads * c.head_dim;
    const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
    FATHOM_RETURN_IF_ERROR(LoadEnds());
    if (c.rope_scaling.freqs_from_tensor) {
      FATHOM_ASSIGN_OR_RETURN(std::vector<float> factors, store_.Vector("rope_freqs.weight", c.head_dim / 2));
      rope_ = RopeTable(c, c.head_dim, factors);
    }
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i);
      LlamaLayerWeights w;
      FATHOM_ASSIGN_OR_RETURN(w.input_layernorm, LoadVector(store_, b, p + ".input_layernorm.weight", h));
      FATHOM_ASSIGN_OR_RETURN(w.q_proj, Linear::Load(store_, b, p + ".self_attn.q_proj", q_dim, h, c.qkv_bias));
      FATHOM_ASSIGN_OR_RETURN(w.k_proj, Linear::Load(store_, b, p + ".self_attn.k_proj", kv_dim, h, c.qkv_bias));
      FATHOM_ASSIGN_OR_RETURN(w.v_proj, Linear::Load(store_, b, p + ".self_attn.v_proj", kv_dim, h, c.qkv_bias));
      const bool o_bias = c.arch == Architecture::kLlama && c.attention_bias;
      FATHOM_ASSIGN_OR_RETURN(w.o_proj, Linear::Load(store_, b, p + ".self_attn.o_proj", h, q_dim, o_bias));
      FATHOM_ASSIGN_OR_RETURN(w.post_attention_layernorm,
                              LoadVector(store_, b, p + ".post_attention_layernorm.weight", h));
      const bool mlp_bias = c.arch == Architecture::kLlama && c.mlp_bias;
      FATHOM_ASSIGN_OR_RETURN(w.mlp, Mlp::Load(store_, b, p + ".mlp", h, c.intermediate_size, mlp_bias));
      layers_.push_back(std::move(w));
    }
    return Status::Ok();
  }

  KvCacheShape cache_shape() const override {
    const int64_t kv_dim = config_.num_key_value_heads * config_.head_dim;
    return {.num_layers = config_.num_hidden_layers, .first_width = kv_dim, .second_width = kv_dim};
  }

 private:
  float eps() const { return static_cast<float>(config_.rms_norm_eps); }

  void Layers(const ForwardContext& ctx, float* hidden, float* normed, float* delta) override {
    Backend& b = *backend_;
    const int64_t rows = ctx.num_rows, h = config_.hidden_size;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const LlamaLayerWeights& w = layers_[i];
      b.RmsNorm(hidden, w.input_layernorm, rows, h, eps(), normed);
      Attention(ctx, static_cast<int64_t>(i), w, normed, delta);
      b.Add(hidden, delta, rows * h);
      b.RmsNorm(hidden, w.post_attention_layernorm, rows, h, eps(), normed);
      w.mlp.Apply(b, normed, rows, delta);
      b.Add(hidden, delta, rows * h);
    }
  }

  // Self-attention of layer `layer` on the normed rows x (rows, hidden); writes
  // o_proj's output to out (rows, hidden) and the new keys/values to the caches.
  void Attention(const ForwardContext& ctx, int64_t layer, const LlamaLayerWeights& w, const float* x, float* out) {
    const ModelConfig& c = config_;
    Backend& b = *backend_;
    const int64_t rows = ctx.num_rows, hd = c.head_dim;
    const int64_t q_dim = c.num_attention_heads * hd, kv_dim = c.num_key_value_heads * hd;
    using Buf = Workspace::Buf;
    float* q = ctx.ws->Floats(Buf::kQ, rows * q_dim);       // (rows, heads, head_dim)
    float* k = ctx.ws->Floats(Buf::kK, rows * kv_dim);      // (rows, kv_heads, head_dim)
    float* v = ctx.ws->Floats(Buf::kV, rows * kv_dim);      // (rows, kv_heads, head_dim)
    float* attn = ctx.ws->Floats(Buf::kAttn, rows * q_dim);  // (rows, heads, head_dim)
    w.q_proj.Apply(b, x, rows, q);
    w.k_proj.Apply(b, x, rows, k);
    w.v_proj.Apply(b, x, rows, v);
    b.Rope(q, q_dim, c.num_attention_heads, hd, rope_style_);
    b.Rope(k, kv_dim, c.num_key_value_heads, hd, rope_style_);
    const cpu::AttentionShape shape = {.num_heads = c.num_attention_heads,
                                       .num_kv_heads = c.num_key_value_heads,
                                       .head_dim = hd,
                                       .v_head_dim = hd,
                                       .scale = 1.0f / std::sqrt(static_cast<float>(hd))};
    b.Attention(layer, shape, q, k, v, attn);
    w.o_proj.Apply(b, attn, rows, out);
  }

  cpu::RopeStyle rope_style_;
  std::vector<LlamaLayerWeights> layers_;
};

}  // namespace

Result<std::unique_ptr<CausalLm>> LoadLlamaFamily(WeightStore store, std::unique_ptr<Backend> backend) {
  const int64_t head_dim = store.config().head_dim;
  auto model = std::make_unique<LlamaFamilyModel>(std::move(store), std::move(backend), head_dim);
  FATHOM_RETURN_IF_ERROR(model->Load());
  return std::unique_ptr<CausalLm>(std::move(model));
}

}  // namespace fathom
