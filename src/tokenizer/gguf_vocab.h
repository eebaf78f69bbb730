// Reads the vocabulary llama.cpp embeds in a GGUF file (tokenizer.ggml.*) and
// restates it as the tokenizer.json + tokenizer_config.json Hugging Face would ship,
// so one loader serves both. The non-obvious rule: tokenizer.ggml.pre names a
// pre-tokenizer by llama.cpp's name ("llama-bpe", "qwen2", "deepseek-v3", ...); we
// map each to the Split regexes of the matching tokenizer.json (not llama.cpp's
// hand-adapted ones), and "qwen2" gets the NFC normalizer its tokenizer.json has.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace fathom {

class GgufFile;

struct GgufTokenizerFiles {
  nlohmann::json tokenizer_json;
  nlohmann::json tokenizer_config_json;
};

// Returns the Split regexes (in order) for a llama.cpp pre-tokenizer name, or
// nullopt if the name is unknown.
std::optional<std::vector<std::string>> PreTokenizerRegexesForGguf(const std::string& pre);

// Requires tokenizer.ggml.model == "gpt2" (byte-level BPE); errors name the key.
Result<GgufTokenizerFiles> GgufVocabToTokenizerJson(const GgufFile& gguf);

}  // namespace fathom
