// DeepSeek's mixture-of-experts feed-forward: a router picks num_experts_per_tok
// routed experts per token, their outputs are summed with the router weights, and
// the shared experts (one MLP of width n_shared * moe_intermediate_size) are added.
//
// Non-obvious rule: routing follows transformers exactly, quirks included: V2
// ranks groups by their best expert and masks the others to 0.0, V3 ranks them by
// the sum of their two best bias-corrected scores and masks to -inf, and V3 picks
// experts by the corrected score but weighs them by the uncorrected sigmoid.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "model/forward_context.h"
#include "model/mlp.h"

namespace fathom {

struct MoeWeights {
  std::shared_ptr<const BackendMatrix> gate;    // (n_routed_experts, hidden), the router
  DeviceVector e_score_correction_bias;         // (n_routed_experts), noaux_tc only
  std::vector<Mlp> experts;                     // n_routed_experts of (moe_intermediate) width
  std::vector<ExpertWeights> expert_weights;    // the experts' matrices, as the backend takes them
  std::optional<Mlp> shared_experts;            // width n_shared_experts * moe_intermediate

  // Loads `<prefix>` = "model.layers.N.mlp".
  static Result<MoeWeights> Load(WeightStore& store, Backend& backend, const std::string& prefix);
};

// The experts chosen for one token and their weights, top_k of each.
// REQUIRES: router_logits holds n_routed_experts values; ids and weights hold
// num_experts_per_tok each.
void RouteToken(const ModelConfig& config, const float* router_logits, const float* correction_bias, int32_t* ids,
                float* weights);

// out (rows, hidden) = the MoE block applied to x (rows, hidden). Each expert
// runs once over the rows routed to it.
void MoeForward(Backend& backend, const ModelConfig& config, const MoeWeights& w, const float* x, int64_t rows,
                float* out);

}  // namespace fathom
