// Renders every fixture conversation with every template and compares the prompt
// byte for byte with what jinja2 produced the way transformers calls it
// (tools/gen_template_fixtures.py). Templates that raised in jinja2 must fail here.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/default_template.h"
#include "core/mapped_file.h"

namespace fathom {
namespace {

using json = nlohmann::ordered_json;

json LoadFixture(const std::string& name) {
  Result<std::string> text = ReadTextFile(std::string(FATHOM_SOURCE_DIR) + "/tests/fixtures/templates/" + name);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? json::parse(*text) : json();
}

std::string FirstDifference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  return "at byte " + std::to_string(i) + "\n  want: ..." + json(want.substr(from, 120)).dump() + "\n  got:  ..." +
         json(got.substr(from, 120)).dump();
}

class TemplateConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TemplateConformance, MatchesJinja2) {
  const json expected = LoadFixture("expected.json");
  const json cases = LoadFixture("conversations.json");
  const json* entry = nullptr;
  for (const json& t : expected["templates"]) {
    if (t["name"] == GetParam()) entry = &t;
  }
  ASSERT_NE(entry, nullptr) << GetParam();
  std::string source;
  if (entry->contains("shared_path")) {
    const std::string path = std::string(FATHOM_SHARED_DIR) + "/" + (*entry)["shared_path"].get<std::string>();
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
    Result<std::string> text = ReadTextFile(path);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    source = *text;
  } else {
    source = (*entry)["constant"] == "kDeepseekTemplate" ? std::string(kDeepseekTemplate)
                                                          : std::string(kDeepseekThinkingTemplate);
    ASSERT_EQ(source, (*entry)["template"].get<std::string>()) << "fixtures are stale: rerun tools/gen_template_fixtures.py";
  }
  const json& tokens = (*entry)["tokens"];
  std::optional<std::string> bos, eos;
  if (tokens.contains("bos_token")) bos = tokens["bos_token"].get<std::string>();
  if (tokens.contains("eos_token")) eos = tokens["eos_token"].get<std::string>();
  Result<ChatTemplate> tmpl = ChatTemplate::FromString(source, bos, eos);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();

  const json& results = (*entry)["results"];
  ASSERT_EQ(results.size(), cases.size());
  int mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    std::vector<std::pair<std::string, json>> extra;
    if (c.contains("vars")) {
      for (const auto& [k, v] : c["vars"].items()) extra.emplace_back(k, v);
    }
    const json tools = c.contains("tools") ? c["tools"] : json(nullptr);
    Result<std::string> got = tmpl->Render(c["messages"], c["add_generation_prompt"].get<bool>(), tools, extra);
    const json& want = results[i];
    if (want.contains("error")) {
      if (got.ok()) {
        ++mismatches;
        ADD_FAILURE() << GetParam() << " case " << i << ": jinja2 raised " << want["error"] << " but we rendered "
                      << json(*got).dump();
      }
      continue;
    }
    if (!got.ok()) {
      ++mismatches;
      ADD_FAILURE() << GetParam() << " case " << i << ": " << got.status().ToString();
      continue;
    }
    const std::string w = want["output"].get<std::string>();
    if (*got != w) {
      ++mismatches;
      ADD_FAILURE() << GetParam() << " case " << i << ": " << FirstDifference(w, *got);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " cases";
}

INSTANTIATE_TEST_SUITE_P(AllTemplates, TemplateConformance,
                         ::testing::Values("deepseek-r1-distill", "deepseek-v3", "deepseek-v3.1", "qwen3", "llama3.1",
                                           "own-deepseek", "own-deepseek-thinking"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace fathom
