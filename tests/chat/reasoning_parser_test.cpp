#include "chat/reasoning_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "chat_test_util.h"

namespace fathom {
namespace {

using testing::IsValidUtf8;
using testing::RandomChunks;
using testing::RandomText;

// The obviously correct one-shot split the parser must agree with.
ReasoningDelta ModelSplit(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\n\r");
  if (first != std::string_view::npos && text.substr(first).starts_with("<think>")) {
    text.remove_prefix(first + 7);
  }
  size_t close = text.find("</think>");
  if (close == std::string_view::npos) return {std::string(text), ""};
  return {std::string(text.substr(0, close)), std::string(text.substr(close + 8))};
}

struct Collected {
  ReasoningDelta total;
  bool all_deltas_utf8 = true;
};

Collected FeedAll(const std::vector<std::string>& chunks) {
  ReasoningParser parser;
  Collected c;
  auto take = [&](const ReasoningDelta& d) {
    c.all_deltas_utf8 = c.all_deltas_utf8 && IsValidUtf8(d.reasoning) && IsValidUtf8(d.content);
    c.total.reasoning += d.reasoning;
    c.total.content += d.content;
  };
  for (const std::string& chunk : chunks) take(parser.Feed(chunk));
  take(parser.Finish());
  return c;
}

void ExpectSplit(std::string_view text, std::string_view reasoning, std::string_view content) {
  ReasoningDelta d = ReasoningParser::Split(text);
  EXPECT_EQ(d.reasoning, reasoning) << "input: " << text;
  EXPECT_EQ(d.content, content) << "input: " << text;
}

TEST(ReasoningParserTest, Golden) {
  ExpectSplit("<think>\nLet me see.\n</think>\n\nThe answer is 4.", "\nLet me see.\n", "\n\nThe answer is 4.");
  // R1-Distill: the prompt opened <think>, so the output starts inside it.
  ExpectSplit("Let me see.</think>4", "Let me see.", "4");
  ExpectSplit("  \n<think>x</think>y", "x", "y");
  ExpectSplit("</think>only answer", "", "only answer");
  ExpectSplit("a</think>b</think>c", "a", "b</think>c");
  ExpectSplit("a<think>b</think>c", "a<think>b", "c");  // only an opening <think> is dropped
  ExpectSplit("<think><think>b</think>c", "<think>b", "c");
  ExpectSplit("", "", "");
  ExpectSplit("   ", "   ", "");
  ExpectSplit("<thinking>x</think>y", "<thinking>x", "y");
  ExpectSplit("思考中…</think>答え", "思考中…", "答え");
}

TEST(ReasoningParserTest, NoCloseTagIsAllReasoning) {
  ExpectSplit("thinking and then cut off", "thinking and then cut off", "");
  ExpectSplit("<think>cut off mid</thi", "cut off mid</thi", "");
  ExpectSplit("<thi", "<thi", "");
  ExpectSplit(" <think", " <think", "");
}

TEST(ReasoningParserTest, StreamingHoldsBackOnlyAPossibleMarker) {
  ReasoningParser parser;
  ReasoningDelta d = parser.Feed("<think>abc</th");
  EXPECT_EQ(d.reasoning, "abc");
  d = parser.Feed("inkX");  // "</thinkX" is not the marker after all
  EXPECT_EQ(d.reasoning, "</thinkX");
  d = parser.Feed("</think>ans");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "ans");
  EXPECT_TRUE(parser.is_reasoning_done());
  d = parser.Feed("<｜");  // content holds back nothing but a split character
  EXPECT_EQ(d.content, "<｜");
  d = parser.Feed("\xE2\x96");
  EXPECT_EQ(d.content, "");
  d = parser.Feed("\x81");
  EXPECT_EQ(d.content, "▁");
  EXPECT_TRUE(parser.Finish().empty());
}

TEST(ReasoningParserTest, LeadingWhitespaceWaitsForThinkTag) {
  ReasoningParser parser;
  EXPECT_TRUE(parser.Feed("\n ").empty());
  EXPECT_TRUE(parser.Feed("<th").empty());
  ReasoningDelta d = parser.Feed("ink>hi");
  EXPECT_EQ(d.reasoning, "hi");
  ReasoningParser other;
  EXPECT_TRUE(other.Feed("\n").empty());
  EXPECT_EQ(other.Feed("hi").reasoning, "\nhi");
}

TEST(ReasoningParserTest, EveryTwoWaySplitMatchesOneShot) {
  const std::vector<std::string> inputs = {
      "<think>\nreason ｜▁ 𝄞</think>\nanswer",
      "  <think></think>",
      "a</thi</think></think>b",
      "<<think>>x</think>",
      "\xF0\x9F\x98\x80</think>\xE2\x96\x81<think>",
  };
  for (const std::string& text : inputs) {
    ReasoningDelta expected = ModelSplit(text);
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      Collected c = FeedAll({text.substr(0, cut), text.substr(cut)});
      EXPECT_EQ(c.total.reasoning, expected.reasoning) << text << " cut " << cut;
      EXPECT_EQ(c.total.content, expected.content) << text << " cut " << cut;
      EXPECT_TRUE(c.all_deltas_utf8) << text << " cut " << cut;
    }
  }
}

TEST(ReasoningParserTest, RandomChunkingsMatchModel) {
  const std::vector<std::string> pieces = {"<think>", "</think>", "<", "</th", "</", "think>", ">",    "a",
                                           " ",       "\n",       "ü", "｜",   "▁",  "𝄞",      "<thi", "k"};
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text = RandomText(pieces, trial % 14, rng);
    ReasoningDelta expected = ModelSplit(text);
    ReasoningDelta one_shot = ReasoningParser::Split(text);
    ASSERT_EQ(one_shot.reasoning, expected.reasoning) << text;
    ASSERT_EQ(one_shot.content, expected.content) << text;
    Collected c = FeedAll(RandomChunks(text, rng));
    ASSERT_EQ(c.total.reasoning, expected.reasoning) << text;
    ASSERT_EQ(c.total.content, expected.content) << text;
    // The pieces are whole characters, so no delta may carry a split one.
    ASSERT_TRUE(c.all_deltas_utf8) << text;
  }
}

TEST(ReasoningParserTest, ArbitraryBytesNeverLoseOrInventText) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    for (int i = 0; i < trial % 40; ++i) text += static_cast<char>(byte(rng));
    if (trial % 3 == 0) text.insert(text.size() / 2, "</think>");
    ReasoningDelta expected = ModelSplit(text);
    Collected c = FeedAll(RandomChunks(text, rng));
    ASSERT_EQ(c.total.reasoning, expected.reasoning);
    ASSERT_EQ(c.total.content, expected.content);
  }
}

TEST(ReasoningParserDeathTest, FeedAfterFinishIsABug) {
  ReasoningParser parser;
  (void)parser.Finish();
  EXPECT_DEATH((void)parser.Feed("x"), "Feed after Finish");
}

}  // namespace
}  // namespace fathom
