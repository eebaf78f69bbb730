// Fuzzes the Jinja interpreter: any bytes are parsed as a template and, if they
// parse, rendered against a small conversation under tight limits. A run must end
// in text or a Status, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/jinja_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  fathom::Result<fathom::jinja::JinjaTemplate> t = fathom::jinja::JinjaTemplate::Parse(text);
  if (!t.ok()) return 0;
  static const fathom::jinja::Value kMessages = fathom::jinja::Value::FromJson(nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"sys"},{"role":"user","content":"hi <think>x</think> y"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]},)"
      R"({"role":"tool","content":"r"}])"));
  fathom::jinja::ValueDict vars;
  vars.Set("messages", kMessages);
  vars.Set("tools", fathom::jinja::Value::None());
  vars.Set("add_generation_prompt", fathom::jinja::Value::Bool(true));
  vars.Set("bos_token", fathom::jinja::Value::String("<s>"));
  fathom::jinja::RenderLimits limits;
  limits.max_steps = 20000;
  limits.max_output_bytes = 1 << 16;
  limits.max_call_depth = 8;
  (void)t->Render(vars, limits);
  return 0;
}
