#include "tokenizer/incremental_detokenizer.h"

#include <gtest/gtest.h>

#include <random>

#include "tokenizer/builtin_vocab.h"
#include "tokenizer/byte_level.h"
#include "core/utf8.h"

namespace fathom {
namespace {

class IncrementalDetokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const BuiltinVocab v = MakeBuiltinVocab(512, false);
    Result<Tokenizer> t = Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tokenizer_ = std::make_unique<Tokenizer>(std::move(t).value());
  }
  std::string Stream(const std::vector<int32_t>& ids, bool skip_special, std::vector<std::string>* chunks) const {
    IncrementalDetokenizer d(tokenizer_.get(), skip_special);
    std::string all;
    for (int32_t id : ids) {
      std::string piece = d.Append(id);
      EXPECT_TRUE(utf8::IsValid(piece));
      EXPECT_EQ(utf8::IncompleteSuffixLength(piece), 0u);
      if (chunks) chunks->push_back(piece);
      all += piece;
    }
    return all + d.Finish();
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(IncrementalDetokenizerTest, HoldsBackASplitCharacter) {
  // Byte tokens of "€" (E2 82 AC) one at a time: nothing until the last.
  const std::string euro = "\xE2\x82\xAC";
  std::vector<int32_t> ids;
  for (char c : euro) {
    const int32_t id = tokenizer_->TokenToId(BytesToByteLevel(std::string(1, c)));
    ASSERT_GE(id, 0);
    ids.push_back(id);
  }
  std::vector<std::string> chunks;
  EXPECT_EQ(Stream(ids, false, &chunks), euro);
  EXPECT_EQ(chunks, (std::vector<std::string>{"", "", euro}));
}

TEST_F(IncrementalDetokenizerTest, RandomIdsConcatenateToOneShotDecode) {
  std::mt19937 rng(1234);
  std::vector<int32_t> byte_ids;  // ids of single high bytes: they split characters
  for (int b = 0x80; b < 0x100; ++b) {
    byte_ids.push_back(tokenizer_->TokenToId(BytesToByteLevel(std::string(1, static_cast<char>(b)))));
  }
  Result<std::vector<int32_t>> text = tokenizer_->Encode("héllo wörld 你好 🙂 <think>", false);
  ASSERT_TRUE(text.ok());
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<int32_t> ids;
    const int n = static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0:
          ids.push_back(static_cast<int32_t>(rng() % tokenizer_->vocab_size()));
          break;
        case 1:
          ids.push_back(byte_ids[rng() % byte_ids.size()]);
          break;
        case 2:
          ids.push_back((*text)[rng() % text->size()]);
          break;
        default:
          ids.push_back(static_cast<int32_t>(rng() % 600) - 50);
          break;  // some out of range
      }
    }
    for (bool skip : {false, true}) {
      ASSERT_EQ(Stream(ids, skip, nullptr), tokenizer_->Decode(ids, skip)) << "trial " << trial;
    }
  }
}

TEST_F(IncrementalDetokenizerTest, RoundTripsEncodedText) {
  const std::string s = "Grüße, 世界! 👨‍👩‍👧 tabs\tand\r\nnewlines";
  Result<std::vector<int32_t>> ids = tokenizer_->Encode(s, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(Stream(*ids, true, nullptr), s);
}

}  // namespace
}  // namespace fathom
