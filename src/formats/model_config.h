// ModelConfig: every hyper-parameter that changes the math of a forward pass, for
// the four supported families, read from a Hugging Face config.json or from GGUF
// metadata. One struct for all families because a config file is one flat record;
// the weights, by contrast, are typed per family (see model/).
//
// Non-obvious rule: fields keep the meaning transformers gives them, so a value
// printed here can be compared with `AutoConfig.from_pretrained(...)` directly
// (e.g. `rope_scaling.mscale_all_dim == 0` means "absent", as in transformers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace fathom {

enum class Architecture { kLlama, kQwen2, kDeepseekV2, kDeepseekV3 };
enum class RopeType { kDefault, kLinear, kLlama3, kYarn };
enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };
enum class ScoringFunc { kSoftmax, kSigmoid };

std::string_view ArchitectureName(Architecture arch);      // "llama", "qwen2", ...
std::string_view HfArchitectureClass(Architecture arch);   // "LlamaForCausalLM", ...
std::optional<Architecture> ArchitectureFromName(std::string_view name);  // model_type or class
std::string_view RopeTypeName(RopeType type);
std::string_view TopkMethodName(TopkMethod method);
std::string_view ScoringFuncName(ScoringFunc func);

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;                          // linear, llama3, yarn
  int64_t original_max_position_embeddings = 0; // llama3, yarn (0: absent)
  double low_freq_factor = 1.0;                 // llama3
  double high_freq_factor = 4.0;                // llama3
  double beta_fast = 32.0;                      // yarn
  double beta_slow = 1.0;                       // yarn
  double mscale = 1.0;                          // yarn (DeepSeek)
  double mscale_all_dim = 0.0;                  // yarn (DeepSeek); 0 means absent
  std::optional<double> attention_factor;       // yarn, when given explicitly
  // GGUF files from llama.cpp carry llama3 frequencies as a tensor instead of factors.
  bool freqs_from_tensor = false;
};

// DeepSeek-V3's block-scaled FP8 weights (`quantization_config.quant_method == "fp8"`).
struct Fp8Quantization {
  bool enabled = false;
  std::string fmt = "e4m3";
  std::string activation_scheme = "dynamic";
  int64_t block_rows = 128;
  int64_t block_cols = 128;
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string model_type;  // as written: "llama", "qwen2", "deepseek_v2", "deepseek_v3"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense MLP width
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA groups = heads / kv heads
  int64_t head_dim = 0;             // llama family: hidden / heads unless given
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // llama: q,k,v,o; deepseek: q_a/q, kv_a, o
  bool qkv_bias = false;        // qwen2 always has q/k/v biases and none on o
  bool mlp_bias = false;
  std::string hidden_act = "silu";

  // DeepSeek MLA. q_lora_rank absent means a plain q_proj (V2-Lite).
  std::optional<int64_t> q_lora_rank;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // DeepSeek MoE.
  int64_t moe_intermediate_size = 0;
  int64_t n_routed_experts = 0;  // 0: no MoE layers
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  TopkMethod topk_method = TopkMethod::kGreedy;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t num_nextn_predict_layers = 0;  // MTP layers stored after the main ones

  Fp8Quantization fp8;

  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "bfloat16";

  bool is_deepseek() const { return arch == Architecture::kDeepseekV2 || arch == Architecture::kDeepseekV3; }
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Returns true iff layer `i` uses a mixture of experts (as transformers decides it).
  bool IsMoeLayer(int64_t i) const;

  // Checks ranges and cross-field consistency (heads divide, group counts, ...).
  Status Validate() const;

  // The config in transformers' key names (rope in `rope_scaling`), for inspect
  // and for writing config.json.
  nlohmann::json ToHfJson() const;
};

// Parses a config.json object. Accepts both the published checkpoints' key names
// (`rope_scaling`) and those recent transformers versions write (`rope_parameters`).
// Errors name the key and the problem; `origin` (a file name) prefixes them.
Result<ModelConfig> ParseHfConfig(const nlohmann::json& json, const std::string& origin);
// Same, from the text of a config.json (hostile input: any JSON error is a Status).
Result<ModelConfig> ParseHfConfigText(std::string_view text, const std::string& origin);
Result<ModelConfig> LoadHfConfig(const std::string& path);

}  // namespace fathom
