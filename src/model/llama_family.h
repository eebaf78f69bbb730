// LlamaForCausalLM and Qwen2ForCausalLM (R1-Distill-Llama and R1-Distill-Qwen):
// pre-norm decoder layers of grouped-query attention with rotary embeddings and a
// SwiGLU MLP. Qwen2 differs only in its q/k/v biases.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/status.h"
#include "model/causal_lm.h"
#include "model/weight_store.h"

namespace fathom {

// REQUIRES: store.config().arch is kLlama or kQwen2. The model keeps `store`
// (its weights are views into it) and computes on `backend`.
Result<std::unique_ptr<CausalLm>> LoadLlamaFamily(WeightStore store, std::unique_ptr<Backend> backend);

}  // namespace fathom
