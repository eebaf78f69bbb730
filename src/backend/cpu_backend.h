// The CPU backend: the kernels of kernels/cpu on a thread pool, over host
// memory. What every model ran before there was a backend interface, unchanged
// in its arithmetic, so the CPU path's outputs are bit-identical to it.
//
// Non-obvious rule: its matrices are views (the file's mapping, or a quantized
// copy the WeightStore owns), never copies, plus the panels packed at load.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/thread_pool.h"

namespace fathom {

// The largest MLA kv_lora_rank the CPU attention keeps on its stack (V2/V3 use 512).
constexpr int64_t kMaxMlaLatent = 2048;

// The CPU backend on `pool`, which must outlive it.
std::unique_ptr<Backend> CreateCpuBackend(ThreadPool& pool);

}  // namespace fathom
