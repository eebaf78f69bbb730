// Builds the syntax tree of a Jinja template from its tokens, following jinja2's
// grammar and operator precedence (filters and tests bind tighter than `not`,
// `~` sits between + - and * /). The non-obvious rule: nesting is bounded
// (kMaxNestingDepth) so hostile input cannot exhaust the stack while parsing.
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"
#include "core/status.h"

namespace fathom::jinja {

inline constexpr int kMaxNestingDepth = 200;

// Returns the statements of `source`, or an error naming line and column.
Result<Body> ParseTemplate(std::string_view source, const LexerOptions& options = {});

}  // namespace fathom::jinja
