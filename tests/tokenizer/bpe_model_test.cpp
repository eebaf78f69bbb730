#include "tokenizer/bpe_model.h"

#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"

namespace fathom {
namespace {

// A vocabulary of all 256 bytes (ids 0..255, id == byte) plus the given extras.
std::vector<std::pair<std::string, int32_t>> ByteVocab(const std::vector<std::string>& extras) {
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (int b = 0; b < 256; ++b) vocab.emplace_back(BytesToByteLevel(std::string(1, static_cast<char>(b))), b);
  for (size_t i = 0; i < extras.size(); ++i) vocab.emplace_back(extras[i], static_cast<int32_t>(256 + i));
  return vocab;
}

std::vector<int32_t> Tokenize(const BpeModel& m, std::string_view s) {
  std::vector<int32_t> ids;
  m.Tokenize(s, &ids);
  return ids;
}

TEST(BpeModelTest, AppliesLowestRankFirst) {
  // "abc": rank 0 is "b c", so "a" + "bc" even though "a b" is also a merge.
  auto m = BpeModel::Create(ByteVocab({"bc", "ab", "abc"}), {{"b", "c"}, {"a", "b"}, {"a", "bc"}}, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(Tokenize(**m, "abc"), (std::vector<int32_t>{258}));
  EXPECT_EQ(Tokenize(**m, "ab"), (std::vector<int32_t>{257}));
  EXPECT_EQ(Tokenize(**m, "cab"), (std::vector<int32_t>{'c', 257}));
}

TEST(BpeModelTest, EqualRanksMergeLeftmostFirst) {
  // "aaa" with only "a a": the left pair merges, leaving "aa" + "a".
  auto m = BpeModel::Create(ByteVocab({"aa"}), {{"a", "a"}}, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Tokenize(**m, "aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(Tokenize(**m, "aaaa"), (std::vector<int32_t>{256, 256}));
  // Cached words give the same answer the second time.
  EXPECT_EQ(Tokenize(**m, "aaaa"), (std::vector<int32_t>{256, 256}));
}

TEST(BpeModelTest, IgnoreMergesTakesWholeWordsFromTheVocab) {
  // "xyz" is in the vocab but no merge builds it.
  const auto vocab = ByteVocab({"xy", "xyz"});
  auto plain = BpeModel::Create(vocab, {{"x", "y"}}, {});
  auto ignoring = BpeModel::Create(vocab, {{"x", "y"}}, {.ignore_merges = true});
  ASSERT_TRUE(plain.ok() && ignoring.ok());
  EXPECT_EQ(Tokenize(**plain, "xyz"), (std::vector<int32_t>{256, 'z'}));
  EXPECT_EQ(Tokenize(**ignoring, "xyz"), (std::vector<int32_t>{257}));
}

TEST(BpeModelTest, MergesAcceptStringAndPairForms) {
  nlohmann::json model = {{"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", {"a b", {"ab", "c"}}}};
  for (const auto& [text, id] : ByteVocab({"ab", "abc"})) model["vocab"][text] = id;
  auto m = BpeModel::FromJson(model);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(Tokenize(**m, "abc"), (std::vector<int32_t>{257}));
}

TEST(BpeModelTest, SpaceIsTheByteLevelG) {
  auto m = BpeModel::Create(ByteVocab({"Ġa"}), {{"Ġ", "a"}}, {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Tokenize(**m, " a"), (std::vector<int32_t>{256}));
}

TEST(BpeModelTest, RefusesMergesOutsideTheVocab) {
  auto m = BpeModel::Create(ByteVocab({}), {{"a", "b"}}, {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kCorrupt);
}

TEST(BpeModelTest, RefusesUnsupportedOptions) {
  nlohmann::json model = {{"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", nlohmann::json::array()}};
  nlohmann::json dropout = model;
  dropout["dropout"] = 0.1;
  EXPECT_EQ(BpeModel::FromJson(dropout).status().code(), StatusCode::kUnsupported);
  nlohmann::json fallback = model;
  fallback["byte_fallback"] = true;
  EXPECT_EQ(BpeModel::FromJson(fallback).status().code(), StatusCode::kUnsupported);
  nlohmann::json wordpiece = model;
  wordpiece["type"] = "WordPiece";
  EXPECT_NE(BpeModel::FromJson(wordpiece).status().message().find("WordPiece"), std::string::npos);
}

}  // namespace
}  // namespace fathom
