// Fuzzes the streaming chat parsers (ReasoningParser, ToolCallParser in both
// formats): any bytes fed in any chunking must give exactly what one-shot parsing
// gives, never lose or invent text, and never split a character the input kept whole.
//
// Input layout: byte 0 = id seed; byte 1 = n, the count of chunk-length bytes
// (mod 16); the next n bytes = chunk lengths, used cyclically (0 = empty chunk);
// the rest = the text.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "../tests/chat/chat_test_util.h"
#include "chat/reasoning_parser.h"
#include "chat/tool_call_parser.h"

namespace {

using fathom::testing::IsValidUtf8;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string_view> Chunk(std::string_view text, std::string_view lengths) {
  std::vector<std::string_view> chunks;
  size_t pos = 0;
  for (size_t i = 0; pos < text.size(); ++i) {
    size_t len = lengths.empty() ? text.size() : static_cast<unsigned char>(lengths[i % lengths.size()]);
    if (i > 4 * text.size() + 16) len = text.size();  // all-zero lengths must still end
    len = std::min(len, text.size() - pos);
    chunks.push_back(text.substr(pos, len));
    pos += len;
  }
  return chunks;
}

void CheckReasoning(std::string_view text, const std::vector<std::string_view>& chunks, bool is_utf8) {
  fathom::ReasoningDelta one_shot = fathom::ReasoningParser::Split(text);
  fathom::ReasoningParser parser;
  fathom::ReasoningDelta total;
  auto take = [&](const fathom::ReasoningDelta& d) {
    if (is_utf8) Require(IsValidUtf8(d.reasoning) && IsValidUtf8(d.content));
    total.reasoning += d.reasoning;
    total.content += d.content;
  };
  for (std::string_view chunk : chunks) take(parser.Feed(chunk));
  take(parser.Finish());
  Require(total.reasoning == one_shot.reasoning && total.content == one_shot.content);
  // Nothing but the markers (and whitespace before an opening tag) disappears.
  Require(total.reasoning.size() + total.content.size() <= text.size());
  Require(text.find("</think>") != std::string_view::npos || total.content.empty());
}

void CheckToolCalls(std::string_view text, const std::vector<std::string_view>& chunks, bool is_utf8,
                    fathom::ToolCallParserOptions options) {
  fathom::ParsedToolCalls one_shot = fathom::ToolCallParser::Parse(text, options);
  fathom::ToolCallParser parser(options);
  fathom::ParsedToolCalls total;
  auto take = [&](const fathom::ToolCallStreamDelta& d) {
    if (is_utf8) Require(IsValidUtf8(d.content));
    total.content += d.content;
    for (const nlohmann::json& delta : d.tool_calls) fathom::AppendToolCallDelta(delta, total.tool_calls);
  };
  for (std::string_view chunk : chunks) take(parser.Feed(chunk));
  take(parser.Finish());
  Require(total.content == one_shot.content && total.tool_calls == one_shot.tool_calls);
  Require(static_cast<size_t>(parser.num_tool_calls()) == total.tool_calls.size());
  // With no call found, the text comes back untouched.
  if (total.tool_calls.empty()) Require(total.content == text);
  for (const nlohmann::json& call : total.tool_calls) {
    const std::string& args = call["function"]["arguments"].get_ref<const std::string&>();
    nlohmann::json parsed = nlohmann::json::parse(args, nullptr, /*allow_exceptions=*/false);
    Require(!parsed.is_discarded() && parsed.is_object());
    Require(!call["function"]["name"].get_ref<const std::string&>().empty());
    if (is_utf8) Require(IsValidUtf8(args) && IsValidUtf8(call["function"]["name"].get<std::string>()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t seed = data[0];
  size_t num_lengths = std::min<size_t>(data[1] % 16, size - 2);
  std::string_view lengths = input.substr(2, num_lengths);
  std::string_view text = input.substr(2 + num_lengths);
  std::vector<std::string_view> chunks = Chunk(text, lengths);
  // Deltas can only be held to whole characters if the chunks are whole characters.
  bool is_utf8 = IsValidUtf8(text);
  CheckReasoning(text, chunks, is_utf8);
  CheckToolCalls(text, chunks, is_utf8, {.format = fathom::ToolCallFormat::kV3, .id_seed = seed});
  CheckToolCalls(text, chunks, is_utf8, {.format = fathom::ToolCallFormat::kV31, .id_seed = seed});
  return 0;
}
