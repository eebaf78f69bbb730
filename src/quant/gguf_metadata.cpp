#include "quant/gguf_metadata.h"

#include <cmath>
#include <numbers>

#include "quant/quant_policy.h"

namespace fathom {
namespace {

// Appends "<arch>.<key>" entries; counts are uint32 and reals float32, the types
// gguf-py's writer uses for them.
class ArchKeys {
 public:
  ArchKeys(GgufMetadata* out, std::string_view arch) : out_(out), prefix_(std::string(arch) + ".") {}
  void U32(const std::string& key, int64_t v) { out_->emplace_back(prefix_ + key, GgufValue::U32(static_cast<uint32_t>(v))); }
  void F32(const std::string& key, double v) { out_->emplace_back(prefix_ + key, GgufValue::F32(static_cast<float>(v))); }
  void Bool(const std::string& key, bool v) { out_->emplace_back(prefix_ + key, GgufValue::Bool(v)); }
  void String(const std::string& key, std::string v) { out_->emplace_back(prefix_ + key, GgufValue::String(std::move(v))); }

 private:
  GgufMetadata* out_;
  std::string prefix_;
};

Status AddRope(const ModelConfig& c, ArchKeys& k) {
  k.F32("rope.freq_base", c.rope_theta);
  const RopeScaling& rs = c.rope_scaling;
  switch (rs.type) {
    case RopeType::kDefault:
    case RopeType::kLlama3:  // carried by the rope_freqs tensor instead
      if (rs.type == RopeType::kLlama3 && c.arch != Architecture::kLlama) {
        return Unsupported("llama3 rope scaling is only written for the llama architecture");
      }
      return Status();
    case RopeType::kLinear:
      k.String("rope.scaling.type", "linear");
      k.F32("rope.scaling.factor", rs.factor);
      return Status();
    case RopeType::kYarn:
      k.String("rope.scaling.type", "yarn");
      k.F32("rope.scaling.factor", rs.factor);
      k.U32("rope.scaling.original_context_length", rs.original_max_position_embeddings);
      if (rs.attention_factor) k.F32("rope.scaling.yarn_attn_factor", *rs.attention_factor);
      k.F32("rope.scaling.yarn_beta_fast", rs.beta_fast);
      k.F32("rope.scaling.yarn_beta_slow", rs.beta_slow);
      // DeepSeek's legacy multiplier: 0.1 * mscale_all_dim (llama.cpp PR 17945);
      // the reader assumes mscale == mscale_all_dim, as every DeepSeek config has it.
      if (c.is_deepseek() && rs.mscale_all_dim != 0.0) k.F32("rope.scaling.yarn_log_multiplier", 0.1 * rs.mscale_all_dim);
      return Status();
  }
  return Status();
}

void AddDeepseek(const ModelConfig& c, ArchKeys& k) {
  k.U32("leading_dense_block_count", c.first_k_dense_replace);
  // The converter omits q_lora_rank for V2-Lite, but llama.cpp recognises a lite
  // model by its layer count (26 or 27) and otherwise requires the key; 0 tells it
  // to use a plain attn_q, whatever the depth.
  k.U32("attention.q_lora_rank", c.q_lora_rank.value_or(0));
  k.U32("attention.kv_lora_rank", c.kv_lora_rank);
  k.U32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
  k.U32("attention.value_length", c.kv_lora_rank);
  k.U32("attention.key_length_mla", c.qk_head_dim());
  k.U32("attention.value_length_mla", c.v_head_dim);
  k.U32("expert_feed_forward_length", c.moe_intermediate_size > 0 ? c.moe_intermediate_size : c.intermediate_size);
  k.U32("expert_count", c.n_routed_experts);
  k.U32("expert_used_count", c.num_experts_per_tok);
  k.U32("expert_shared_count", c.n_shared_experts);
  // llama.cpp ranks groups by the sum of their two best scores (V3's noaux_tc rule)
  // whatever the model, so a V2 group_limited_greedy model (max per group) may route
  // differently there; fathom reads the pair back as V2's rule.
  k.U32("expert_group_count", c.n_group);
  k.U32("expert_group_used_count", c.topk_group);
  k.F32("expert_weights_scale", c.routed_scaling_factor);
  if (c.norm_topk_prob) k.Bool("expert_weights_norm", true);
  k.U32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);  // llama_expert_gating_func_type
  k.U32("rope.dimension_count", c.qk_rope_head_dim);
}

}  // namespace

std::string_view GgufArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "llama";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kDeepseekV2:
    case Architecture::kDeepseekV3: return "deepseek2";
  }
  return "llama";
}

uint32_t LlamaFileType(DType target) {
  FATHOM_CHECK(IsQuantTarget(target));
  switch (target) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ8_0: return 7;
    case DType::kQ4_K: return 15;
    case DType::kQ6_K: return 18;
    case DType::kBF16: return 32;
    default: return 0;
  }
}

Result<GgufMetadata> GgufModelMetadata(const ModelConfig& c, const std::string& name, DType target,
                                       const GenerationConfig& generation) {
  const std::string_view arch = GgufArchitectureName(c.arch);
  GgufMetadata out;
  out.emplace_back("general.architecture", GgufValue::String(std::string(arch)));
  out.emplace_back("general.type", GgufValue::String("model"));
  out.emplace_back("general.name", GgufValue::String(name));
  if (generation.top_k) out.emplace_back("general.sampling.top_k", GgufValue::I32(static_cast<int32_t>(*generation.top_k)));
  if (generation.top_p) out.emplace_back("general.sampling.top_p", GgufValue::F32(static_cast<float>(*generation.top_p)));
  if (generation.temperature) {
    out.emplace_back("general.sampling.temp", GgufValue::F32(static_cast<float>(*generation.temperature)));
  }
  ArchKeys k(&out, arch);
  k.U32("block_count", c.num_hidden_layers);
  k.U32("context_length", c.max_position_embeddings);
  k.U32("embedding_length", c.hidden_size);
  k.U32("feed_forward_length", c.intermediate_size);
  k.U32("attention.head_count", c.num_attention_heads);
  k.U32("attention.head_count_kv", c.is_deepseek() ? 1 : c.num_key_value_heads);
  FATHOM_RETURN_IF_ERROR(AddRope(c, k));
  k.F32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  // The converter's Qwen2 class writes neither vocab_size nor rope.dimension_count.
  if (c.arch != Architecture::kQwen2) k.U32("vocab_size", c.vocab_size);
  if (c.is_deepseek()) {
    AddDeepseek(c, k);
  } else {
    if (c.arch == Architecture::kLlama) k.U32("rope.dimension_count", c.head_dim);
    k.U32("attention.key_length", c.head_dim);
    k.U32("attention.value_length", c.head_dim);
  }
  out.emplace_back("general.file_type", GgufValue::U32(LlamaFileType(target)));
  out.emplace_back("general.quantization_version", GgufValue::U32(2));
  return out;
}

std::vector<float> Llama3RopeFactors(const ModelConfig& c) {
  const RopeScaling& rs = c.rope_scaling;
  FATHOM_CHECK(rs.type == RopeType::kLlama3);
  const int64_t dim = c.head_dim;
  const float old_ctx = static_cast<float>(
      rs.original_max_position_embeddings > 0 ? rs.original_max_position_embeddings : 8192);
  const float low = static_cast<float>(rs.low_freq_factor), high = static_cast<float>(rs.high_freq_factor);
  const float factor = static_cast<float>(rs.factor);
  // The wavelength bounds are Python floats (double) compared with float32 wavelengths.
  const double low_wavelen = static_cast<double>(old_ctx) / rs.low_freq_factor;
  const double high_wavelen = static_cast<double>(old_ctx) / rs.high_freq_factor;
  std::vector<float> factors;  // (head_dim / 2)
  for (int64_t i = 0; i < dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
    const float wavelen = static_cast<float>(2 * std::numbers::pi) / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(factor);
    } else {
      const float smooth = (old_ctx / wavelen - low) / (high - low);
      factors.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return factors;
}

}  // namespace fathom
