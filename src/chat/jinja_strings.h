// Python str semantics the template language needs: strip, split, title,
// replace, format. Strings are UTF-8; whitespace and code points follow Python,
// case mapping covers ASCII only (non-ASCII letters keep their case).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_value.h"

namespace fathom::jinja {

std::string AsciiUpper(std::string_view s);
std::string AsciiLower(std::string_view s);
// str.title(): upper-cases a letter after a non-letter, lower-cases the rest.
std::string PyTitle(std::string_view s);
// str.capitalize().
std::string PyCapitalize(std::string_view s);
// str.strip(chars); chars == nullptr strips Unicode whitespace.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(sep, maxsplit) / str.rsplit; sep == nullptr splits on whitespace runs.
std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit, bool from_right);
std::vector<std::string> PySplitLines(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string PyReplace(std::string_view s, const std::string& from, const std::string& to, int64_t count);
// str.format with {}, {0} and {name} fields (no format specs).
Result<Value> PyFormat(const std::string& s, const CallArgs& args);
// isdigit/isalpha/isspace/isalnum/isupper/islower on ASCII.
bool PyIsClass(std::string_view s, const std::string& which);
// True if the code point starting at s[i] is Python whitespace; sets *len.
bool IsPyWhitespaceAt(std::string_view s, size_t i, size_t* len);

}  // namespace fathom::jinja
