// The Backend that runs a model on one NVIDIA GPU: cuBLAS for the products with
// float32 / float16 / bfloat16 weights, fathom's own kernels (kernels/cuda) for
// the GGUF Q8_0 / Q4_0 products and everything else, all queued on one
// non-blocking stream. Decode steps are captured once per batch shape as CUDA
// graphs and replayed (FATHOM_CUDA_GRAPHS=0 turns that off; a model whose MoE
// needs the host mid-step is never captured).
//
// Non-obvious rules: ops return nothing, so the first CUDA or cuBLAS failure is
// kept (later ops still queue) and FinishForward returns it, naming the call.
// Every entry of one forward must cache into the same KvBlockPool, since each
// layer's attention kernel reads one paged stream per cache side.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/status.h"

namespace fathom {

// The CUDA backend on device `device_index`. Unsupported when this build has no
// CUDA, no device is visible or the index is past the last device, saying which.
Result<std::unique_ptr<Backend>> CreateCudaBackend(int device_index);

}  // namespace fathom
