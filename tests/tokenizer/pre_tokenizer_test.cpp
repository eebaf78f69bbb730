#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

using nlohmann::json;

std::vector<std::string> Pieces(const PreTokenizer& p, std::string text) {
  std::vector<PreTokenizer::Piece> pieces;
  const auto size = static_cast<uint32_t>(text.size());
  EXPECT_TRUE(p.Split(&text, {0, size}, &pieces).ok());
  std::vector<std::string> out;
  for (const auto& piece : pieces) out.push_back(text.substr(piece.begin, piece.end - piece.begin));
  return out;
}

PreTokenizer SplitThenByteLevel(const std::string& regex, const std::string& behavior, bool invert = false) {
  json j = {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", behavior}, {"invert", invert}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  Result<PreTokenizer> p = PreTokenizer::FromJson(j);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

TEST(PreTokenizerTest, SplitBehaviors) {
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "Isolated"), "a-b--c"),
            (std::vector<std::string>{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "Removed"), "a-b--c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "MergedWithPrevious"), "a-b--c"),
            (std::vector<std::string>{"a-", "b-", "-", "c"}));
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "MergedWithNext"), "a-b--c"),
            (std::vector<std::string>{"a", "-b", "-", "-c"}));
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "Contiguous"), "a-b--c"),
            (std::vector<std::string>{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(Pieces(SplitThenByteLevel("-", "Isolated", /*invert=*/true), "a-b"),
            (std::vector<std::string>{"a", "-", "b"}));
}

TEST(PreTokenizerTest, LookaheadAndUnicodeClasses) {
  const PreTokenizer p = SplitThenByteLevel("\\s+(?!\\S)|\\s+|\\p{L}+|\\p{N}{1,3}", "Isolated");
  EXPECT_EQ(Pieces(p, "héllo   wörld 12345"),
            (std::vector<std::string>{"héllo", "  ", " ", "wörld", " ", "123", "45"}));
}

TEST(PreTokenizerTest, WhitespaceMeansUnicodeWhiteSpace) {
  // U+0085 is White_Space (Oniguruma's \s); U+180E no longer is.
  const PreTokenizer p = SplitThenByteLevel("\\s+", "Isolated");
  EXPECT_EQ(Pieces(p, "a\u0085b\u180ec"), (std::vector<std::string>{"a", "\u0085", "b\u180ec"}));
}

TEST(PreTokenizerTest, ByteLevelWithGpt2RegexAndPrefixSpace) {
  Result<PreTokenizer> p =
      PreTokenizer::FromJson({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Pieces(*p, "Hello world's 42!"), (std::vector<std::string>{" Hello", " world", "'s", " 42", "!"}));
}

TEST(PreTokenizerTest, UnknownTypesAreUnsupported) {
  Result<PreTokenizer> p = PreTokenizer::FromJson({{"type", "Metaspace"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("Metaspace"), std::string::npos);
  Result<PreTokenizer> no_byte_level = PreTokenizer::FromJson(
      {{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Isolated"}, {"invert", false}});
  EXPECT_EQ(no_byte_level.status().code(), StatusCode::kUnsupported);
  Result<PreTokenizer> bad_regex = PreTokenizer::FromRegexes({"(unclosed"});
  EXPECT_EQ(bad_regex.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace fathom
