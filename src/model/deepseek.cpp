#include "model/deepseek.h"

#include <optional>
#include <vector>

#include "model/decoder_model.h"
#include "model/mla_attention.h"
#include "model/mlp.h"
#include "model/moe.h"

namespace fathom {
namespace {

struct DeepseekLayerWeights {
  DeviceVector input_layernorm;           // (hidden)
  MlaWeights self_attn;
  DeviceVector post_attention_layernorm;  // (hidden)
  std::optional<Mlp> mlp;                 // dense layers
  std::optional<MoeWeights> moe;          // MoE layers
};

class DeepseekModel final : public DecoderModel {
 public:
  DeepseekModel(WeightStore store, std::unique_ptr<Backend> backend, int64_t rope_dim)
      : DecoderModel(std::move(store), std::move(backend), rope_dim), mla_(MlaShapeOf(config_)) {}

  Status Load() {
    const ModelConfig& c = config_;
    Backend& b = *backend_;
    FATHOM_RETURN_IF_ERROR(LoadEnds());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i);
      DeepseekLayerWeights w;
      FATHOM_ASSIGN_OR_RETURN(w.input_layernorm, LoadVector(store_, b, p + ".input_layernorm.weight", c.hidden_size));
      FATHOM_ASSIGN_OR_RETURN(w.self_attn, MlaWeights::Load(store_, b, p + ".self_attn"));
      FATHOM_ASSIGN_OR_RETURN(w.post_attention_layernorm,
                              LoadVector(store_, b, p + ".post_attention_layernorm.weight", c.hidden_size));
      if (c.IsMoeLayer(i)) {
        FATHOM_ASSIGN_OR_RETURN(w.moe, MoeWeights::Load(store_, b, p + ".mlp"));
      } else {
        FATHOM_ASSIGN_OR_RETURN(w.mlp, Mlp::Load(store_, b, p + ".mlp", c.hidden_size, c.intermediate_size, false));
      }
      layers_.push_back(std::move(w));
    }
    return Status::Ok();
  }

  KvCacheShape cache_shape() const override {
    return {.num_layers = config_.num_hidden_layers,
            .first_width = config_.kv_lora_rank,
            .second_width = config_.qk_rope_head_dim};
  }

 private:
  void Layers(const ForwardContext& ctx, float* hidden, float* normed, float* delta) override {
    Backend& b = *backend_;
    const int64_t rows = ctx.num_rows, h = config_.hidden_size;
    const float eps = static_cast<float>(config_.rms_norm_eps);
    for (size_t i = 0; i < layers_.size(); ++i) {
      const DeepseekLayerWeights& w = layers_[i];
      b.RmsNorm(hidden, w.input_layernorm, rows, h, eps, normed);
      MlaAttention(ctx, mla_, static_cast<int64_t>(i), w.self_attn, normed, delta);
      b.Add(hidden, delta, rows * h);
      b.RmsNorm(hidden, w.post_attention_layernorm, rows, h, eps, normed);
      if (w.moe.has_value()) {
        MoeForward(b, config_, *w.moe, normed, rows, delta);
      } else {
        w.mlp->Apply(b, normed, rows, delta);
      }
      b.Add(hidden, delta, rows * h);
    }
  }

  MlaShape mla_;
  std::vector<DeepseekLayerWeights> layers_;
};

}  // namespace

Result<std::unique_ptr<CausalLm>> LoadDeepseek(WeightStore store, std::unique_ptr<Backend> backend) {
  const int64_t rope_dim = store.config().qk_rope_head_dim;
  auto model = std::make_unique<DeepseekModel>(std::move(store), std::move(backend), rope_dim);
  FATHOM_RETURN_IF_ERROR(model->Load());
  return std::unique_ptr<CausalLm>(std::move(model));
}

}  // namespace fathom
