// A compiled pre-tokenizer regex (PCRE2, UTF + UCP, JIT-compiled), used to find
// every non-overlapping match in a text as Hugging Face's Split does with
// Oniguruma. The non-obvious rule: subjects are never re-checked for valid UTF-8 on
// each match (that check is O(n) per call and made splitting quadratic), so callers
// must pass valid UTF-8 — the Tokenizer repairs its input once up front.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace fathom {

// Immutable after Compile; Find may be called from many threads at once (match
// buffers are per thread). Movable, not copyable.
class SplitRegex {
 public:
  struct Match {
    size_t begin;  // byte offsets into the subject
    size_t end;
  };

  // Compiles `pattern` as written in a tokenizer.json (Oniguruma syntax, which for
  // the patterns real tokenizers use coincides with PCRE2's). \s and \S are widened
  // to Unicode's White_Space set (Oniguruma's meaning, which includes U+0085).
  static Result<SplitRegex> Compile(std::string_view pattern);

  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;
  SplitRegex(const SplitRegex&) = delete;
  SplitRegex& operator=(const SplitRegex&) = delete;
  ~SplitRegex();

  // Appends to *matches every non-empty, non-overlapping match in `subject`, left
  // to right. REQUIRES: subject is valid UTF-8. Fails only if PCRE2 runs out of
  // its match limits (a pathological pattern on a huge input).
  Status FindAll(std::string_view subject, std::vector<Match>* matches) const;

  const std::string& pattern() const { return pattern_; }

 private:
  SplitRegex() = default;
  struct Code;
  std::string pattern_;
  std::unique_ptr<Code> code_;
};

}  // namespace fathom
