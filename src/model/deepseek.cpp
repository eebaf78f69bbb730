#include "model/deepseek.h"

#include <optional>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "model/forward_context.h"
#include "model/lm_head.h"
#include "model/mla_attention.h"
#include "model/mlp.h"
#include "model/moe.h"
#include "model/rope_table.h"

namespace fathom {
namespace {

struct DeepseekLayerWeights {
  std::vector<float> input_layernorm;           // (hidden)
  MlaWeights self_attn;
  std::vector<float> post_attention_layernorm;  // (hidden)
  std::optional<Mlp> mlp;                       // dense layers
  std::optional<MoeWeights> moe;                // MoE layers
};

class DeepseekModel final : public CausalLm {
 public:
  DeepseekModel(WeightStore store, ThreadPool& pool)
      : store_(std::move(store)),
        config_(store_.config()),
        pool_(pool),
        rope_(config_, config_.qk_rope_head_dim),
        softmax_scale_(MlaSoftmaxScale(config_)) {}

  Status Load() {
    const ModelConfig& c = config_;
    FATHOM_ASSIGN_OR_RETURN(ends_, LmEnds::Load(store_));
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i);
      DeepseekLayerWeights w;
      FATHOM_ASSIGN_OR_RETURN(w.input_layernorm, store_.Vector(p + ".input_layernorm.weight", c.hidden_size));
      FATHOM_ASSIGN_OR_RETURN(w.self_attn, MlaWeights::Load(store_, p + ".self_attn"));
      FATHOM_ASSIGN_OR_RETURN(w.post_attention_layernorm,
                              store_.Vector(p + ".post_attention_layernorm.weight", c.hidden_size));
      if (c.IsMoeLayer(i)) {
        FATHOM_ASSIGN_OR_RETURN(w.moe, MoeWeights::Load(store_, p + ".mlp"));
      } else {
        FATHOM_ASSIGN_OR_RETURN(w.mlp, Mlp::Load(store_, p + ".mlp", c.hidden_size, c.intermediate_size, false));
      }
      layers_.push_back(std::move(w));
    }
    return Status::Ok();
  }

  const ModelConfig& config() const override { return config_; }
  KvCacheShape cache_shape() const override {
    return {.num_layers = config_.num_hidden_layers,
            .first_width = config_.kv_lora_rank,
            .second_width = config_.qk_rope_head_dim};
  }
  int64_t weight_bytes() const override { return store_.bytes_loaded(); }
  int64_t decode_bytes_per_token() const override { return weight_bytes() - ends_.UnreadEmbeddingBytes(); }

  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    FATHOM_RETURN_IF_ERROR(MakeForwardContext(config_, batch, pool_, ws_, &ctx_));
    const ForwardContext& ctx = ctx_;
    const int64_t rows = ctx.num_rows, h = config_.hidden_size;
    const float eps = static_cast<float>(config_.rms_norm_eps);
    using Buf = Workspace::Buf;
    float* hidden = ws_.Floats(Buf::kHidden, rows * h);  // (rows, hidden): the residual stream
    float* normed = ws_.Floats(Buf::kNormed, rows * h);  // (rows, hidden)
    float* delta = ws_.Floats(Buf::kDelta, rows * h);    // (rows, hidden): a block's output
    float* rope = ws_.Floats(Buf::kRope, rows * config_.qk_rope_head_dim);  // (rows, qk_rope_head_dim)
    rope_.CosSinRows(ctx.positions, rope);
    ends_.Embed(ctx, hidden);
    for (size_t i = 0; i < layers_.size(); ++i) {
      const DeepseekLayerWeights& w = layers_[i];
      cpu::RmsNorm(hidden, w.input_layernorm.data(), rows, h, eps, normed);
      MlaAttention(ctx, config_, rope, softmax_scale_, static_cast<int64_t>(i), w.self_attn, normed, delta);
      cpu::AddInPlace(hidden, delta, rows * h);
      cpu::RmsNorm(hidden, w.post_attention_layernorm.data(), rows, h, eps, normed);
      if (w.moe.has_value()) {
        MoeForward(pool_, ws_, config_, *w.moe, normed, rows, delta);
      } else {
        w.mlp->Apply(pool_, ws_, normed, rows, delta);
      }
      cpu::AddInPlace(hidden, delta, rows * h);
    }
    ends_.Logits(ctx, hidden, logits);
    CommitCaches(ctx);
    return Status::Ok();
  }

 private:
  WeightStore store_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  RopeTable rope_;
  float softmax_scale_;
  LmEnds ends_;
  std::vector<DeepseekLayerWeights> layers_;
  ForwardContext ctx_;  // reused by every Forward, with the workspace
  Workspace ws_;
};

}  // namespace

Result<std::unique_ptr<CausalLm>> LoadDeepseek(WeightStore store, ThreadPool& pool) {
  auto model = std::make_unique<DeepseekModel>(std::move(store), pool);
  FATHOM_RETURN_IF_ERROR(model->Load());
  return std::unique_ptr<CausalLm>(std::move(model));
}

}  // namespace fathom
