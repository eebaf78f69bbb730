// DeepseekV2ForCausalLM and DeepseekV3ForCausalLM (V2, V2-Lite, V3, R1): pre-norm
// decoder layers of multi-head latent attention, with a dense MLP in the first
// first_k_dense_replace layers and a mixture of experts after. V3's MTP layer
// (stored after the main layers) is not part of next-token inference.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/status.h"
#include "model/causal_lm.h"
#include "model/weight_store.h"

namespace fathom {

// REQUIRES: store.config().is_deepseek(). Keeps `store`; computes on `backend`.
Result<std::unique_ptr<CausalLm>> LoadDeepseek(WeightStore store, std::unique_ptr<Backend> backend);

}  // namespace fathom
