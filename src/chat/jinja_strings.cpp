#include "chat/jinja_strings.h"

#include <algorithm>

namespace fathom::jinja {
namespace {

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
char ToUpper(char c) { return IsLower(c) ? static_cast<char>(c - 32) : c; }
char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c + 32) : c; }

uint32_t DecodeAt(std::string_view s, size_t i, size_t* len) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
  if (i + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? c : (n == 2 ? c & 0x1f : (n == 3 ? c & 0x0f : c & 0x07));
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  *len = n;
  return cp;
}

}  // namespace

bool IsPyWhitespaceAt(std::string_view s, size_t i, size_t* len) {
  const uint32_t cp = DecodeAt(s, i, len);
  switch (cp) {
    case ' ': case '\t': case '\n': case '\r': case 0x0b: case 0x0c:
    case 0x1c: case 0x1d: case 0x1e: case 0x1f: case 0x85: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToUpper(c);
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLower(c);
  return out;
}

std::string PyTitle(std::string_view s) {
  std::string out(s);
  bool prev_cased = false;
  for (char& c : out) {
    if (IsUpper(c) || IsLower(c)) {
      c = prev_cased ? ToLower(c) : ToUpper(c);
      prev_cased = true;
    } else {
      prev_cased = (static_cast<unsigned char>(c) >= 0x80) && prev_cased;
    }
  }
  return out;
}

std::string PyCapitalize(std::string_view s) {
  std::string out = AsciiLower(s);
  if (!out.empty()) out[0] = ToUpper(out[0]);
  return out;
}

std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::vector<std::string> cps = SplitCodePoints(s);
  std::vector<std::string> set = chars ? SplitCodePoints(*chars) : std::vector<std::string>{};
  auto strip_this = [&](const std::string& cp) {
    if (chars) return std::find(set.begin(), set.end(), cp) != set.end();
    size_t len = 0;
    return IsPyWhitespaceAt(cp, 0, &len);
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_this(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_this(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return out;
}

std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (sep) {
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        const size_t at = s.find(*sep, pos);
        if (at == std::string_view::npos) break;
        out.emplace_back(s.substr(pos, at - pos));
        pos = at + sep->size();
      }
      out.emplace_back(s.substr(pos));
      return out;
    }
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.substr(0, end).rfind(*sep);
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  // Whitespace runs: find words as [start, end) byte ranges.
  std::vector<std::pair<size_t, size_t>> words;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (IsPyWhitespaceAt(s, i, &len)) {
      i += len;
      continue;
    }
    const size_t start = i;
    while (i < s.size() && !IsPyWhitespaceAt(s, i, &len)) i += len;
    words.emplace_back(start, i);
  }
  if (maxsplit < 0 || static_cast<int64_t>(words.size()) <= maxsplit + 0) {
    for (auto [b, e] : words) out.emplace_back(s.substr(b, e - b));
    return out;
  }
  if (!from_right) {
    for (int64_t k = 0; k < maxsplit; ++k) out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
    std::string rest(s.substr(words[maxsplit].first));
    out.push_back(PyStrip(rest, nullptr, false, true));
    return out;
  }
  const size_t n = words.size();
  std::string head(s.substr(0, words[n - maxsplit - 1].second));
  out.push_back(PyStrip(head, nullptr, true, false));
  for (size_t k = n - maxsplit; k < n; ++k) out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
  return out;
}

std::vector<std::string> PySplitLines(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      out.emplace_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string PyReplace(std::string_view s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  if (from.empty()) {
    std::vector<std::string> cps = SplitCodePoints(s);
    int64_t done = 0;
    for (const std::string& cp : cps) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(from, pos);
    if (at == std::string_view::npos) break;
    out.append(s.substr(pos, at - pos));
    out += to;
    pos = at + from.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

Result<Value> PyFormat(const std::string& s, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '}' ) {
      if (i + 1 < s.size() && s[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return InvalidArgument("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t end = s.find('}', i);
    if (end == std::string::npos) return InvalidArgument("Single '{' encountered in format string");
    const std::string field = s.substr(i + 1, end - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) return Unsupported("format specs are not supported");
    const Value* v = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t idx = field.empty() ? auto_index++ : static_cast<size_t>(std::stoul(field.substr(0, 9)));
      if (idx >= args.positional.size()) return InvalidArgument("Replacement index " + std::to_string(idx) + " out of range");
      v = &args.positional[idx];
    } else {
      for (const auto& [k, kv] : args.keyword) {
        if (k == field) v = &kv;
      }
      if (v == nullptr) return InvalidArgument("KeyError: '" + field + "'");
    }
    out += v->Str();
    i = end;
  }
  return Value::String(std::move(out));
}

bool PyIsClass(std::string_view s, const std::string& which) {
  if (s.empty()) return false;
  bool any_cased = false;
  for (char c : s) {
    const bool digit = c >= '0' && c <= '9';
    const bool alpha = IsUpper(c) || IsLower(c);
    if (which == "isdigit" && !digit) return false;
    if (which == "isalpha" && !alpha) return false;
    if (which == "isalnum" && !alpha && !digit) return false;
    if (which == "isspace" && !(c == ' ' || (c >= '\t' && c <= '\r'))) return false;
    if (which == "isupper" && IsLower(c)) return false;
    if (which == "islower" && IsUpper(c)) return false;
    any_cased |= alpha;
  }
  if (which == "isupper" || which == "islower") return any_cased;
  return true;
}

}  // namespace fathom::jinja
