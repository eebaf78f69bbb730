// Helpers shared by the chat parser tests: random chunkings and a UTF-8 validator.
#pragma once

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::testing {

// Returns true iff `s` is well-formed UTF-8 (no overlongs, surrogates or >U+10FFFF).
inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80                   ? 1
                 : (b >= 0xC2 && b <= 0xDF) ? 2
                 : (b >= 0xE0 && b <= 0xEF) ? 3
                 : (b >= 0xF0 && b <= 0xF4) ? 4
                                            : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    auto b1 = static_cast<unsigned char>(len > 1 ? s[i + 1] : 0);
    if (b == 0xE0 && b1 < 0xA0) return false;
    if (b == 0xED && b1 >= 0xA0) return false;
    if (b == 0xF0 && b1 < 0x90) return false;
    if (b == 0xF4 && b1 >= 0x90) return false;
    i += len;
  }
  return true;
}

// Splits `text` into random chunks (some empty); byte-level, so characters may split.
inline std::vector<std::string> RandomChunks(std::string_view text, std::mt19937& rng) {
  std::vector<std::string> chunks;
  size_t pos = 0;
  std::uniform_int_distribution<int> len_dist(0, 12);
  while (pos < text.size()) {
    size_t len = std::min<size_t>(len_dist(rng), text.size() - pos);
    chunks.emplace_back(text.substr(pos, len));
    pos += len;
  }
  return chunks;
}

// Returns a string of `num_pieces` pieces drawn from `pieces`.
inline std::string RandomText(const std::vector<std::string>& pieces, int num_pieces, std::mt19937& rng) {
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::string text;
  for (int i = 0; i < num_pieces; ++i) text += pieces[pick(rng)];
  return text;
}

}  // namespace fathom::testing
