#include "core/utf8.h"

#include <utf8proc.h>

namespace fathom::utf8 {
namespace {

// Returns the length of the valid sequence starting at bytes[pos], or 0 if the
// bytes there are not a complete valid sequence. Sets *valid_prefix to how many
// bytes form a valid (possibly incomplete) prefix.
size_t ValidSequenceLength(std::string_view bytes, size_t pos, size_t* valid_prefix) {
  const auto b0 = static_cast<uint8_t>(bytes[pos]);
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 < 0x80) {
    *valid_prefix = 1;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *valid_prefix = 0;
    return 0;
  }
  size_t i = 1;
  for (; i < need && pos + i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[pos + i]);
    const uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  *valid_prefix = i;
  return i == need ? need : 0;
}

}  // namespace

uint32_t Decode(std::string_view text, size_t pos, size_t* length) {
  size_t prefix = 0;
  const size_t n = ValidSequenceLength(text, pos, &prefix);
  if (n == 0) {
    *length = 1;
    return 0xFFFD;
  }
  *length = n;
  const auto b0 = static_cast<uint8_t>(text[pos]);
  if (n == 1) return b0;
  uint32_t cp = b0 & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  return cp;
}

uint32_t DecodeLast(std::string_view text) {
  if (text.empty()) return 0;
  size_t start = text.size() - 1;
  while (start > 0 && text.size() - start < 4 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  size_t len = 0;
  const uint32_t cp = Decode(text, start, &len);
  return start + len == text.size() ? cp : 0xFFFD;
}

void Append(uint32_t cp, std::string* out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsWordChar(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return true;  // Join_Control
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool IsValid(std::string_view bytes) {
  for (size_t pos = 0; pos < bytes.size();) {
    size_t prefix = 0;
    const size_t n = ValidSequenceLength(bytes, pos, &prefix);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

void AppendLossy(std::string_view bytes, std::string* out) {
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t prefix = 0;
    const size_t n = ValidSequenceLength(bytes, pos, &prefix);
    if (n != 0) {
      pos += n;
      continue;
    }
    out->append(bytes.substr(run_start, pos - run_start));
    out->append("\xEF\xBF\xBD");
    pos += prefix == 0 ? 1 : prefix;
    run_start = pos;
  }
  out->append(bytes.substr(run_start));
}

size_t IncompleteSuffixLength(std::string_view bytes) {
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t pos = n - back;
    const auto b = static_cast<uint8_t>(bytes[pos]);
    if ((b & 0xC0) == 0x80) continue;
    if (b < 0xC0) return 0;
    size_t prefix = 0;
    const size_t len = ValidSequenceLength(bytes, pos, &prefix);
    return (len == 0 && prefix == back) ? back : 0;
  }
  return 0;
}

}  // namespace fathom::utf8
