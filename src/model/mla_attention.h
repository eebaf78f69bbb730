// DeepSeek's multi-head latent attention (MLA), in the absorbed form for every
// token: the cache holds per token only the normalised latent c (kv_lora_rank)
// and the roped shared key k_pe (qk_rope_head_dim). Per head h, kv_b_proj's rows
// split into W_UK_h (qk_nope_head_dim, r) and W_UV_h (v_head_dim, r), and
//   score(t, s) = (W_UK_h^T q_nope_h(t)) . c(s) + q_pe_h(t) . k_pe(s)
//   out_h(t)    = W_UV_h (sum_s softmax(score)(s) c(s))
// which equals transformers' expanded form (k_nope = W_UK c, v = W_UV c) without
// ever building per-head K or V. See DeepSeek-V2 paper, section 2.1.2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/forward_context.h"
#include "model/linear.h"

namespace fathom {

struct MlaWeights {
  std::optional<Linear> q_a_proj;                 // (q_lora_rank, hidden), with q_lora_rank
  DeviceVector q_a_layernorm;                     // (q_lora_rank)
  Linear q_b_proj;                                // (heads * qk_head_dim, q_lora_rank), or q_proj (.., hidden) without
  Linear kv_a_proj_with_mqa;                      // (kv_lora_rank + qk_rope_head_dim, hidden)
  DeviceVector kv_a_layernorm;                    // (kv_lora_rank)
  std::shared_ptr<const BackendMatrix> kv_b_proj;  // F32 (heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank)
  Linear o_proj;                                  // (hidden, heads * v_head_dim)

  // Loads `<prefix>` = "model.layers.N.self_attn".
  static Result<MlaWeights> Load(WeightStore& store, Backend& backend, const std::string& prefix);
};

// The shape the backend's MlaAttention needs, from the config.
MlaShape MlaShapeOf(const ModelConfig& config);

// Runs MLA for the normed rows x (rows, hidden) of layer `layer`; the forward's
// rope rows (BeginForward) are qk_rope_head_dim wide: writes each row's latent
// and rope key to the caches at its position and o_proj's output to out (rows,
// hidden).
void MlaAttention(const ForwardContext& ctx, const MlaShape& shape, int64_t layer, const MlaWeights& w, const float* x,
                  float* out);

// DeepSeek's softmax scale: qk_head_dim^-0.5, times YarnMscale(factor,
// mscale_all_dim)^2 when YaRN gives mscale_all_dim.
float MlaSoftmaxScale(const ModelConfig& config);

}  // namespace fathom
