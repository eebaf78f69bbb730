#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "core/utf8.h"

namespace fathom {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, 324> codepoint_to_byte;  // -1: not in the alphabet; max code point is 323
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.codepoint_to_byte.fill(-1);
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = ByteToCodepoint(static_cast<uint8_t>(b));
      utf8::Append(cp, &t.byte_to_text[b]);
      t.codepoint_to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t b) {
  // Printable bytes map to themselves; the rest go to 256 + their rank.
  auto printable = [](int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE); };
  if (printable(b)) return b;
  uint32_t rank = 0;
  for (int c = 0; c < b; ++c) rank += printable(c) ? 0 : 1;
  return 256 + rank;
}

std::string BytesToByteLevel(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.byte_to_text[static_cast<uint8_t>(c)];
  return out;
}

std::optional<std::string> ByteLevelToBytes(std::string_view text) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 0;
    const uint32_t cp = utf8::Decode(text, pos, &len);
    if (len == 1 && static_cast<uint8_t>(text[pos]) >= 0x80) return std::nullopt;
    if (cp >= t.codepoint_to_byte.size() || t.codepoint_to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.codepoint_to_byte[cp]));
    pos += len;
  }
  return out;
}

std::string DecodeByteLevelToken(std::string_view token) {
  std::optional<std::string> bytes = ByteLevelToBytes(token);
  return bytes ? *std::move(bytes) : std::string(token);
}

}  // namespace fathom
