// A parsed Jinja template, ready to render many times. This is the entry point
// to the interpreter: Parse once, Render with a set of variables. Rendering
// follows jinja2 as transformers' apply_chat_template configures it
// (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now,
// tojson without HTML escaping).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "chat/jinja_ast.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_value.h"
#include "core/status.h"

namespace fathom::jinja {

// Immutable after Parse; copies share the tree. Render is const and safe to call
// from several threads at once (each call has its own interpreter).
class JinjaTemplate {
 public:
  // Returns the template, or an InvalidArgument error naming line and column.
  static Result<JinjaTemplate> Parse(std::string_view source);

  // Returns the rendered text. `variables` override the built-in globals.
  // Errors: raise_exception() calls, undefined values used in ways jinja2 refuses,
  // type errors, and ResourceExhausted when `limits` are passed.
  Result<std::string> Render(const ValueDict& variables, const RenderLimits& limits = {}) const;

 private:
  explicit JinjaTemplate(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace fathom::jinja
