// Chat templates fathom writes into the tokenizers it makes (`fathom synth`). They
// produce DeepSeek's conversation format: BOS, the system prompt, then
// <｜User｜>... <｜Assistant｜>...<｜end▁of▁sentence｜> turns, DeepSeek's tool-call
// and tool-output markers, and a generation prompt. Reasoning (text up to
// </think>) is dropped from earlier assistant turns, as the R1 models expect.
// The thinking variant opens "<think>\n" after the generation prompt, as the
// R1-Distill models do.
#pragma once

#include <string_view>

namespace fathom {

#define FATHOM_DEEPSEEK_TEMPLATE_BODY(GEN_PROMPT)                                                          \
  "{%- set ns = namespace(system='', in_tool=false, first_output=true) -%}"                               \
  "{%- for m in messages -%}"                                                                              \
  "{%- if m['role'] == 'system' -%}"                                                                      \
  "{%- if ns.system -%}{%- set ns.system = ns.system + '\\n\\n' -%}{%- endif -%}"                         \
  "{%- set ns.system = ns.system + m['content'] -%}"                                                       \
  "{%- endif -%}"                                                                                          \
  "{%- endfor -%}"                                                                                         \
  "{{- bos_token + ns.system -}}"                                                                          \
  "{%- for m in messages -%}"                                                                              \
  "{%- if m['role'] == 'user' -%}"                                                                        \
  "{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- set ns.in_tool = false -%}{%- endif -%}"      \
  "{{- '<｜User｜>' + m['content'] -}}"                                                                     \
  "{%- elif m['role'] == 'assistant' -%}"                                                                 \
  "{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- set ns.in_tool = false -%}"                   \
  "{%- else -%}{{- '<｜Assistant｜>' -}}{%- endif -%}"                                                       \
  "{%- set content = m['content'] if m['content'] is not none else '' -%}"                                \
  "{%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}"      \
  "{{- content -}}"                                                                                        \
  "{%- if m['tool_calls'] is defined and m['tool_calls'] -%}"                                             \
  "{{- '<｜tool▁calls▁begin｜>' -}}"                                                                          \
  "{%- for call in m['tool_calls'] -%}"                                                                   \
  "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"                                                   \
  "{{- '<｜tool▁call▁begin｜>' + call['type'] + '<｜tool▁sep｜>' + call['function']['name'] + '\\n```json\\n'" \
  " + call['function']['arguments'] + '\\n```<｜tool▁call▁end｜>' -}}"                                     \
  "{%- endfor -%}"                                                                                         \
  "{{- '<｜tool▁calls▁end｜>' -}}"                                                                            \
  "{%- endif -%}"                                                                                          \
  "{{- '<｜end▁of▁sentence｜>' -}}"                                                                          \
  "{%- set ns.first_output = true -%}"                                                                     \
  "{%- elif m['role'] == 'tool' -%}"                                                                      \
  "{%- if ns.first_output -%}{{- '<｜tool▁outputs▁begin｜>' -}}{%- else -%}{{- '\\n' -}}{%- endif -%}"     \
  "{{- '<｜tool▁output▁begin｜>' + m['content'] + '<｜tool▁output▁end｜>' -}}"                               \
  "{%- set ns.in_tool = true -%}{%- set ns.first_output = false -%}"                                      \
  "{%- endif -%}"                                                                                          \
  "{%- endfor -%}"                                                                                         \
  "{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- endif -%}"                                      \
  "{%- if add_generation_prompt -%}{{- '" GEN_PROMPT "' -}}{%- endif -%}"

inline constexpr std::string_view kDeepseekTemplate = FATHOM_DEEPSEEK_TEMPLATE_BODY("<｜Assistant｜>");
inline constexpr std::string_view kDeepseekThinkingTemplate =
    FATHOM_DEEPSEEK_TEMPLATE_BODY("<｜Assistant｜><think>\\n");

#undef FATHOM_DEEPSEEK_TEMPLATE_BODY

}  // namespace fathom
