#include "tokenizer/incremental_detokenizer.h"

#include "core/utf8.h"

namespace fathom {

std::string IncrementalDetokenizer::Append(int32_t id) {
  if (skip_special_tokens_ && tokenizer_->IsSpecial(id)) return {};
  pending_ += tokenizer_->TokenBytes(id);
  const size_t hold = utf8::IncompleteSuffixLength(pending_);
  std::string out;
  utf8::AppendLossy(std::string_view(pending_).substr(0, pending_.size() - hold), &out);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string IncrementalDetokenizer::Finish() {
  std::string out;
  utf8::AppendLossy(pending_, &out);
  pending_.clear();
  return out;
}

}  // namespace fathom
