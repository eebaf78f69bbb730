#include "model/presets.h"

namespace fathom {
namespace {

struct PresetEntry {
  PresetInfo info;
  std::string_view config_json;  // transformers' config.json form
};

// The published configs, as released with the checkpoints.
constexpr std::string_view kQwen15B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
  "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
  "vocab_size": 151936, "max_position_embeddings": 131072, "rope_theta": 10000.0, "rms_norm_eps": 1e-06,
  "tie_word_embeddings": false, "hidden_act": "silu", "bos_token_id": 151646, "eos_token_id": 151643,
  "torch_dtype": "bfloat16"})";

constexpr std::string_view kQwen7B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
  "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
  "vocab_size": 152064, "max_position_embeddings": 131072, "rope_theta": 10000.0, "rms_norm_eps": 1e-06,
  "tie_word_embeddings": false, "hidden_act": "silu", "bos_token_id": 151646, "eos_token_id": 151643,
  "torch_dtype": "bfloat16"})";

constexpr std::string_view kLlama8B = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
  "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
  "vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000.0,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rms_norm_eps": 1e-05, "tie_word_embeddings": false, "hidden_act": "silu", "attention_bias": false,
  "mlp_bias": false, "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"})";

constexpr std::string_view kV2Lite = R"({
  "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "hidden_size": 2048,
  "intermediate_size": 10944, "moe_intermediate_size": 1408, "num_hidden_layers": 27,
  "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": null, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1,
  "topk_method": "greedy", "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": false,
  "routed_scaling_factor": 1.0, "vocab_size": 102400, "max_position_embeddings": 163840, "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": false, "hidden_act": "silu", "attention_bias": false,
  "bos_token_id": 100000, "eos_token_id": 100001, "torch_dtype": "bfloat16"})";

constexpr std::string_view kV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
  "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
  "num_nextn_predict_layers": 1, "num_attention_heads": 128, "num_key_value_heads": 128, "q_lora_rank": 1536,
  "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
  "moe_layer_freq": 1, "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4, "scoring_func": "sigmoid",
  "norm_topk_prob": true, "routed_scaling_factor": 2.5, "vocab_size": 129280, "max_position_embeddings": 163840,
  "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": false, "hidden_act": "silu", "attention_bias": false,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "bfloat16"})";

// Tiny shapes: every dimension small but none degenerate (GQA groups > 1, several
// experts per group, more than one rope frequency band).
constexpr std::string_view kTinyLlama = R"({
  "model_type": "llama", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512,
  "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64},
  "rms_norm_eps": 1e-05, "tie_word_embeddings": false})";

constexpr std::string_view kTinyLlamaTied = R"({
  "model_type": "llama", "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
  "num_attention_heads": 6, "num_key_value_heads": 3, "vocab_size": 512, "max_position_embeddings": 256,
  "rope_theta": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 2.0},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": true, "attention_bias": true, "mlp_bias": true})";

constexpr std::string_view kTinyQwen2 = R"({
  "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512,
  "rope_theta": 10000.0, "rms_norm_eps": 1e-06, "tie_word_embeddings": false})";

constexpr std::string_view kTinyQwen2Tied = R"({
  "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
  "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 512, "max_position_embeddings": 256,
  "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "tie_word_embeddings": true})";

constexpr std::string_view kTinyV2 = R"({
  "model_type": "deepseek_v2", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
  "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": null,
  "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
  "n_routed_experts": 8, "n_shared_experts": 2, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
  "moe_layer_freq": 1, "topk_method": "greedy", "n_group": 1, "topk_group": 1, "scoring_func": "softmax",
  "norm_topk_prob": false, "routed_scaling_factor": 1.0, "vocab_size": 512, "max_position_embeddings": 1024,
  "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 4, "original_max_position_embeddings": 256, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": false})";

constexpr std::string_view kTinyV2Grouped = R"({
  "model_type": "deepseek_v2", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
  "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 48,
  "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
  "n_routed_experts": 16, "n_shared_experts": 2, "num_experts_per_tok": 3, "first_k_dense_replace": 1,
  "moe_layer_freq": 1, "topk_method": "group_limited_greedy", "n_group": 4, "topk_group": 2,
  "scoring_func": "softmax", "norm_topk_prob": false, "routed_scaling_factor": 16.0, "vocab_size": 512,
  "max_position_embeddings": 512, "rope_theta": 10000, "rms_norm_eps": 1e-06, "tie_word_embeddings": false})";

constexpr std::string_view kTinyV3 = R"({
  "model_type": "deepseek_v3", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
  "num_hidden_layers": 3, "num_nextn_predict_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4,
  "q_lora_rank": 48, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
  "n_routed_experts": 16, "n_shared_experts": 1, "num_experts_per_tok": 4, "first_k_dense_replace": 1,
  "moe_layer_freq": 1, "topk_method": "noaux_tc", "n_group": 4, "topk_group": 2, "scoring_func": "sigmoid",
  "norm_topk_prob": true, "routed_scaling_factor": 2.5, "vocab_size": 512, "max_position_embeddings": 1024,
  "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 4, "original_max_position_embeddings": 256, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": false})";

// Wide enough that FP8 128x128 scale blocks tile each matrix more than once,
// with ragged edges (320 = 2.5 blocks).
constexpr std::string_view kTinyV3Fp8 = R"({
  "model_type": "deepseek_v3", "hidden_size": 320, "intermediate_size": 384, "moe_intermediate_size": 160,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 192,
  "kv_lora_rank": 160, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
  "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
  "moe_layer_freq": 1, "topk_method": "noaux_tc", "n_group": 2, "topk_group": 1, "scoring_func": "sigmoid",
  "norm_topk_prob": true, "routed_scaling_factor": 2.5, "vocab_size": 512, "max_position_embeddings": 1024,
  "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 4, "original_max_position_embeddings": 256, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06, "tie_word_embeddings": false})";

// Rows of 256 and 512 values, whole numbers of the 256-value K-quant super-blocks,
// so quantize tests exercise real Q4_K / Q6_K tensors (tiny presets fall back to Q8_0).
constexpr std::string_view kSmallK256Llama = R"({
  "model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512,
  "rope_theta": 10000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": false})";

const std::vector<PresetEntry>& Entries() {
  static const std::vector<PresetEntry> entries = {
      {{"r1-distill-qwen-1.5b", Architecture::kQwen2, "DeepSeek-R1-Distill-Qwen-1.5B"}, kQwen15B},
      {{"r1-distill-qwen-7b", Architecture::kQwen2, "DeepSeek-R1-Distill-Qwen-7B"}, kQwen7B},
      {{"r1-distill-llama-8b", Architecture::kLlama, "DeepSeek-R1-Distill-Llama-8B"}, kLlama8B},
      {{"v2-lite", Architecture::kDeepseekV2, "DeepSeek-V2-Lite (16B MoE)"}, kV2Lite},
      {{"v3", Architecture::kDeepseekV3, "DeepSeek-V3 / R1 (671B MoE, FP8)"}, kV3},
      {{"tiny", Architecture::kLlama, "2 layers, GQA, llama3 rope"}, kTinyLlama},
      {{"tiny-tied", Architecture::kLlama, "tied head, linear rope, attention and MLP biases"}, kTinyLlamaTied},
      {{"tiny", Architecture::kQwen2, "2 layers, GQA, q/k/v biases"}, kTinyQwen2},
      {{"tiny-tied", Architecture::kQwen2, "tied head, one KV head"}, kTinyQwen2Tied},
      {{"tiny", Architecture::kDeepseekV2, "no q_lora_rank, greedy softmax routing, YaRN"}, kTinyV2},
      {{"tiny-grouped", Architecture::kDeepseekV2, "q_lora_rank, group-limited greedy routing"}, kTinyV2Grouped},
      {{"tiny", Architecture::kDeepseekV3, "sigmoid noaux_tc routing in groups, YaRN, one MTP layer"}, kTinyV3},
      {{"tiny-fp8", Architecture::kDeepseekV3, "as tiny, FP8 e4m3 weights in 128x128 blocks"}, kTinyV3Fp8},
      {{"small-k256", Architecture::kLlama, "hidden 256, rows K-quants fit (quantize tests)"}, kSmallK256Llama},
  };
  return entries;
}

}  // namespace

const std::vector<PresetInfo>& ListPresets() {
  static const std::vector<PresetInfo> infos = [] {
    std::vector<PresetInfo> v;
    for (const PresetEntry& e : Entries()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

Result<ModelConfig> FindPreset(Architecture arch, std::string_view name) {
  std::string names;
  for (const PresetEntry& e : Entries()) {
    if (e.info.arch != arch) continue;
    // The hub's repository names ("deepseek-r1-distill-qwen-1.5b") work too.
    const bool hub_name = name.starts_with("deepseek-") && name.substr(9) == e.info.name;
    if (e.info.name == name || hub_name) {
      Result<ModelConfig> c = ParseHfConfigText(e.config_json, "preset " + std::string(name));
      FATHOM_CHECK_MSG(c.ok(), c.status().ToString());  // built-in text: only a bug breaks it
      return c;
    }
    names += names.empty() ? "" : ", ";
    names += e.info.name;
  }
  return NotFound("no preset '" + std::string(name) + "' for " + std::string(ArchitectureName(arch)) +
                  " (presets: " + names + ")");
}

}  // namespace fathom
