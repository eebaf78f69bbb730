// The GPT-2 byte-level alphabet: every byte is written as one printable code point
// (ByteToCodepoint below), so a BPE vocabulary over those code points
// covers every byte string. Vocab and merge strings are stored in that alphabet;
// the engine works on raw bytes and converts at load time only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fathom {

// The GPT-2 byte-to-unicode table: byte b is written as code point
// ByteToCodepoint(b).
uint32_t ByteToCodepoint(uint8_t b);

// Returns `bytes` written in the byte-level alphabet.
std::string BytesToByteLevel(std::string_view bytes);

// Returns the bytes a byte-level string stands for, or nullopt if some code point
// of `text` is not in the alphabet (an added token such as "<｜begin▁of▁sentence｜>").
std::optional<std::string> ByteLevelToBytes(std::string_view text);

// Returns the bytes the ByteLevel decoder produces for one token string: its
// byte-level meaning, or, when some code point is outside the alphabet, the
// token's own UTF-8 (as Hugging Face's ByteLevel decoder does).
std::string DecodeByteLevelToken(std::string_view token);

}  // namespace fathom
