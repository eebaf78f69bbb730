// Where a chat template comes from: tokenizer_config.json (string or named list),
// chat_template.jinja beside it, a GGUF file, a .jinja file; and how special
// tokens reach it.
#include "chat/chat_template.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/mapped_file.h"
#include "formats/gguf_writer.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

class ChatTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fathom_chat_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                                        "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

const json kMessages = json::parse(R"([{"role":"user","content":"hi"}])");

TEST_F(ChatTemplateTest, ConfigWithStringTemplateAndAddedTokens) {
  json config = {{"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                 {"eos_token", "</s>"},
                 {"chat_template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}};
  const std::string path = Write("tokenizer_config.json", config.dump());
  Result<ChatTemplate> t = ChatTemplate::Load(dir_.string());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t->Render(kMessages, false), "<s>hi</s>");
  EXPECT_EQ(*ChatTemplate::Load(path)->Render(kMessages, false), "<s>hi</s>");
}

TEST_F(ChatTemplateTest, NamedTemplatesAndJinjaFileBeside) {
  json config = {{"chat_template", json::array({{{"name", "default"}, {"template", "D{{ tools is none }}"}},
                                                {{"name", "tool_use"}, {"template", "T{{ tools | length }}"}}})}};
  const std::string path = Write("tokenizer_config.json", config.dump());
  EXPECT_EQ(*ChatTemplate::Load(path)->Render(kMessages, false), "DTrue");
  EXPECT_EQ(*ChatTemplate::Load(path, "tool_use")->Render(kMessages, false, json::parse("[1, 2]")), "T2");
  Result<ChatTemplate> missing = ChatTemplate::Load(path, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("default, tool_use"), std::string::npos);
  Write("chat_template.jinja", "from file {{ add_generation_prompt }}\n");
  EXPECT_EQ(*ChatTemplate::Load(dir_.string())->Render(kMessages, true), "from file True");
  EXPECT_EQ(*ChatTemplate::Load((dir_ / "chat_template.jinja").string())->Render(kMessages, false), "from file False");
}

TEST_F(ChatTemplateTest, GgufTemplateAndTokens) {
  GgufWriter w;
  w.Set("tokenizer.chat_template", GgufValue::String("{{ bos_token }}[{{ messages[0].content }}]{{ eos_token }}"));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray({"<unk>", "<bos>", "<eos>"}));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
  const std::string path = (dir_ / "m.gguf").string();
  ASSERT_TRUE(w.Write(path).ok());
  Result<ChatTemplate> t = ChatTemplate::Load(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t->Render(kMessages, false), "<bos>[hi]<eos>");
}

TEST_F(ChatTemplateTest, ErrorsNameTheFile) {
  const std::string path = Write("tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  Result<ChatTemplate> t = ChatTemplate::Load(path);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tokenizer_config.json"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("line 1, column"), std::string::npos) << t.status().message();
  EXPECT_FALSE(ChatTemplate::Load((dir_ / "absent").string()).ok());
  Write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_EQ(ChatTemplate::Load(path).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fathom
