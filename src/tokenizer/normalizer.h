// The normalizer stage of a Hugging Face tokenizer: null, NFC/NFD/NFKC/NFKD, or a
// Sequence of those (utf8proc does the Unicode work). Anything else in a
// tokenizer.json is refused at load with an Unsupported error naming it, so a
// tokenizer never silently normalises differently from the reference.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace fathom {

// Immutable after FromJson; thread-safe. Copyable.
class Normalizer {
 public:
  enum class Form { kNfc, kNfd, kNfkc, kNfkd };

  // A normalizer that leaves text as it is.
  Normalizer() = default;
  explicit Normalizer(std::vector<Form> forms) : forms_(std::move(forms)) {}

  // Parses the "normalizer" member of a tokenizer.json (null allowed).
  static Result<Normalizer> FromJson(const nlohmann::json& j);

  // Returns true iff Normalize is the identity.
  bool is_identity() const { return forms_.empty(); }

  // Returns `text` normalised. REQUIRES: text is valid UTF-8.
  std::string Normalize(std::string_view text) const;

 private:
  std::vector<Form> forms_;
};

}  // namespace fathom
