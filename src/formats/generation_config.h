// The sampling defaults and stop tokens a Hugging Face checkpoint ships in
// generation_config.json (R1-Distill: temperature 0.6, top_p 0.95). vLLM applies
// them when a request leaves a field unset; so does fathom.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace fathom {

struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;  // eos_token_id: one id or a list
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<bool> do_sample;
};

// Reads `<model_dir>/generation_config.json`; a missing file gives an empty
// config. A present but malformed one is an error naming the file and key.
Result<GenerationConfig> LoadGenerationConfig(const std::string& model_dir);

}  // namespace fathom
