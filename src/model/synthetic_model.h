// Random-weight Hugging Face model directories of any supported shape, for tests
// and benchmarks (`fathom synth`). The directory is complete: config.json,
// generation_config.json, safetensors shards with the real tensor names, shapes
// and dtypes (FP8 with weight_scale_inv for DeepSeek-V3), and a tokenizer.
//
// Non-obvious rule: every value depends only on (seed, tensor name, position), never
// on the thread count or the tensor order, so a model is the same on every machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/model_config.h"

namespace fathom {

struct SynthOptions {
  Architecture arch = Architecture::kLlama;
  std::string preset = "tiny";
  std::string out_dir;
  uint64_t seed = 0;
  DType dtype = DType::kBF16;               // bf16 or f32 for non-FP8 tensors
  std::optional<int64_t> num_layers;        // overrides num_hidden_layers
  std::optional<int64_t> vocab_size;        // overrides the vocab (>= the tokenizer's)
  std::string tokenizer_dir;                // a real tokenizer to copy; empty: the built-in one
  uint64_t max_shard_bytes = 5'000'000'000; // as transformers' save_pretrained default
  int num_threads = 0;                      // 0: all cores
  bool show_progress = true;
};

// The config `options` describe, before any file is written.
Result<ModelConfig> SynthConfig(const SynthOptions& options);

// Writes the model directory. REQUIRES: out_dir does not exist or is empty.
Status WriteSyntheticModel(const SynthOptions& options);

}  // namespace fathom
