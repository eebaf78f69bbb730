// Splits Jinja template text into tokens: literal text between tags, tag
// delimiters, and the names, literals and operators inside tags. Whitespace
// control is applied here, the way jinja2's lexer does it with transformers'
// settings (trim_blocks, lstrip_blocks) plus `-`/`+` markers on tags. The
// non-obvious rule: newlines are normalised to "\n" and one trailing newline of
// the template is dropped before anything else (jinja2's keep_trailing_newline=False).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace fathom::jinja {

enum class TokenKind {
  kText,
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the unescaped value
  kInt,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  std::string text;
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Returns the tokens of `source`, ending with kEof, or an error with line:column
// for an unterminated tag, comment or string, or a character that cannot start a token.
Result<std::vector<Token>> Tokenize(std::string_view source, const LexerOptions& options = {});

}  // namespace fathom::jinja
