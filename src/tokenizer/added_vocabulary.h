// Added tokens (special tokens such as <｜begin▁of▁sentence｜> and user tokens
// such as <think>): found in the text before pre-tokenization, leftmost first and
// longest at a position, as Hugging Face's AddedVocabulary does. The non-obvious
// rule: matching happens twice — tokens with normalized=false are found in the raw
// text, then tokens with normalized=true are found in the normalised remainder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fathom {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // matches only where not inside a word
  bool normalized = false;   // matched against normalised text
};

// Immutable after construction; thread-safe. Copyable.
class AddedTokenMatcher {
 public:
  // A segment of the text: either an added token's id over [begin, end), or
  // ordinary text (id == -1).
  struct Segment {
    uint32_t begin;
    uint32_t end;
    int32_t id;
  };

  AddedTokenMatcher() = default;
  // `tokens`: the added tokens this matcher finds (their `content` already in the
  // form they are matched in). Empty contents are ignored.
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }

  // Appends to *segments the cut of text into added tokens and the text between
  // them (non-empty gaps only), applying single_word, lstrip and rstrip.
  void Split(std::string_view text, std::vector<Segment>* segments) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node index, sorted by byte
    int32_t token = -1;                                 // index into tokens_ if a token ends here
  };
  // Returns the index of the longest token that starts at text[pos], or -1; sets *end.
  int32_t LongestAt(std::string_view text, size_t pos, size_t* end) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  bool first_byte_[256] = {};
};

}  // namespace fathom
