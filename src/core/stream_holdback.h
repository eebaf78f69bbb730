// How much of a streamed buffer's tail a parser must hold back (STYLE rule 9): the
// longest suffix that could still grow into one of its markers, or into a whole
// UTF-8 character. Everything before that point can be emitted now and will never
// be reinterpreted. The non-obvious rule: only a *proper* prefix of a marker is held;
// a whole marker in the buffer is the caller's to find first.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace fathom {

// Returns the length of the longest suffix of `text` that is a proper, non-empty
// prefix of `marker` (0 if none). REQUIRES: marker is non-empty.
size_t PartialMarkerSuffixLength(std::string_view text, std::string_view marker);

// Returns how many trailing bytes of `text` to hold back: the largest of the
// partial-marker suffixes for `markers` and the incomplete UTF-8 suffix.
size_t StreamHoldbackLength(std::string_view text, std::initializer_list<std::string_view> markers);

}  // namespace fathom
