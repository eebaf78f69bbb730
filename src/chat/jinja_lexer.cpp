#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cstdint>

#include "core/utf8.h"

namespace fathom::jinja {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}


class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options) : src_(std::move(source)), options_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Result<std::vector<Token>> Run() {
    size_t pos = 0;
    bool strip_next_text = false;
    bool line_starting = true;
    while (pos <= src_.size()) {
      size_t start = FindTagStart(pos);
      std::string text = src_.substr(pos, start - pos);
      const size_t text_pos = pos;
      if (strip_next_text) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
      }
      if (start >= src_.size()) {
        Emit(TokenKind::kText, text, text_pos);
        break;
      }
      const char kind = src_[start + 1];
      const char marker = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (marker == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (kind != '{' && options_.lstrip_blocks && marker != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l = nl == std::string::npos ? 0 : nl + 1;
        if ((l > 0 || line_starting) && l < text.size() &&
            std::all_of(text.begin() + static_cast<std::ptrdiff_t>(l), text.end(),
                        [](char c) { return IsSpace(c) && c != '\n'; })) {
          text.erase(l);
        }
      }
      Emit(TokenKind::kText, text, text_pos);
      size_t p = start + 2 + ((marker == '-' || marker == '+') ? 1 : 0);
      bool strip_after = false;
      bool keep_newline = false;
      if (kind == '#') {
        const size_t end = src_.find("#}", p);
        if (end == std::string::npos) return Error(start, "unterminated comment");
        strip_after = end > p && src_[end - 1] == '-';
        keep_newline = end > p && src_[end - 1] == '+';
        p = end + 2;
      } else {
        const bool is_var = kind == '{';
        Emit(is_var ? TokenKind::kVarBegin : TokenKind::kBlockBegin, "", start);
        Result<size_t> end = LexTag(p, is_var, &strip_after, &keep_newline);
        if (!end.ok()) return end.status();
        p = *end;
        Emit(is_var ? TokenKind::kVarEnd : TokenKind::kBlockEnd, "", p - 2);
        if (is_var) keep_newline = true;
        if (!is_var && IsRawBlock()) {
          Result<size_t> after = LexRaw(p, &strip_after);
          if (!after.ok()) return after.status();
          p = *after;
        }
      }
      line_starting = false;
      if (strip_after) {
        size_t q = p;
        while (q < src_.size() && IsSpace(src_[q])) ++q;
        line_starting = q > p && src_[q - 1] == '\n';
      } else if (!keep_newline && options_.trim_blocks && p < src_.size() && src_[p] == '\n') {
        ++p;
        line_starting = true;
      }
      strip_next_text = strip_after;
      pos = p;
    }
    Emit(TokenKind::kEof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    for (size_t i = pos; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  void Emit(TokenKind kind, std::string text, size_t offset) {
    if (kind == TokenKind::kText && text.empty()) return;
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    t.line = static_cast<int>(line);
    t.column = static_cast<int>(offset - line_starts_[line - 1]) + 1;
    tokens_.push_back(std::move(t));
  }

  Status Error(size_t offset, const std::string& what) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    const size_t column = offset - line_starts_[line - 1] + 1;
    return InvalidArgument("template syntax error at line " + std::to_string(line) + ", column " +
                           std::to_string(column) + ": " + what);
  }

  // True if the tokens just emitted are `{% raw %}`.
  bool IsRawBlock() const {
    const size_t n = tokens_.size();
    return n >= 3 && tokens_[n - 1].kind == TokenKind::kBlockEnd && tokens_[n - 2].kind == TokenKind::kName &&
           tokens_[n - 2].text == "raw" && tokens_[n - 3].kind == TokenKind::kBlockBegin;
  }

  // Consumes raw text up to {% endraw %}; replaces the raw tag tokens with text.
  Result<size_t> LexRaw(size_t p, bool* strip_after) {
    const size_t raw_offset = p;
    tokens_.resize(tokens_.size() - 3);
    for (size_t i = p; i + 1 < src_.size(); ++i) {
      if (src_[i] != '{' || src_[i + 1] != '%') continue;
      size_t q = i + 2;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      bool strip = false;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) {
        strip = src_[q] == '-';
        ++q;
      }
      if (src_.compare(q, 2, "%}") != 0) continue;
      std::string body = src_.substr(p, i - p);
      if (src_[i + 2] == '-') {
        while (!body.empty() && IsSpace(body.back())) body.pop_back();
      }
      Emit(TokenKind::kText, body, raw_offset);
      *strip_after = strip;
      return q + 2;
    }
    return Error(raw_offset, "missing {% endraw %}");
  }

  Result<size_t> LexTag(size_t p, bool is_var, bool* strip_after, bool* keep_newline) {
    int depth = 0;
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) return Error(p, is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (depth == 0) {
        const char* closer = is_var ? "}}" : "%}";
        if (src_.compare(p, 2, closer) == 0) return p + 2;
        if ((src_[p] == '-' || (!is_var && src_[p] == '+')) && src_.compare(p + 1, 2, closer) == 0) {
          *strip_after = src_[p] == '-';
          *keep_newline = src_[p] == '+';
          return p + 3;
        }
      }
      const char c = src_[p];
      const size_t tok_start = p;
      if (IsAlpha(c)) {
        while (p < src_.size() && (IsAlpha(src_[p]) || IsDigit(src_[p]))) ++p;
        Emit(TokenKind::kName, src_.substr(tok_start, p - tok_start), tok_start);
      } else if (IsDigit(c)) {
        bool is_float = false;
        while (p < src_.size() && (IsDigit(src_[p]) || src_[p] == '_')) ++p;
        if (p + 1 < src_.size() && src_[p] == '.' && IsDigit(src_[p + 1])) {
          is_float = true;
          ++p;
          while (p < src_.size() && (IsDigit(src_[p]) || src_[p] == '_')) ++p;
        }
        if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
          size_t q = p + 1;
          if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
          if (q < src_.size() && IsDigit(src_[q])) {
            is_float = true;
            p = q;
            while (p < src_.size() && IsDigit(src_[p])) ++p;
          }
        }
        std::string digits;
        for (size_t i = tok_start; i < p; ++i) {
          if (src_[i] != '_') digits += src_[i];
        }
        Emit(is_float ? TokenKind::kFloat : TokenKind::kInt, digits, tok_start);
      } else if (c == '\'' || c == '"') {
        Result<size_t> end = LexString(p);
        if (!end.ok()) return end.status();
        p = *end;
      } else {
        static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* two : kTwo) {
          if (src_.compare(p, 2, two) == 0) op = two;
        }
        if (op.empty()) {
          if (std::string_view("+-*/%~<>=.,:|()[]{}").find(c) == std::string_view::npos) {
            return Error(p, std::string("unexpected character '") + c + "'");
          }
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        p += op.size();
        Emit(TokenKind::kOperator, op, tok_start);
      }
    }
  }

  Result<size_t> LexString(size_t p) {
    const char quote = src_[p];
    const size_t start = p++;
    std::string value;
    while (true) {
      if (p >= src_.size()) return Error(start, "unterminated string");
      const char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) return Error(start, "unterminated string");
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const int h = p < src_.size() ? HexDigit(src_[p]) : -1;
            if (h < 0) return Error(p, "truncated \\" + std::string(1, e) + " escape in string");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (cp > 0x10FFFF) return Error(p, "escape out of range in string");
          utf8::Append(cp, &value);
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    Emit(TokenKind::kString, value, start);
    return p + 1;
  }

  std::string src_;
  LexerOptions options_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

std::string Normalize(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(Normalize(source), options).Run();
}

}  // namespace fathom::jinja
