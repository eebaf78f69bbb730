// The token ids that end a generation: the model config's eos_token_id(s), the
// tokenizer's EOS, and generation_config.json's eos_token_id(s), as transformers
// and vLLM merge them. Shared by `fathom run` and `fathom serve`.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/generation_config.h"
#include "formats/model_config.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {

// Returns the distinct EOS ids inside [0, config.vocab_size), in that order of sources.
std::vector<int32_t> EosTokenIds(const ModelConfig& config, const Tokenizer& tokenizer,
                                 const GenerationConfig& generation);

}  // namespace fathom::cli
