#include "chat/tool_call_parser.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "chat_test_util.h"

namespace fathom {
namespace {

using Json = nlohmann::json;
using testing::IsValidUtf8;
using testing::RandomChunks;
using testing::RandomText;

constexpr uint64_t kSeed = 7;
const std::string kCallsBegin(ToolCallParser::kCallsBegin);
const std::string kCallsEnd(ToolCallParser::kCallsEnd);
const std::string kCallBegin(ToolCallParser::kCallBegin);
const std::string kCallEnd(ToolCallParser::kCallEnd);
const std::string kSep(ToolCallParser::kSep);

ToolCallParserOptions V3() { return {.format = ToolCallFormat::kV3, .id_seed = kSeed}; }
ToolCallParserOptions V31() { return {.format = ToolCallFormat::kV31, .id_seed = kSeed}; }

// One call as DeepSeek-V3 / R1 writes it (see deepseek-v3.jinja).
std::string V3Call(std::string_view name, std::string_view args) {
  return kCallBegin + "function" + kSep + std::string(name) + "\n```json\n" + std::string(args) + "\n```" + kCallEnd;
}

// One call as DeepSeek-V3.1 writes it (see deepseek-v3.1.jinja).
std::string V31Call(std::string_view name, std::string_view args) {
  return kCallBegin + std::string(name) + kSep + std::string(args) + kCallEnd;
}

Json ExpectedCall(int index, std::string_view name, std::string_view args) {
  return Json{{"id", ToolCallParser::MakeCallId(kSeed, index)},
              {"type", "function"},
              {"function", {{"name", name}, {"arguments", args}}}};
}

struct Collected {
  ParsedToolCalls total;
  std::vector<Json> deltas;
  bool all_content_utf8 = true;
};

Collected FeedAll(const std::vector<std::string>& chunks, ToolCallParserOptions options) {
  ToolCallParser parser(options);
  Collected c;
  auto take = [&](const ToolCallStreamDelta& d) {
    c.all_content_utf8 = c.all_content_utf8 && IsValidUtf8(d.content);
    c.total.content += d.content;
    for (const Json& delta : d.tool_calls) {
      c.deltas.push_back(delta);
      AppendToolCallDelta(delta, c.total.tool_calls);
    }
  };
  for (const std::string& chunk : chunks) take(parser.Feed(chunk));
  take(parser.Finish());
  return c;
}

void ExpectParse(const std::string& text, ToolCallParserOptions options, std::string_view content, const Json& calls) {
  ParsedToolCalls parsed = ToolCallParser::Parse(text, options);
  EXPECT_EQ(parsed.content, content) << "input: " << text;
  EXPECT_EQ(parsed.tool_calls, calls) << "input: " << text;
}

// The whole text back as content, nothing as calls.
void ExpectPlainText(const std::string& text, ToolCallParserOptions options) {
  ExpectParse(text, options, text, Json::array());
}

TEST(ToolCallParserTest, V3OneCall) {
  std::string text = kCallsBegin + V3Call("get_weather", R"({"city": "Paris"})") + kCallsEnd;
  ExpectParse(text, V3(), "", Json::array({ExpectedCall(0, "get_weather", R"({"city": "Paris"})")}));
}

TEST(ToolCallParserTest, V3SeveralCallsAsTheTemplateJoinsThem) {
  std::string text = kCallsBegin + V3Call("a", R"({"x": 1})") + "\n" + V3Call("b", "{}") + "\n" +
                     V3Call("c", R"({"y": [1, 2]})") + kCallsEnd;
  ExpectParse(text, V3(), "",
              Json::array({ExpectedCall(0, "a", R"({"x": 1})"), ExpectedCall(1, "b", "{}"),
                           ExpectedCall(2, "c", R"({"y": [1, 2]})")}));
}

TEST(ToolCallParserTest, ContentBeforeAndAfterCalls) {
  std::string text = "Let me check.\n\n" + kCallsBegin + V3Call("f", "{}") + kCallsEnd + " Done.";
  ExpectParse(text, V3(), "Let me check.\n\n Done.", Json::array({ExpectedCall(0, "f", "{}")}));
}

TEST(ToolCallParserTest, NestedJsonAndUnicodeArgumentsPassVerbatim) {
  std::string args = R"({"q": {"deep": [1, {"k": "｜▁ é 𝄞"}], "esc": "a\"b\\n"}, "n": null})";
  ExpectParse(kCallsBegin + V3Call("search", args) + kCallsEnd, V3(), "",
              Json::array({ExpectedCall(0, "search", args)}));
  ExpectParse(kCallsBegin + V31Call("search", args) + kCallsEnd, V31(), "",
              Json::array({ExpectedCall(0, "search", args)}));
}

TEST(ToolCallParserTest, EmptyArguments) {
  ExpectParse(kCallsBegin + V3Call("now", "{}") + kCallsEnd, V3(), "", Json::array({ExpectedCall(0, "now", "{}")}));
  ExpectParse(kCallsBegin + V31Call("now", "{}") + kCallsEnd, V31(), "", Json::array({ExpectedCall(0, "now", "{}")}));
  // No arguments at all reads as an empty object.
  ExpectParse(kCallsBegin + V31Call("now", "") + kCallsEnd, V31(), "", Json::array({ExpectedCall(0, "now", "{}")}));
}

TEST(ToolCallParserTest, V31Calls) {
  std::string text = "Sure." + kCallsBegin + V31Call("get_weather", R"({"city": "東京"})") +
                     V31Call("get_time", R"({"tz": "JST"})") + kCallsEnd;
  ExpectParse(text, V31(), "Sure.",
              Json::array({ExpectedCall(0, "get_weather", R"({"city": "東京"})"),
                           ExpectedCall(1, "get_time", R"({"tz": "JST"})")}));
}

TEST(ToolCallParserTest, MissingCallsEndKeepsTheCalls) {
  ExpectParse(kCallsBegin + V31Call("f", "{}") + "\n", V31(), "", Json::array({ExpectedCall(0, "f", "{}")}));
}

TEST(ToolCallParserTest, StreamingDeltasFollowOpenAiShape) {
  ToolCallParser parser(V31());
  ToolCallStreamDelta d = parser.Feed("Hi " + kCallsBegin + kCallBegin + "f" + kSep + R"({"a":)");
  EXPECT_EQ(d.content, "Hi ");
  EXPECT_TRUE(d.tool_calls.empty());  // a call is held until its end marker
  d = parser.Feed(R"( 1})" + kCallEnd + kCallBegin + "g" + kSep + "{}" + kCallEnd);
  ASSERT_EQ(d.tool_calls.size(), 4u);
  EXPECT_EQ(d.tool_calls[0], (Json{{"index", 0},
                                   {"id", ToolCallParser::MakeCallId(kSeed, 0)},
                                   {"type", "function"},
                                   {"function", {{"name", "f"}, {"arguments", ""}}}}));
  EXPECT_EQ(d.tool_calls[1], (Json{{"index", 0}, {"function", {{"arguments", R"({"a": 1})"}}}}));
  EXPECT_EQ(d.tool_calls[2]["index"], 1);
  EXPECT_EQ(d.tool_calls[2]["function"]["name"], "g");
  EXPECT_EQ(d.tool_calls[3], (Json{{"index", 1}, {"function", {{"arguments", "{}"}}}}));
  EXPECT_EQ(parser.num_tool_calls(), 2);
  d = parser.Feed(kCallsEnd);
  EXPECT_TRUE(d.empty());
  EXPECT_TRUE(parser.Finish().empty());
}

TEST(ToolCallParserTest, ContentHoldsBackOnlyAPossibleMarker) {
  ToolCallParser parser(V3());
  EXPECT_EQ(parser.Feed("a < b <｜tool").content, "a < b ");
  EXPECT_EQ(parser.Feed("box｜>").content, "<｜toolbox｜>");
  EXPECT_EQ(parser.Feed("x\xEF\xBD").content, "x");  // half of ｜
  EXPECT_EQ(parser.Feed("\x9C").content, "｜");
  EXPECT_EQ(parser.Finish().content, "");
}

TEST(ToolCallParserTest, MalformedCallsAreText) {
  // Missing separator.
  ExpectPlainText(kCallsBegin + kCallBegin + "f{}" + kCallEnd + kCallsEnd, V31());
  ExpectPlainText(kCallsBegin + kCallBegin + "function f\n```json\n{}\n```" + kCallEnd + kCallsEnd, V3());
  // Unterminated call, and unterminated block with nothing in it.
  ExpectPlainText("x" + kCallsBegin + kCallBegin + "function" + kSep + "f\n```json\n{\"a\":", V3());
  ExpectPlainText("x" + kCallsBegin + "\n", V3());
  // Arguments that are not a JSON object.
  ExpectPlainText(kCallsBegin + V3Call("f", "{\"a\": }") + kCallsEnd, V3());
  ExpectPlainText(kCallsBegin + V3Call("f", "[1, 2]") + kCallsEnd, V3());
  ExpectPlainText(kCallsBegin + V31Call("f", "not json") + kCallsEnd, V31());
  // V3 body shape: wrong type, no name line, no fences.
  ExpectPlainText(kCallsBegin + kCallBegin + "tool" + kSep + "f\n```json\n{}\n```" + kCallEnd + kCallsEnd, V3());
  ExpectPlainText(kCallsBegin + kCallBegin + "function" + kSep + "f```json{}```" + kCallEnd + kCallsEnd, V3());
  ExpectPlainText(kCallsBegin + kCallBegin + "function" + kSep + "f\n{}" + kCallEnd + kCallsEnd, V3());
  ExpectPlainText(kCallsBegin + kCallBegin + "function" + kSep + "\n```json\n{}\n```" + kCallEnd, V3());
  // The V3 form read as V3.1 is not a V3.1 call.
  ExpectPlainText(kCallsBegin + V3Call("f", "{}") + kCallsEnd, V31());
  // Markers out of order.
  ExpectPlainText(kCallsBegin + kCallEnd + kCallsEnd, V31());
  ExpectPlainText(kCallsBegin + kCallBegin + "f" + kSep + "{}" + kCallsEnd, V31());
  ExpectPlainText(kCallsBegin + kCallBegin + "f" + kSep + "{}" + kCallBegin + "g" + kSep + "{}" + kCallEnd, V31());
  ExpectPlainText(kCallBegin + "f" + kSep + "{}" + kCallEnd, V31());  // no block
  ExpectPlainText(kCallsBegin + "oops" + V31Call("f", "{}") + kCallsEnd, V31());
  ExpectPlainText(kCallsBegin + kCallsEnd, V31());  // an empty block
}

TEST(ToolCallParserTest, GoodCallsBeforeABadOneStayCalls) {
  std::string bad = V31Call("g", "{oops");
  std::string text = kCallsBegin + V31Call("f", "{}") + bad + V31Call("h", "{}") + kCallsEnd;
  ExpectParse(text, V31(), bad + V31Call("h", "{}") + kCallsEnd, Json::array({ExpectedCall(0, "f", "{}")}));
  std::string stray = "\nand then" + kCallsEnd;
  ExpectParse(kCallsBegin + V31Call("f", "{}") + stray, V31(), stray, Json::array({ExpectedCall(0, "f", "{}")}));
}

TEST(ToolCallParserTest, AMalformedBlockDoesNotHideALaterOne) {
  std::string bad = kCallsBegin + kCallBegin + "f" + kCallEnd;  // no separator
  std::string text = bad + "retry " + kCallsBegin + V31Call("f", "{}") + kCallsEnd;
  ExpectParse(text, V31(), bad + "retry ", Json::array({ExpectedCall(0, "f", "{}")}));
  // A block begin inside a call ends the call as text and opens a new block.
  std::string cut = kCallsBegin + kCallBegin + "f" + kSep + "{";
  ExpectParse(cut + kCallsBegin + V31Call("g", "{}"), V31(), cut, Json::array({ExpectedCall(0, "g", "{}")}));
}

std::vector<std::string> GoldenTexts() {
  return {
      "Let me check.\n\n" + kCallsBegin + V3Call("get_weather", R"({"city": "Zürich ｜▁"})") + "\n" +
          V3Call("b", "{}") + kCallsEnd,
      "前置き" + kCallsBegin + V31Call("search", R"({"q": {"a": [1, "𝄞"]}})") + V31Call("x", "{}") + kCallsEnd + "後",
      kCallsBegin + kCallBegin + "f" + kSep + "{}" + kCallsBegin + V31Call("g", "{}") + kCallsEnd,
      "a<｜tool▁calls▁begin" + kCallsBegin + "oops",
  };
}

TEST(ToolCallParserTest, EveryTwoWaySplitMatchesOneShot) {
  for (ToolCallParserOptions options : {V3(), V31()}) {
    for (const std::string& text : GoldenTexts()) {
      ParsedToolCalls expected = ToolCallParser::Parse(text, options);
      for (size_t cut = 0; cut <= text.size(); ++cut) {
        Collected c = FeedAll({text.substr(0, cut), text.substr(cut)}, options);
        ASSERT_EQ(c.total.content, expected.content) << text << " cut " << cut;
        ASSERT_EQ(c.total.tool_calls, expected.tool_calls) << text << " cut " << cut;
        ASSERT_TRUE(c.all_content_utf8) << text << " cut " << cut;
      }
    }
  }
}

TEST(ToolCallParserTest, ByteByByteMatchesOneShot) {
  for (ToolCallParserOptions options : {V3(), V31()}) {
    for (const std::string& text : GoldenTexts()) {
      std::vector<std::string> bytes;
      for (char c : text) bytes.emplace_back(1, c);
      ParsedToolCalls expected = ToolCallParser::Parse(text, options);
      Collected c = FeedAll(bytes, options);
      EXPECT_EQ(c.total.content, expected.content);
      EXPECT_EQ(c.total.tool_calls, expected.tool_calls);
      EXPECT_TRUE(c.all_content_utf8);
    }
  }
}

TEST(ToolCallParserTest, RandomMarkupAnyChunkingMatchesOneShot) {
  const std::vector<std::string> pieces = {
      kCallsBegin, kCallsEnd, kCallBegin, kCallEnd,       kSep, "function", "f",  "\n",
      "```json\n", "\n```",   "{}",       R"({"a": 1})",  "{",  "ü",        "｜", "▁",
      " ",         "x",       "<｜tool▁", "<｜tool▁call", "<",  "```"};
  std::mt19937 rng(42);
  for (int trial = 0; trial < 4000; ++trial) {
    ToolCallParserOptions options = trial % 2 ? V3() : V31();
    std::string text = RandomText(pieces, trial % 16, rng);
    ParsedToolCalls expected = ToolCallParser::Parse(text, options);
    Collected c = FeedAll(RandomChunks(text, rng), options);
    ASSERT_EQ(c.total.content, expected.content) << text;
    ASSERT_EQ(c.total.tool_calls, expected.tool_calls) << text;
    ASSERT_TRUE(c.all_content_utf8) << text;
  }
}

// Model-based: well-formed random conversations parse back to what built them.
TEST(ToolCallParserTest, GeneratedWellFormedCallsRoundTrip) {
  const std::vector<std::string> names = {"f", "get_weather", "search_web", "a.b-c"};
  const std::vector<std::string> args = {"{}", R"({"a": 1})", R"({"s": "｜▁<｜tool▁sep｜>"})",
                                         R"({"nested": {"l": [true, null, 1.5e3]}})", R"({"u": "\u00e9 🙂"})"};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    bool v3 = trial % 2 == 0;
    std::string prefix = trial % 3 ? "Calling tools ü:\n" : "";
    std::string text = prefix + kCallsBegin;
    Json expected = Json::array();
    int num_calls = 1 + trial % 4;
    for (int i = 0; i < num_calls; ++i) {
      const std::string& name = names[rng() % names.size()];
      const std::string& arg = args[rng() % args.size()];
      if (i > 0 && v3) text += "\n";
      text += v3 ? V3Call(name, arg) : V31Call(name, arg);
      expected.push_back(ExpectedCall(i, name, arg));
    }
    text += kCallsEnd;
    Collected c = FeedAll(RandomChunks(text, rng), v3 ? V3() : V31());
    ASSERT_EQ(c.total.content, prefix) << text;
    ASSERT_EQ(c.total.tool_calls, expected) << text;
    ASSERT_EQ(c.deltas.size(), 2u * num_calls);
  }
}

TEST(ToolCallParserTest, CallIdsAreDeterministic) {
  std::string id = ToolCallParser::MakeCallId(1, 0);
  EXPECT_EQ(id, ToolCallParser::MakeCallId(1, 0));
  EXPECT_NE(id, ToolCallParser::MakeCallId(1, 1));
  EXPECT_NE(id, ToolCallParser::MakeCallId(2, 0));
  ASSERT_EQ(id.size(), 5u + 24u);
  EXPECT_TRUE(id.starts_with("call_"));
  for (char c : id.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
}

std::string ReadSharedTemplate(const std::string& name) {
  std::ifstream in(std::string(FATHOM_SHARED_DIR) + "/models/templates/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ToolCallParserTest, DetectsFormatFromTemplate) {
  std::string v3 = ReadSharedTemplate("deepseek-v3.jinja");
  std::string v31 = ReadSharedTemplate("deepseek-v3.1.jinja");
  std::string r1 = ReadSharedTemplate("deepseek-r1-distill.jinja");
  if (v3.empty() || v31.empty() || r1.empty()) GTEST_SKIP() << "shared templates not found";
  EXPECT_EQ(DetectToolCallFormat(v3), ToolCallFormat::kV3);
  EXPECT_EQ(DetectToolCallFormat(r1), ToolCallFormat::kV3);
  EXPECT_EQ(DetectToolCallFormat(v31), ToolCallFormat::kV31);
  EXPECT_EQ(DetectToolCallFormat(""), ToolCallFormat::kV31);
}

}  // namespace
}  // namespace fathom
