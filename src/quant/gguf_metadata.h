// The general.* and <arch>.* metadata of a GGUF file written from a Hugging Face
// config: the mirror image of what formats/gguf_config.cpp reads, in the keys and
// value types llama.cpp's convert_hf_to_gguf.py writes. The non-obvious rule:
// DeepSeek's MLA is stored as llama.cpp runs it, as MQA over the latent, so
// head_count_kv is 1, key_length/value_length are the latent sizes
// (kv_lora_rank + rope, kv_lora_rank) and the per-head sizes go under *_mla.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/generation_config.h"
#include "formats/gguf_value.h"
#include "formats/model_config.h"

namespace fathom {

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

// llama.cpp's architecture name for `arch`: "llama", "qwen2" or "deepseek2".
std::string_view GgufArchitectureName(Architecture arch);

// llama.cpp's LLAMA_FTYPE for a file whose weights are mostly `target` (F32 0,
// F16 1, Q4_0 2, Q8_0 7, Q4_K 15 (Q4_K_M), Q6_K 18, BF16 32).
// REQUIRES: IsQuantTarget(target).
uint32_t LlamaFileType(DType target);

// general.architecture, general.type, general.name, general.sampling.* (the
// generation_config.json defaults: temp, top_p, top_k), the <arch>.*
// hyper-parameters, general.file_type and general.quantization_version (2), in
// that order. Unsupported for a rope scaling llama.cpp cannot express for this
// architecture.
Result<GgufMetadata> GgufModelMetadata(const ModelConfig& config, const std::string& name, DType target,
                                       const GenerationConfig& generation = {});

// llama.cpp's rope_freqs tensor for a llama3-scaled config (head_dim / 2 values):
// the factor each inverse frequency is divided by, computed in float32 as the
// converter computes it (torch float32), so the values match its file's bit for bit.
// REQUIRES: config.rope_scaling.type == RopeType::kLlama3.
std::vector<float> Llama3RopeFactors(const ModelConfig& config);

}  // namespace fathom
