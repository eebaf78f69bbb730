// Streaming decode: ids arrive one at a time and text leaves as soon as it is
// certain. The non-obvious rule: only an incomplete-but-valid UTF-8 tail is held
// back (a multi-byte character split across tokens); bytes that can never become
// valid are released at once as U+FFFD, so the concatenation of every Append and the
// final Finish equals Tokenizer::Decode of all the ids.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace fathom {

// One per stream; not thread-safe. Holds a pointer to the Tokenizer, which must
// outlive it. Copyable.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer* tokenizer, bool skip_special_tokens)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Feeds one id and returns the text it completes (possibly empty).
  std::string Append(int32_t id);

  // Returns what is still held back (as U+FFFD), ending the stream.
  std::string Finish();

  // Bytes held back because they may start a multi-byte character (0..3).
  size_t num_pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;
};

}  // namespace fathom
