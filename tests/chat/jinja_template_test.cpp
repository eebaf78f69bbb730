// The interpreter feature by feature (fixtures rendered by jinja2), its error
// messages, its limits, and its robustness on random and mutated templates.
#include "chat/jinja_template.h"

#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/default_template.h"
#include "core/mapped_file.h"

namespace fathom::jinja {
namespace {

using json = nlohmann::ordered_json;

Result<std::string> Render(std::string_view source, const json& vars = json::object(), const RenderLimits& limits = {}) {
  FATHOM_ASSIGN_OR_RETURN(JinjaTemplate t, JinjaTemplate::Parse(source));
  ValueDict d;
  for (const auto& [k, v] : vars.items()) d.Set(k, Value::FromJson(v));
  return t.Render(d, limits);
}

TEST(JinjaTemplate, FeaturesMatchJinja2) {
  Result<std::string> text = ReadTextFile(std::string(FATHOM_SOURCE_DIR) + "/tests/fixtures/templates/features.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const json cases = json::parse(*text);
  ASSERT_GT(cases.size(), 30u);
  for (const json& c : cases) {
    const std::string source = c["template"].get<std::string>();
    Result<std::string> got = Render(source, c["vars"]);
    if (c.contains("error")) {
      EXPECT_FALSE(got.ok()) << source << "\n  jinja2: " << c["error"] << "\n  we rendered: " << json(*got).dump();
    } else {
      ASSERT_TRUE(got.ok()) << source << "\n  " << got.status().ToString();
      EXPECT_EQ(*got, c["output"].get<std::string>()) << source;
    }
  }
}

TEST(JinjaTemplate, SyntaxErrorsNameLineAndColumn) {
  struct Case {
    const char* source;
    const char* expect;
  } cases[] = {
      {"hello\n{% if x %}\nno end", "line 3, column 7: unexpected end of template, expected 'elif' or 'else' or 'endif'"},
      {"{{ 1 + }}", "line 1, column 8: unexpected '}}'"},
      {"ab\n  {% frobnicate %}", "line 2, column 6: unknown statement 'frobnicate'"},
      {"{{ 'unterminated }}", "line 1, column 4: unterminated string"},
      {"{# never closed", "line 1, column 1: unterminated comment"},
      {"{{ x", "expected '}}'"},
      {"{% for %}{% endfor %}", "line 1, column 8: expected a name"},
      {"{{ a ; b }}", "line 1, column 6: unexpected character ';'"},
  };
  for (const Case& c : cases) {
    Result<JinjaTemplate> t = JinjaTemplate::Parse(c.source);
    ASSERT_FALSE(t.ok()) << c.source;
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find("syntax error"), std::string::npos) << t.status().message();
  }
}

TEST(JinjaTemplate, RuntimeErrorsAreStatuses) {
  Result<std::string> r = Render("{{ raise_exception('Only user and assistant roles are supported') }}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Only user and assistant roles are supported"), std::string::npos);
  r = Render("line\n  {{ message.content }}", {{"message", nullptr}});
  EXPECT_TRUE(r.ok());  // None.content is undefined, which prints as nothing
  r = Render("line\n  {{ message.content.strip() }}", {{"message", json::object()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("has no attribute 'content'"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Render("{{ [1].append(2) }}").ok());  // the immutable sandbox refuses mutation
  EXPECT_FALSE(Render("{{ 1 // 0 }}").ok());
  EXPECT_FALSE(Render("{{ 9223372036854775807 + 1 }}").ok());
}

TEST(JinjaTemplate, LimitsStopRunawayTemplates) {
  RenderLimits small;
  small.max_steps = 100000;
  small.max_output_bytes = 1 << 16;
  small.max_call_depth = 16;
  Result<std::string> r = Render("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", {}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("steps"), std::string::npos);
  r = Render("{% for i in range(5000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", {}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bytes"), std::string::npos) << r.status().message();
  r = Render("{{ 'x' * 100000000000 }}", {}, small);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  r = Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper"), std::string::npos) << r.status().message();
  std::string deep(5000, '(');
  EXPECT_FALSE(JinjaTemplate::Parse("{{ " + deep + " }}").ok());
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if x %}";
  EXPECT_FALSE(JinjaTemplate::Parse(blocks).ok());
}

// Random templates built from template fragments, plus byte-level mutations of
// the project's own template: every one must parse-or-fail and render-or-fail
// cleanly (the debug preset runs this under ASan and UBSan).
TEST(JinjaTemplate, RandomAndMutatedTemplatesNeverCrash) {
  const char* fragments[] = {"{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " if ", " for ", " in ", " endif ",
                             " endfor ", " set ", " x ", " ns.a ", "=", "(", ")", "[", "]", "{", "}", "'s'", "\"q\"",
                             "1", "-1", "2.5", ",", ":", "|", " trim", " tojson", " is ", " not ", " defined",
                             " and ", " or ", "loop.index", "messages", "[0]", "['content']", ".split('a')", "~",
                             "*", "**", "//", "%", " else ", " elif ", " macro ", " endmacro ", " break ",
                             " continue ", "\n", "  ", "namespace(a=1)", "range(3)", " raw ", " endraw "};
  std::mt19937 rng(42);
  RenderLimits limits;
  limits.max_steps = 20000;
  limits.max_output_bytes = 1 << 14;
  limits.max_call_depth = 8;
  ValueDict vars;
  vars.Set("messages", Value::FromJson(json::parse(R"([{"role":"user","content":"hi a b"},{"role":"assistant","content":null}])")));
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string source;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) source += fragments[rng() % std::size(fragments)];
    Result<JinjaTemplate> t = JinjaTemplate::Parse(source);
    if (!t.ok()) continue;
    ++parsed;
    (void)t->Render(vars, limits);
  }
  EXPECT_GT(parsed, 50);
  const std::string base(kDeepseekTemplate);
  for (int iter = 0; iter < 1500; ++iter) {
    std::string source = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % source.size();
      switch (rng() % 3) {
        case 0: source.erase(at, 1 + rng() % 8); break;
        case 1: source.insert(at, 1, "{}%#-+()[]|'\"\n x"[rng() % 17]); break;
        default: source[at] = static_cast<char>(rng() % 128); break;
      }
      if (source.empty()) source = "x";
    }
    Result<JinjaTemplate> t = JinjaTemplate::Parse(source);
    if (t.ok()) (void)t->Render(vars, limits);
  }
}

}  // namespace
}  // namespace fathom::jinja
