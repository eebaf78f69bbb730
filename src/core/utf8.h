// UTF-8 helpers shared by the tokenizer, the chat parsers and the template lexer: decoding one code point, the character
// classes HF tokenizers' added-token rules use (Rust's \s and \w), and the lossy
// conversion Rust's String::from_utf8_lossy performs. The non-obvious rule: lossy
// conversion replaces each *maximal invalid subpart* with one U+FFFD (Unicode's
// recommended practice), so "\xE2\x82" becomes one U+FFFD, not two.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fathom::utf8 {

// Decodes the code point starting at text[pos]. Sets *length to its byte length
// (1 for an invalid byte, whose value is then returned as 0xFFFD).
// REQUIRES: pos < text.size().
uint32_t Decode(std::string_view text, size_t pos, size_t* length);

// Decodes the last code point of `text` (0 if empty). Invalid bytes give 0xFFFD.
uint32_t DecodeLast(std::string_view text);

// Appends the UTF-8 encoding of `cp` (surrogates and values past 0x10FFFF become U+FFFD).
void Append(uint32_t cp, std::string* out);

// Returns true iff cp has Unicode's White_Space property (Rust's char::is_whitespace).
bool IsWhitespace(uint32_t cp);
// Returns true iff cp is a word character in the sense of Rust regex's Unicode \w.
bool IsWordChar(uint32_t cp);

// Returns true iff `bytes` is entirely valid UTF-8.
bool IsValid(std::string_view bytes);

// Appends `bytes` to *out, replacing each maximal invalid subpart with U+FFFD.
void AppendLossy(std::string_view bytes, std::string* out);

// Returns the length of the longest suffix of `bytes` that is an incomplete but
// still valid start of a UTF-8 sequence (0..3): the bytes a streaming decoder must
// hold back because the next bytes may complete them.
size_t IncompleteSuffixLength(std::string_view bytes);

}  // namespace fathom::utf8
