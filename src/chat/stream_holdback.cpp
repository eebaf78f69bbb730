// Tail hold-back arithmetic shared by the streaming chat parsers.
#include "chat/stream_holdback.h"

#include <algorithm>

namespace fathom {

size_t PartialMarkerSuffixLength(std::string_view text, std::string_view marker) {
  size_t longest = std::min(text.size(), marker.size() - 1);
  for (size_t len = longest; len > 0; --len) {
    if (text.substr(text.size() - len) == marker.substr(0, len)) return len;
  }
  return 0;
}

namespace {

// Returns the byte length of the character a lead byte opens, or 0 if `b` cannot
// open a multi-byte character (ASCII, a continuation byte, or never valid).
size_t Utf8SequenceLength(unsigned char b) {
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

}  // namespace

size_t IncompleteUtf8SuffixLength(std::string_view text) {
  // A lead byte at most 3 bytes from the end can still be waiting for its tail.
  size_t scan = std::min<size_t>(text.size(), 3);
  for (size_t back = 1; back <= scan; ++back) {
    auto b = static_cast<unsigned char>(text[text.size() - back]);
    if (IsContinuation(b)) continue;
    size_t need = Utf8SequenceLength(b);
    return need > back ? back : 0;
  }
  return 0;
}

size_t StreamHoldbackLength(std::string_view text, std::initializer_list<std::string_view> markers) {
  size_t hold = IncompleteUtf8SuffixLength(text);
  for (std::string_view marker : markers) hold = std::max(hold, PartialMarkerSuffixLength(text, marker));
  return hold;
}

}  // namespace fathom
