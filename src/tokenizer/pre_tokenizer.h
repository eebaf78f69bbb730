// The pre-tokenizer stage: a Sequence of Split steps (a regex and a behaviour)
// followed by ByteLevel, cutting normalised text into the pieces BPE sees. Pieces
// are byte ranges into a caller-owned buffer, so splitting allocates nothing per
// piece. The non-obvious rule: ByteLevel's add_prefix_space prepends a space to
// every piece that does not start with one (Hugging Face does this per piece), which
// is the only step that writes new bytes into the buffer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/split_regex.h"

namespace fathom {

// Immutable after FromJson; Split may be called from many threads at once.
// Movable, not copyable (it owns compiled regexes).
class PreTokenizer {
 public:
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

  struct Piece {
    uint32_t begin;  // byte range in the buffer
    uint32_t end;
  };

  // Parses the "pre_tokenizer" member of a tokenizer.json. Requires a ByteLevel
  // step somewhere (fathom's BPE is byte-level); unknown types are Unsupported.
  static Result<PreTokenizer> FromJson(const nlohmann::json& j);

  // Builds a pre-tokenizer of Isolated Split steps and a plain ByteLevel, as the
  // GGUF loader needs.
  static Result<PreTokenizer> FromRegexes(const std::vector<std::string>& patterns);

  PreTokenizer(PreTokenizer&&) noexcept = default;
  PreTokenizer& operator=(PreTokenizer&&) noexcept = default;

  // Splits buffer[begin, end) and appends the resulting pieces to *pieces; may
  // append bytes to *buffer (so earlier string_views into it are invalidated;
  // Piece offsets stay valid). REQUIRES: the range is valid UTF-8.
  Status Split(std::string* buffer, Piece range, std::vector<Piece>* pieces) const;

 private:
  struct Step {
    bool is_byte_level = false;
    // Split:
    std::unique_ptr<SplitRegex> regex;
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    // ByteLevel:
    bool add_prefix_space = false;
  };
  PreTokenizer() = default;
  static Status AppendSteps(const nlohmann::json& j, std::vector<Step>* steps);
  Status ApplySplit(const Step& step, const std::string& buffer, Piece piece, std::vector<Piece>* out) const;

  std::vector<Step> steps_;
};

}  // namespace fathom
