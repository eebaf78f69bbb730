// ModelConfig from the metadata llama.cpp writes into GGUF files (`llama`, `qwen2`,
// `deepseek2`). Facts GGUF keeps as tensors rather than keys (tied embeddings,
// llama3 rope frequencies, V3's routing bias) are read from the tensor list.
#pragma once

#include "core/status.h"
#include "formats/gguf_file.h"
#include "formats/model_config.h"

namespace fathom {

// Errors name the key and the problem.
Result<ModelConfig> ConfigFromGguf(const GgufFile& file);

}  // namespace fathom
