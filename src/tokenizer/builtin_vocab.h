// The project's own byte-level BPE tokenizer, written by `fathom synth` so a model
// works on any machine without downloaded tokenizer files. It is a real
// Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) with DeepSeek's
// special tokens; its merges are learned at build time from a small built-in text
// by plain BPE, so the same bytes come out on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fathom {

struct BuiltinVocab {
  nlohmann::json tokenizer_json;         // tokenizer.json
  nlohmann::json tokenizer_config_json;  // tokenizer_config.json, chat template included
  int64_t vocab_size = 0;                // ids are 0 .. vocab_size-1
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 0;
};

// REQUIRES: vocab_size >= 256 + number of special tokens (>= 300 is plenty).
// `thinking_prompt`: the generation prompt opens a <think> block, as the
// R1-Distill templates do.
BuiltinVocab MakeBuiltinVocab(int64_t vocab_size, bool thinking_prompt);

}  // namespace fathom
