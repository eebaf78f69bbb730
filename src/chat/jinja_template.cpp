#include "chat/jinja_template.h"

#include "chat/jinja_parser.h"

namespace fathom::jinja {

Result<JinjaTemplate> JinjaTemplate::Parse(std::string_view source) {
  FATHOM_ASSIGN_OR_RETURN(Body body, ParseTemplate(source));
  return JinjaTemplate(std::make_shared<const Body>(std::move(body)));
}

Result<std::string> JinjaTemplate::Render(const ValueDict& variables, const RenderLimits& limits) const {
  ValueDict globals;
  AddGlobals(&globals);
  for (const auto& [k, v] : variables.items()) globals.Set(k, v);
  Interpreter interp(limits);
  return interp.Render(*body_, globals);
}

}  // namespace fathom::jinja
