// A Hugging Face byte-level BPE tokenizer: normalizer, added tokens, pre-tokenizer,
// BPE model, post-processor and ByteLevel decoder, loaded from tokenizer.json (+
// tokenizer_config.json) or from the vocabulary inside a GGUF file. The
// non-obvious rule: which special tokens Encode adds follows `transformers` by
// default — tokenizer_config.json's add_bos_token / add_eos_token, when present,
// replace tokenizer.json's post-processor (as LlamaTokenizerFast does) — while
// SpecialTokenSource::kTokenizerJson gives what the raw `tokenizers` library adds.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace fathom {

class GgufFile;

enum class SpecialTokenSource {
  kTransformers,   // tokenizer_config.json's add_bos/eos_token, else tokenizer.json
  kTokenizerJson,  // tokenizer.json's post_processor only
};

// Immutable after loading; Encode and Decode may be called from many threads at
// once. Movable, not copyable.
class Tokenizer {
 public:
  // `config` may be null (no tokenizer_config.json).
  static Result<Tokenizer> FromJson(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                    SpecialTokenSource source = SpecialTokenSource::kTransformers);
  // Loads `path`: a model directory (tokenizer.json + tokenizer_config.json), a
  // tokenizer.json (its sibling tokenizer_config.json is read if present), or a
  // GGUF file. Errors name the file.
  static Result<Tokenizer> Load(const std::string& path, SpecialTokenSource source = SpecialTokenSource::kTransformers);
  // Builds the tokenizer described by a GGUF file's tokenizer.ggml.* metadata.
  static Result<Tokenizer> FromGguf(const GgufFile& gguf);

  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;

  // Returns the ids of `text`; with add_special_tokens, BOS/EOS (or the template's
  // tokens) are added. Invalid UTF-8 in `text` is first replaced by U+FFFD.
  Result<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;

  // Returns the bytes of each id joined and converted to UTF-8 (invalid bytes become
  // U+FFFD). Ids outside the vocabulary are skipped, as are special tokens when
  // skip_special_tokens is set.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;

  // Returns the raw bytes id stands for ("" for ids outside the vocabulary); the
  // building block of incremental decoding.
  const std::string& TokenBytes(int32_t id) const;
  // Returns true iff id is an added token marked special.
  bool IsSpecial(int32_t id) const;
  // Returns the id of a token given as written in tokenizer.json, or -1.
  int32_t TokenToId(std::string_view token) const;

  // One past the largest id.
  int32_t vocab_size() const { return static_cast<int32_t>(token_bytes_.size()); }
  std::optional<int32_t> bos_token_id() const { return bos_id_; }
  std::optional<int32_t> eos_token_id() const { return eos_id_; }
  // The ids Encode puts around the text when add_special_tokens is set.
  const std::vector<int32_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<int32_t>& suffix_ids() const { return suffix_ids_; }

 private:
  Tokenizer() = default;
  Status EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  Status EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const;
  Status ParsePostProcessor(const nlohmann::json& j);

  Normalizer normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  AddedTokenMatcher raw_matcher_;                                  // added tokens with normalized=false
  AddedTokenMatcher normalized_matcher_;                           // added tokens with normalized=true
  std::vector<std::string> token_bytes_;                           // id -> decoded bytes
  std::vector<uint8_t> is_special_;                                // id -> 1 if a special added token
  std::vector<std::pair<std::string, int32_t>> added_by_content_;  // sorted by content
  std::vector<int32_t> prefix_ids_;
  std::vector<int32_t> suffix_ids_;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
};

// The text of special token `key` ("bos_token", ...) in a tokenizer_config.json,
// which writes it as a string or an AddedToken object {"content": ...};
// nullopt if absent, null or of another shape.
std::optional<std::string> ConfigTokenContent(const nlohmann::json& config, const char* key);

}  // namespace fathom
