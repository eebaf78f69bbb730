#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>

#include "tokenizer/builtin_vocab.h"

namespace fathom {
namespace {

using nlohmann::json;

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override { vocab_ = MakeBuiltinVocab(512, false); }
  Tokenizer Make(const json& tok, const json& config, SpecialTokenSource source = SpecialTokenSource::kTransformers) {
    Result<Tokenizer> t = Tokenizer::FromJson(tok, config, source);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  }
  BuiltinVocab vocab_;
};

TEST_F(TokenizerTest, ConfigAddBosAddsBos) {
  Tokenizer t = Make(vocab_.tokenizer_json, vocab_.tokenizer_config_json);
  EXPECT_EQ(t.bos_token_id(), 0);
  EXPECT_EQ(t.eos_token_id(), 1);
  EXPECT_EQ((*t.Encode("hi", true))[0], 0);
  std::vector<int32_t> want{0};
  const std::vector<int32_t> plain = *t.Encode("hi", false);
  want.insert(want.end(), plain.begin(), plain.end());
  EXPECT_EQ(*t.Encode("hi", true), want);
  // The raw tokenizers path ignores tokenizer_config.json.
  Tokenizer raw = Make(vocab_.tokenizer_json, vocab_.tokenizer_config_json, SpecialTokenSource::kTokenizerJson);
  EXPECT_EQ(*raw.Encode("hi", true), *raw.Encode("hi", false));
}

TEST_F(TokenizerTest, BosTokenAsPlainStringAndAddEos) {
  json config = vocab_.tokenizer_config_json;
  config["bos_token"] = "<｜begin▁of▁sentence｜>";
  config["add_eos_token"] = true;
  Tokenizer t = Make(vocab_.tokenizer_json, config);
  const std::vector<int32_t> ids = *t.Encode("x", true);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 1);
}

TEST_F(TokenizerTest, TemplateProcessingPostProcessor) {
  json tok = vocab_.tokenizer_json;
  tok["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "B"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", "E"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"B", {{"id", "B"}, {"ids", {0}}}}, {"E", {{"id", "E"}, {"ids", {1}}}}}}};
  Tokenizer t = Make(tok, nullptr);
  EXPECT_EQ(t.prefix_ids(), std::vector<int32_t>{0});
  EXPECT_EQ(t.suffix_ids(), std::vector<int32_t>{1});
}

TEST_F(TokenizerTest, SpecialTokensInTextAndDecodeSkip) {
  Tokenizer t = Make(vocab_.tokenizer_json, vocab_.tokenizer_config_json);
  const std::vector<int32_t> ids = *t.Encode("a<｜end▁of▁sentence｜>b", false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 1), ids.end());
  EXPECT_EQ(t.Decode(ids, false), "a<｜end▁of▁sentence｜>b");
  EXPECT_EQ(t.Decode(ids, true), "ab");
  EXPECT_TRUE(t.IsSpecial(1));
}

TEST_F(TokenizerTest, InvalidUtf8InputIsRepaired) {
  Tokenizer t = Make(vocab_.tokenizer_json, vocab_.tokenizer_config_json);
  Result<std::vector<int32_t>> ids = t.Encode(
      "a\xFF"
      "b",
      false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(t.Decode(*ids, false), "a\uFFFDb");
}

TEST_F(TokenizerTest, UnknownFeaturesAreUnsupported) {
  struct Case {
    const char* key;
    json value;
    const char* named;
  };
  const Case cases[] = {
      {"normalizer", {{"type", "Replace"}}, "Replace"},
      {"pre_tokenizer", {{"type", "Whitespace"}}, "Whitespace"},
      {"post_processor", {{"type", "RobertaProcessing"}}, "RobertaProcessing"},
      {"decoder", {{"type", "WordPiece"}}, "WordPiece"},
      {"truncation", {{"max_length", 8}}, "truncation"},
  };
  for (const Case& c : cases) {
    json tok = vocab_.tokenizer_json;
    tok[c.key] = c.value;
    Result<Tokenizer> t = Tokenizer::FromJson(tok, nullptr);
    ASSERT_FALSE(t.ok()) << c.key;
    EXPECT_EQ(t.status().code(), StatusCode::kUnsupported) << c.key;
    EXPECT_NE(t.status().message().find(c.named), std::string::npos) << t.status().message();
  }
}

TEST_F(TokenizerTest, LoadsDirectoryAndFileAndNamesMissingFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "fathom_tokenizer_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << vocab_.tokenizer_json.dump();
  std::ofstream(dir / "tokenizer_config.json") << vocab_.tokenizer_config_json.dump();
  Result<Tokenizer> from_dir = Tokenizer::Load(dir.string());
  Result<Tokenizer> from_file = Tokenizer::Load((dir / "tokenizer.json").string());
  ASSERT_TRUE(from_dir.ok() && from_file.ok());
  EXPECT_EQ(*from_dir->Encode("same text", true), *from_file->Encode("same text", true));
  Result<Tokenizer> missing = Tokenizer::Load((dir / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_F(TokenizerTest, EncodesFromManyThreadsAtOnce) {
  Tokenizer t = Make(vocab_.tokenizer_json, vocab_.tokenizer_config_json);
  const std::vector<std::string> texts = {"the quick brown fox", "你好，世界", "def f(x):\n    return x * 2\n",
                                          "emoji 👨‍👩‍👧 and <think>tags</think>"};
  std::vector<std::vector<int32_t>> want;
  for (const std::string& s : texts) want.push_back(*t.Encode(s, true));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 500; ++i) {
        const size_t j = static_cast<size_t>(i + k) % texts.size();
        Result<std::vector<int32_t>> ids = t.Encode(texts[j] + std::to_string(i % 7), true);
        Result<std::vector<int32_t>> again = t.Encode(texts[j], true);
        if (!ids.ok() || !again.ok() || *again != want[j]) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace fathom
