#include "model/weight_layout.h"

namespace fathom {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

class LayoutBuilder {
 public:
  explicit LayoutBuilder(const ModelConfig& c) : c_(c) {}

  void Add(std::string name, std::vector<int64_t> shape, WeightRole role) {
    specs_.push_back({std::move(name), std::move(shape), role, in_mtp_});
  }

  // A projection [out, in] (+ bias), with its FP8 scale when the checkpoint has one.
  void Linear(const std::string& prefix, int64_t out, int64_t in, bool bias) {
    Add(prefix + ".weight", {out, in}, WeightRole::kLinear);
    if (c_.fp8.enabled) {
      Add(prefix + ".weight_scale_inv", {CeilDiv(out, c_.fp8.block_rows), CeilDiv(in, c_.fp8.block_cols)},
          WeightRole::kFp8Scale);
    }
    if (bias) Add(prefix + ".bias", {out}, WeightRole::kBias);
  }

  void Mlp(const std::string& prefix, int64_t hidden, int64_t inter, bool bias) {
    Linear(prefix + ".gate_proj", inter, hidden, bias);
    Linear(prefix + ".up_proj", inter, hidden, bias);
    Linear(prefix + ".down_proj", hidden, inter, bias);
  }

  void LlamaAttention(const std::string& p) {
    const int64_t h = c_.hidden_size, hd = c_.head_dim;
    Linear(p + ".q_proj", c_.num_attention_heads * hd, h, c_.qkv_bias);
    Linear(p + ".k_proj", c_.num_key_value_heads * hd, h, c_.qkv_bias);
    Linear(p + ".v_proj", c_.num_key_value_heads * hd, h, c_.qkv_bias);
    Linear(p + ".o_proj", h, c_.num_attention_heads * hd, c_.arch == Architecture::kLlama && c_.attention_bias);
  }

  void MlaAttention(const std::string& p) {
    const int64_t h = c_.hidden_size, nh = c_.num_attention_heads;
    const bool bias = c_.attention_bias;
    if (c_.q_lora_rank) {
      Linear(p + ".q_a_proj", *c_.q_lora_rank, h, bias);
      Add(p + ".q_a_layernorm.weight", {*c_.q_lora_rank}, WeightRole::kNorm);
      Linear(p + ".q_b_proj", nh * c_.qk_head_dim(), *c_.q_lora_rank, false);
    } else {
      Linear(p + ".q_proj", nh * c_.qk_head_dim(), h, false);
    }
    Linear(p + ".kv_a_proj_with_mqa", c_.kv_lora_rank + c_.qk_rope_head_dim, h, bias);
    Add(p + ".kv_a_layernorm.weight", {c_.kv_lora_rank}, WeightRole::kNorm);
    Linear(p + ".kv_b_proj", nh * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank, false);
    Linear(p + ".o_proj", h, nh * c_.v_head_dim, bias);
  }

  void Moe(const std::string& p) {
    const int64_t h = c_.hidden_size;
    for (int64_t e = 0; e < c_.n_routed_experts; ++e) {
      Mlp(p + ".experts." + std::to_string(e), h, c_.moe_intermediate_size, false);
    }
    Add(p + ".gate.weight", {c_.n_routed_experts, h}, WeightRole::kRouter);
    if (c_.topk_method == TopkMethod::kNoauxTc) {
      Add(p + ".gate.e_score_correction_bias", {c_.n_routed_experts}, WeightRole::kRouterBias);
    }
    if (c_.n_shared_experts > 0) {
      Mlp(p + ".shared_experts", h, c_.moe_intermediate_size * c_.n_shared_experts, false);
    }
  }

  void Layer(int64_t i) {
    const std::string p = "model.layers." + std::to_string(i);
    if (c_.is_deepseek()) {
      MlaAttention(p + ".self_attn");
    } else {
      LlamaAttention(p + ".self_attn");
    }
    if (c_.is_deepseek() && c_.IsMoeLayer(i)) {
      Moe(p + ".mlp");
    } else {
      Mlp(p + ".mlp", c_.hidden_size, c_.intermediate_size, c_.arch == Architecture::kLlama && c_.mlp_bias);
    }
    Add(p + ".input_layernorm.weight", {c_.hidden_size}, WeightRole::kNorm);
    Add(p + ".post_attention_layernorm.weight", {c_.hidden_size}, WeightRole::kNorm);
  }

  // DeepSeek-V3 multi-token prediction: a full decoder layer plus the projection
  // that joins the previous hidden state with the next token's embedding.
  void MtpLayer(int64_t i) {
    in_mtp_ = true;
    const std::string p = "model.layers." + std::to_string(i);
    const int64_t h = c_.hidden_size;
    Layer(i);
    Add(p + ".embed_tokens.weight", {c_.vocab_size, h}, WeightRole::kEmbedding);
    Add(p + ".enorm.weight", {h}, WeightRole::kNorm);
    Add(p + ".hnorm.weight", {h}, WeightRole::kNorm);
    // Not FP8 in the published checkpoint, unlike the layer's projections.
    Add(p + ".eh_proj.weight", {h, 2 * h}, WeightRole::kPlainLinear);
    Add(p + ".shared_head.norm.weight", {h}, WeightRole::kNorm);
    Add(p + ".shared_head.head.weight", {c_.vocab_size, h}, WeightRole::kEmbedding);
    in_mtp_ = false;
  }

  std::vector<WeightSpec> Build() {
    Add("model.embed_tokens.weight", {c_.vocab_size, c_.hidden_size}, WeightRole::kEmbedding);
    for (int64_t i = 0; i < c_.num_hidden_layers; ++i) Layer(i);
    if (c_.is_deepseek()) {
      for (int64_t k = 0; k < c_.num_nextn_predict_layers; ++k) MtpLayer(c_.num_hidden_layers + k);
    }
    Add("model.norm.weight", {c_.hidden_size}, WeightRole::kNorm);
    if (!c_.tie_word_embeddings) Add("lm_head.weight", {c_.vocab_size, c_.hidden_size}, WeightRole::kEmbedding);
    return std::move(specs_);
  }

 private:
  const ModelConfig& c_;
  std::vector<WeightSpec> specs_;
  bool in_mtp_ = false;
};

}  // namespace

int64_t WeightSpec::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<WeightSpec> HfWeightLayout(const ModelConfig& config) { return LayoutBuilder(config).Build(); }

DType StoredDType(const ModelConfig& config, WeightRole role, DType base) {
  switch (role) {
    case WeightRole::kLinear: return config.fp8.enabled ? DType::kF8E4M3 : base;
    case WeightRole::kRouterBias:
    case WeightRole::kFp8Scale: return DType::kF32;
    default: return base;
  }
}

ParameterCount CountParameters(const ModelConfig& config) {
  ParameterCount count;
  int64_t inactive_expert = 0;
  const int64_t moe_layers = [&] {
    int64_t n = 0;
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) n += config.IsMoeLayer(i) ? 1 : 0;
    return n;
  }();
  const int64_t expert_size = 3 * config.hidden_size * config.moe_intermediate_size;
  inactive_expert = moe_layers * (config.n_routed_experts - config.num_experts_per_tok) * expert_size;
  for (const WeightSpec& w : HfWeightLayout(config)) {
    ++count.num_tensors;
    const int64_t n = w.num_elements();
    count.total += n;
    if (w.role == WeightRole::kFp8Scale) {
      count.fp8_scales += n;
    } else if (w.is_mtp) {
      count.mtp += n;
    } else {
      count.main_model += n;
      if (w.role == WeightRole::kEmbedding) count.embedding += n;
    }
  }
  count.active_per_token = count.main_model - inactive_expert;
  return count;
}

}  // namespace fathom
