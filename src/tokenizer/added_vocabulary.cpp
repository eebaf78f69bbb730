#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "core/utf8.h"

namespace fathom {

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) {
  nodes_.emplace_back();
  for (AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    const auto index = static_cast<int32_t>(tokens_.size());
    int32_t node = 0;
    for (char c : t.content) {
      const auto byte = static_cast<uint8_t>(c);
      auto& children = nodes_[node].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        const auto child = static_cast<int32_t>(nodes_.size());
        children.insert(it, {byte, child});
        nodes_.emplace_back();
        node = child;
      }
    }
    // A duplicate content keeps its first definition.
    if (nodes_[node].token < 0) nodes_[node].token = index;
    first_byte_[static_cast<uint8_t>(t.content[0])] = true;
    tokens_.push_back(std::move(t));
  }
}

int32_t AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, size_t* end) const {
  int32_t node = 0;
  int32_t best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      *end = i + 1;
    }
  }
  return best;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* segments) const {
  size_t emitted = 0;  // text before this is already in *segments
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t end = 0;
    const int32_t index = LongestAt(text, pos, &end);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t begin = pos;
    size_t stop = end;
    if (token.single_word) {
      const bool word_before = begin > 0 && utf8::IsWordChar(utf8::DecodeLast(text.substr(0, begin)));
      size_t len = 0;
      const bool word_after = stop < text.size() && utf8::IsWordChar(utf8::Decode(text, stop, &len));
      if (word_before || word_after) {
        // Skip past this occurrence, as the leftmost-longest iterator would.
        pos = end;
        continue;
      }
    }
    if (token.lstrip) {
      while (begin > emitted) {
        const std::string_view before = text.substr(0, begin);
        const uint32_t cp = utf8::DecodeLast(before);
        if (!utf8::IsWhitespace(cp)) break;
        size_t len = 0;
        size_t back = begin - 1;
        while (back > 0 && (static_cast<uint8_t>(text[back]) & 0xC0) == 0x80) --back;
        utf8::Decode(text, back, &len);
        begin = back;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t len = 0;
        const uint32_t cp = utf8::Decode(text, stop, &len);
        if (!utf8::IsWhitespace(cp)) break;
        stop += len;
      }
    }
    if (begin > emitted) segments->push_back({static_cast<uint32_t>(emitted), static_cast<uint32_t>(begin), -1});
    segments->push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(stop), token.id});
    emitted = stop;
    pos = std::max(end, stop);
  }
  if (emitted < text.size()) {
    segments->push_back({static_cast<uint32_t>(emitted), static_cast<uint32_t>(text.size()), -1});
  }
}

}  // namespace fathom
