#include "model/llama_family.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/rope.h"
#include "model/forward_context.h"
#include "model/lm_head.h"
#include "model/mlp.h"
#include "model/rope_table.h"

namespace fathom {
namespace {

struct LlamaLayerWeights {
  std::vector<float> input_layernorm;           // (hidden)
  Linear q_proj;                                // (heads * head_dim, hidden)
  Linear k_proj;                                // (kv_heads * head_dim, hidden)
  Linear v_proj;                                // (kv_heads * head_dim, hidden)
  Linear o_proj;                                // (hidden, heads * head_dim)
  std::vector<float> post_attention_layernorm;  // (hidden)
  Mlp mlp;
};

class LlamaFamilyModel final : public CausalLm {
 public:
  LlamaFamilyModel(WeightStore store, ThreadPool& pool)
      : store_(std::move(store)), config_(store_.config()), pool_(pool), rope_(config_, config_.head_dim) {
    // llama.cpp's converter permutes q/k rows of `llama` GGUF files so that its
    // interleaved rope equals transformers' rotate_half on the original rows.
    rope_style_ = store_.is_gguf() && config_.arch == Architecture::kLlama ? cpu::RopeStyle::kInterleaved
                                                                           : cpu::RopeStyle::kNeox;
  }

  Status Load() {
    const ModelConfig& c = config_;
    const int64_t h = c.hidden_size, q_dim = c.num_attention_heads * c.head_dim;
    const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
    FATHOM_ASSIGN_OR_RETURN(ends_, LmEnds::Load(store_));
    if (c.rope_scaling.freqs_from_tensor) {
      FATHOM_ASSIGN_OR_RETURN(std::vector<float> factors, store_.Vector("rope_freqs.weight", c.head_dim / 2));
      rope_ = RopeTable(c, c.head_dim, factors);
    }
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i);
      LlamaLayerWeights w;
      FATHOM_ASSIGN_OR_RETURN(w.input_layernorm, store_.Vector(p + ".input_layernorm.weight", h));
      FATHOM_ASSIGN_OR_RETURN(w.q_proj, Linear::Load(store_, p + ".self_attn.q_proj", q_dim, h, c.qkv_bias));
      FATHOM_ASSIGN_OR_RETURN(w.k_proj, Linear::Load(store_, p + ".self_attn.k_proj", kv_dim, h, c.qkv_bias));
      FATHOM_ASSIGN_OR_RETURN(w.v_proj, Linear::Load(store_, p + ".self_attn.v_proj", kv_dim, h, c.qkv_bias));
      const bool o_bias = c.arch == Architecture::kLlama && c.attention_bias;
      FATHOM_ASSIGN_OR_RETURN(w.o_proj, Linear::Load(store_, p + ".self_attn.o_proj", h, q_dim, o_bias));
      FATHOM_ASSIGN_OR_RETURN(w.post_attention_layernorm, store_.Vector(p + ".post_attention_layernorm.weight", h));
      const bool mlp_bias = c.arch == Architecture::kLlama && c.mlp_bias;
      FATHOM_ASSIGN_OR_RETURN(w.mlp, Mlp::Load(store_, p + ".mlp", h, c.intermediate_size, mlp_bias));
      layers_.push_back(std::move(w));
    }
    return Status::Ok();
  }

  const ModelConfig& config() const override { return config_; }
  KvCacheShape cache_shape() const override {
    const int64_t kv_dim = config_.num_key_value_heads * config_.head_dim;
    return {.num_layers = config_.num_hidden_layers, .first_width = kv_dim, .second_width = kv_dim};
  }
  int64_t weight_bytes() const override { return store_.bytes_loaded(); }
  int64_t decode_bytes_per_token() const override { return weight_bytes() - ends_.UnreadEmbeddingBytes(); }

  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    FATHOM_RETURN_IF_ERROR(MakeForwardContext(config_, batch, pool_, ws_, &ctx_));
    const ForwardContext& ctx = ctx_;
    const int64_t rows = ctx.num_rows, h = config_.hidden_size;
    using Buf = Workspace::Buf;
    float* hidden = ws_.Floats(Buf::kHidden, rows * h);  // (rows, hidden): the residual stream
    float* normed = ws_.Floats(Buf::kNormed, rows * h);  // (rows, hidden)
    float* delta = ws_.Floats(Buf::kDelta, rows * h);    // (rows, hidden): a block's output
    float* rope = ws_.Floats(Buf::kRope, rows * config_.head_dim);  // (rows, head_dim)
    rope_.CosSinRows(ctx.positions, rope);
    ends_.Embed(ctx, hidden);
    for (size_t i = 0; i < layers_.size(); ++i) {
      const LlamaLayerWeights& w = layers_[i];
      cpu::RmsNorm(hidden, w.input_layernorm.data(), rows, h, eps(), normed);
      Attention(ctx, static_cast<int64_t>(i), w, rope, normed, delta);
      cpu::AddInPlace(hidden, delta, rows * h);
      cpu::RmsNorm(hidden, w.post_attention_layernorm.data(), rows, h, eps(), normed);
      w.mlp.Apply(pool_, ws_, normed, rows, delta);
      cpu::AddInPlace(hidden, delta, rows * h);
    }
    ends_.Logits(ctx, hidden, logits);
    CommitCaches(ctx);
    return Status::Ok();
  }

 private:
  float eps() const { return static_cast<float>(config_.rms_norm_eps); }

  // Self-attention of layer `layer` on the normed rows x (rows, hidden), given
  // each row's rope cos|sin (rows, head_dim); writes o_proj's output to out
  // (rows, hidden) and the new keys/values to the caches.
  void Attention(const ForwardContext& ctx, int64_t layer, const LlamaLayerWeights& w, const float* rope,
                 const float* x, float* out) {
    const ModelConfig& c = config_;
    const int64_t rows = ctx.num_rows, hd = c.head_dim;
    const int64_t q_dim = c.num_attention_heads * hd, kv_dim = c.num_key_value_heads * hd;
    using Buf = Workspace::Buf;
    float* q = ctx.ws->Floats(Buf::kQ, rows * q_dim);       // (rows, heads, head_dim)
    float* k = ctx.ws->Floats(Buf::kK, rows * kv_dim);      // (rows, kv_heads, head_dim)
    float* v = ctx.ws->Floats(Buf::kV, rows * kv_dim);      // (rows, kv_heads, head_dim)
    float* attn = ctx.ws->Floats(Buf::kAttn, rows * q_dim);  // (rows, heads, head_dim)
    w.q_proj.Apply(pool_, x, rows, q);
    w.k_proj.Apply(pool_, x, rows, k);
    w.v_proj.Apply(pool_, x, rows, v);
    for (int64_t r = 0; r < rows; ++r) {
      const float* cos = rope + r * hd;
      const float* sin = cos + hd / 2;
      cpu::ApplyRope(q + r * q_dim, c.num_attention_heads, hd, hd, cos, sin, rope_style_);
      cpu::ApplyRope(k + r * kv_dim, c.num_key_value_heads, hd, hd, cos, sin, rope_style_);
    }
    const cpu::AttentionShape shape = {.num_heads = c.num_attention_heads,
                                       .num_kv_heads = c.num_key_value_heads,
                                       .head_dim = hd,
                                       .v_head_dim = hd,
                                       .scale = 1.0f / std::sqrt(static_cast<float>(hd))};
    for (size_t e = 0; e < ctx.batch.size(); ++e) {
      KvCache& cache = *ctx.batch[e].cache;
      const int64_t r0 = ctx.row_begin[e], n = ctx.num_new(e), p0 = ctx.first_pos(e);
      const KvRows k_rows = cache.first_rows(layer);   // (capacity, kv_heads, head_dim), paged
      const KvRows v_rows = cache.second_rows(layer);  // (capacity, kv_heads, head_dim), paged
      for (int64_t t = 0; t < n; ++t) {
        std::copy_n(k + (r0 + t) * kv_dim, kv_dim, k_rows.row(p0 + t));
        std::copy_n(v + (r0 + t) * kv_dim, kv_dim, v_rows.row(p0 + t));
      }
      cpu::CausalAttention(pool_, shape, q + r0 * q_dim, n, p0, k_rows, v_rows, attn + r0 * q_dim);
    }
    w.o_proj.Apply(pool_, attn, rows, out);
  }

  WeightStore store_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  RopeTable rope_;
  cpu::RopeStyle rope_style_;
  LmEnds ends_;
  std::vector<LlamaLayerWeights> layers_;
  ForwardContext ctx_;  // reused by every Forward, with the workspace
  Workspace ws_;
};

}  // namespace

Result<std::unique_ptr<CausalLm>> LoadLlamaFamily(WeightStore store, ThreadPool& pool) {
  auto model = std::make_unique<LlamaFamilyModel>(std::move(store), pool);
  FATHOM_RETURN_IF_ERROR(model->Load());
  return std::unique_ptr<CausalLm>(std::move(model));
}

}  // namespace fathom
