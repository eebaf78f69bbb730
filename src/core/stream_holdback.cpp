// Tail hold-back arithmetic shared by the streaming chat parsers.
#include "core/stream_holdback.h"

#include <algorithm>

#include "core/utf8.h"

namespace fathom {

size_t PartialMarkerSuffixLength(std::string_view text, std::string_view marker) {
  size_t longest = std::min(text.size(), marker.size() - 1);
  for (size_t len = longest; len > 0; --len) {
    if (text.substr(text.size() - len) == marker.substr(0, len)) return len;
  }
  return 0;
}

size_t StreamHoldbackLength(std::string_view text, std::initializer_list<std::string_view> markers) {
  size_t hold = utf8::IncompleteSuffixLength(text);
  for (std::string_view marker : markers) hold = std::max(hold, PartialMarkerSuffixLength(text, marker));
  return hold;
}

}  // namespace fathom
