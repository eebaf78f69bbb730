// The tensors a Hugging Face checkpoint of a given config holds: exact names,
// shapes and roles. Used to count parameters without weights, to write synthetic
// checkpoints, and (later) to check a loaded checkpoint is complete.
//
// Non-obvious rule: DeepSeek-V3's MTP layers (model.layers.{num_hidden_layers}.*)
// carry their own copies of embed_tokens and shared_head.head, as the published
// safetensors do, so counting them reproduces the checkpoint's real totals.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/model_config.h"

namespace fathom {

enum class WeightRole {
  kEmbedding,   // token embeddings and output heads
  kNorm,        // RMSNorm gains
  kLinear,      // projection matrices [out, in]; FP8 in V3 checkpoints
  kBias,        // projection biases
  kRouter,      // MoE gate [n_routed_experts, hidden]
  kPlainLinear, // a projection never stored as FP8 (the MTP eh_proj)
  kRouterBias,  // V3 e_score_correction_bias, float32 in the checkpoint
  kFp8Scale,    // weight_scale_inv of an FP8 linear, float32 [ceil(out/128), ceil(in/128)]
};

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;  // row-major, as PyTorch stores it
  WeightRole role;
  bool is_mtp = false;         // belongs to a multi-token-prediction layer
  int64_t num_elements() const;
};

// Every tensor of the checkpoint, in the order transformers' state_dict lists them.
std::vector<WeightSpec> HfWeightLayout(const ModelConfig& config);

// The dtype a checkpoint stores a weight of this role in, given the model's base
// dtype (bf16 or f32): FP8 linears and float32 scales / router biases follow the
// config's quantization.
DType StoredDType(const ModelConfig& config, WeightRole role, DType base);

// `total` counts every element of every tensor in the checkpoint, FP8 scales
// included, which is how the Hugging Face hub counts a safetensors checkpoint
// (DeepSeek-V3: 684,531,386,000, shown as "685B"); `main_model` is the paper's
// figure (DeepSeek-V3: 671,026,419,200, "671B"): no MTP layer, no scales.
struct ParameterCount {
  int64_t total = 0;
  int64_t main_model = 0;      // weights of the main model alone
  int64_t mtp = 0;             // weights of the MTP layers, their embedding copies included
  int64_t fp8_scales = 0;      // weight_scale_inv elements
  int64_t embedding = 0;       // embed_tokens + lm_head of the main model
  int64_t active_per_token = 0;  // main model with only num_experts_per_tok routed experts
  int64_t num_tensors = 0;       // scales included, as the checkpoint counts files' entries
};

ParameterCount CountParameters(const ModelConfig& config);

}  // namespace fathom
