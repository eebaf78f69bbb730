#include "server/prompt_builder.h"

#include <gtest/gtest.h>

#include "tokenizer/builtin_vocab.h"

namespace fathom {
namespace {

struct Fixture {
  Tokenizer tokenizer;
  ChatTemplate tmpl;
};

const Fixture& F() {
  static const Fixture* f = [] {
    const BuiltinVocab v = MakeBuiltinVocab(512, true);
    Tokenizer tok = std::move(Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json).value());
    auto content = [](const nlohmann::json& t) {  // "<tok>" or {"content": "<tok>", ...}
      return t.is_string() ? t.get<std::string>() : t.at("content").get<std::string>();
    };
    const nlohmann::json& cfg = v.tokenizer_config_json;
    ChatTemplate t = ChatTemplate::FromString(cfg["chat_template"].get<std::string>(), content(cfg["bos_token"]),
                                              content(cfg["eos_token"]))
                         .value();
    return new Fixture{std::move(tok), std::move(t)};
  }();
  return *f;
}

OpenAiRequest ChatRequest(std::optional<int64_t> max_tokens) {
  OpenAiRequest r;
  r.route = ApiRoute::kChatCompletions;
  r.messages = Json::parse(R"([{"role": "user", "content": "How deep is the sea?"}])");
  r.max_tokens = max_tokens;
  return r;
}

TEST(PromptBuilderTest, ChatRendersWithGenerationPromptAndNoExtraSpecialTokens) {
  PromptBuilder b(&F().tokenizer, F().tmpl, 256);
  OpenAiRequest r = ChatRequest(std::nullopt);
  std::string text;
  ASSERT_TRUE(b.Build(&r, &text).ok());
  const std::string want = F().tmpl.Render(r.messages, true).value();
  EXPECT_EQ(text, want);
  EXPECT_NE(text.find("<think>\n"), std::string::npos);
  EXPECT_EQ(r.generation.prompt_tokens, F().tokenizer.Encode(want, false).value());
  // Chat's default max_tokens is what the context leaves.
  EXPECT_EQ(r.generation.max_tokens, 256 - static_cast<int64_t>(r.generation.prompt_tokens.size()));
}

TEST(PromptBuilderTest, MaxTokensIsClampedToTheContextLeft) {
  PromptBuilder b(&F().tokenizer, F().tmpl, 256);
  OpenAiRequest small = ChatRequest(5);
  std::string text;
  ASSERT_TRUE(b.Build(&small, &text).ok());
  EXPECT_EQ(small.generation.max_tokens, 5);
  OpenAiRequest big = ChatRequest(100000);
  ASSERT_TRUE(b.Build(&big, &text).ok());
  EXPECT_EQ(big.generation.max_tokens, 256 - static_cast<int64_t>(big.generation.prompt_tokens.size()));
}

TEST(PromptBuilderTest, CompletionAddsSpecialTokensAndDefaultsTo16) {
  PromptBuilder b(&F().tokenizer, std::nullopt, 256);
  OpenAiRequest r;
  r.route = ApiRoute::kCompletions;
  r.prompt_text = "deep sea";
  std::string text;
  ASSERT_TRUE(b.Build(&r, &text).ok());
  EXPECT_EQ(text, "deep sea");
  EXPECT_EQ(r.generation.prompt_tokens, F().tokenizer.Encode("deep sea", true).value());
  EXPECT_EQ(r.generation.max_tokens, kDefaultCompletionMaxTokens);

  OpenAiRequest ids;
  ids.route = ApiRoute::kCompletions;
  ids.prompt_token_ids = F().tokenizer.Encode("deep sea", false).value();
  ASSERT_TRUE(b.Build(&ids, &text).ok());
  EXPECT_EQ(text, "deep sea");
  EXPECT_EQ(ids.generation.prompt_tokens, ids.prompt_token_ids);
}

TEST(PromptBuilderTest, FullContextIsContextLengthExceeded) {
  PromptBuilder b(&F().tokenizer, std::nullopt, 8);
  OpenAiRequest r;
  r.route = ApiRoute::kCompletions;
  r.prompt_token_ids = std::vector<int32_t>(8, 5);
  std::string text;
  ApiError e = b.Build(&r, &text);
  EXPECT_EQ(e.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.code, "context_length_exceeded");
  EXPECT_EQ(e.param, "prompt");
  EXPECT_EQ(ToHttpError(e).http_status, 400);

  r.prompt_token_ids.pop_back();
  r.max_tokens = 100;
  ASSERT_TRUE(b.Build(&r, &text).ok());
  EXPECT_EQ(r.generation.max_tokens, 1);
}

TEST(PromptBuilderTest, ChatWithoutTemplateIs400) {
  PromptBuilder b(&F().tokenizer, std::nullopt, 256);
  OpenAiRequest r = ChatRequest(std::nullopt);
  std::string text;
  ApiError e = b.Build(&r, &text);
  EXPECT_EQ(ToHttpError(e).http_status, 400);
  EXPECT_EQ(e.param, "messages");
}

TEST(PromptBuilderTest, TemplateErrorsAre400) {
  ChatTemplate t = ChatTemplate::FromString("{{ raise_exception('no') }}", std::nullopt, std::nullopt).value();
  PromptBuilder b(&F().tokenizer, t, 256);
  OpenAiRequest r = ChatRequest(std::nullopt);
  std::string text;
  ApiError e = b.Build(&r, &text);
  EXPECT_EQ(ToHttpError(e).http_status, 400);
  EXPECT_EQ(e.param, "messages");
}

}  // namespace
}  // namespace fathom
