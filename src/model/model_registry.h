// Which forward pass runs which architecture, and the one entry point that opens
// a model file and builds it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/causal_lm.h"
#include "model/weight_store.h"

namespace fathom {

// Opens `path` (HF directory or GGUF file) and builds its forward pass on `pool`,
// which must outlive the model. Unsupported architectures get a message listing
// the supported ones; missing or mis-shaped tensors name the tensor. A quantize
// option runs on `pool` (options.pool is ignored).
Result<std::unique_ptr<CausalLm>> LoadCausalLm(const std::string& path, ThreadPool& pool, LoadOptions options = {});

// HF class names of the supported architectures ("LlamaForCausalLM", ...).
std::vector<std::string> SupportedArchitectures();

}  // namespace fathom
