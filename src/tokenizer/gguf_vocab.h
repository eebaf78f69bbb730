// Reads the vocabulary llama.cpp embeds in a GGUF file (tokenizer.ggml.*) and
// restates it as the tokenizer.json + tokenizer_config.json Hugging Face would ship,
// so one loader serves both; and the reverse, for writing GGUF files. The
// non-obvious rule: tokenizer.ggml.pre names a
// pre-tokenizer by llama.cpp's name ("llama-bpe", "qwen2", "deepseek-v3", ...); we
// map each to the Split regexes of the matching tokenizer.json (not llama.cpp's
// hand-adapted ones), and "qwen2" gets the NFC normalizer its tokenizer.json has.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "formats/gguf_value.h"

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

// The llama.cpp pre-tokenizer name whose Split regexes are exactly those of
// tokenizer.json's pre_tokenizer, or nullopt if none is (the inverse of
// PreTokenizerRegexesForGguf, which is what fathom reads back).
std::optional<std::string> GgufPreTokenizerFor(const nlohmann::json& tokenizer_json);

// The tokenizer.ggml.* keys llama.cpp's converter writes for a byte-level BPE
// tokenizer (in its order): model "gpt2", pre, tokens, token_type, merges, the
// bos/eos/unknown/padding ids tokenizer_config.json names, add_bos_token /
// add_eos_token, and chat_template. add_*_token follow tokenizer_config.json when
// it sets them, as transformers' LlamaTokenizerFast does (gguf-py prefers a
// ByteLevel post-processor's "add nothing"; the two disagree only for fathom's
// built-in vocab), else what tokenizer.json's post-processor adds. Tokens run to `vocab_size`
// (the model's embedding rows): ids the tokenizer lacks become "[PAD<id>]" of type
// UNUSED, as the converter pads them. Added tokens are CONTROL when special (or
// shaped like "<|...|>"), USER_DEFINED otherwise. `chat_template` empty: none.
// Errors (Unsupported for a non-BPE model or an unknown pre-tokenizer, Corrupt
// for malformed JSON shapes) are prefixed with "tokenizer.json".
Result<std::vector<std::pair<std::string, GgufValue>>> TokenizerJsonToGgufVocab(
    const nlohmann::json& tokenizer_json, const nlohmann::json& tokenizer_config_json, int64_t vocab_size,
    const std::string& chat_template);

}  // namespace fathom
