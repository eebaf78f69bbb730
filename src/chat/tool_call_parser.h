// Turns DeepSeek tool-call markup in generated text into OpenAI `tool_calls`,
// one streamed delta at a time. Two wire forms share the markers:
//   V3 / R1:  <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n
//             ```json\nARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   V3.1:     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS
//             <｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
// Text outside a calls block is content (before it, and after its end marker).
//
// The non-obvious rule: a call is held whole until its `<｜tool▁call▁end｜>`, because
// until then it could still turn out malformed and become plain text; deltas once
// emitted are never taken back. Malformed markup (no separator, no end, arguments
// that are not a JSON object, a marker out of order, stray text between calls)
// ends tool-call parsing of that block: its raw text from the first bad call on,
// markers included, is content. Calls before it stay calls. A block that yields no
// call at all is content in full. Nothing throws.
//
// Concatenated deltas are the same for every chunking of the same input, and equal
// Parse() of the whole text; streaming holds back only what could still be a marker
// (or a call in progress) and an incomplete UTF-8 character.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace fathom {

enum class ToolCallFormat {
  kV3,   // DeepSeek-V3 and R1: type, separator, name, fenced ```json arguments
  kV31,  // DeepSeek-V3.1: name, separator, bare JSON arguments
};

// Returns kV3 iff `chat_template` writes the V3 form (it contains both the
// `<｜tool▁sep｜>` marker and a "```json" fence); kV31 otherwise.
ToolCallFormat DetectToolCallFormat(std::string_view chat_template);

struct ToolCallParserOptions {
  ToolCallFormat format = ToolCallFormat::kV3;
  uint64_t id_seed = 0;  // call ids are a pure function of this and the call index
};

// What one step adds: content text, then OpenAI streaming tool-call deltas. A
// call's first delta is {"index", "id", "type": "function", "function": {"name",
// "arguments": ""}}; later ones are {"index", "function": {"arguments": MORE}}.
struct ToolCallStreamDelta {
  std::string content;
  std::vector<nlohmann::json> tool_calls;

  bool empty() const { return content.empty() && tool_calls.empty(); }
};

// The final message: content and a JSON array of complete OpenAI tool calls
// {"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}.
struct ParsedToolCalls {
  std::string content;
  nlohmann::json tool_calls = nlohmann::json::array();
};

// One parser per generated sequence. Thread-compatible; copyable.
// Invariant: emitted deltas describe only calls whose end marker has been seen and
// whose body parsed; call indices count up from 0 without gaps.
class ToolCallParser {
 public:
  static constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
  static constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
  static constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
  static constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
  static constexpr std::string_view kSep = "<｜tool▁sep｜>";

  explicit ToolCallParser(ToolCallParserOptions options) : options_(options) {}

  // Returns what `text` completes. REQUIRES: Finish() not called yet.
  ToolCallStreamDelta Feed(std::string_view text);

  // Returns everything still held back, as if the output ended here: an
  // unterminated call becomes content. REQUIRES: called once, after the last Feed().
  ToolCallStreamDelta Finish();

  // Returns the number of calls emitted so far.
  int num_tool_calls() const { return num_tool_calls_; }

  // One-shot parse; equal to Feed(text) and Finish() with deltas merged.
  static ParsedToolCalls Parse(std::string_view text, ToolCallParserOptions options);

  // Returns "call_" and 24 alphanumerics derived from (seed, index) alone.
  static std::string MakeCallId(uint64_t seed, int index);

 private:
  enum class State {
    kContent,  // outside a calls block, looking for kCallsBegin
    kBlock,    // inside a block, between calls
    kCall,     // inside a call, collecting its body up to kCallEnd
  };

  // Each returns true iff it changed state, so Drain should run again.
  bool DrainContent(bool at_end, ToolCallStreamDelta& out);
  bool DrainBlock(bool at_end, ToolCallStreamDelta& out);
  bool DrainCall(bool at_end, ToolCallStreamDelta& out);
  void Drain(bool at_end, ToolCallStreamDelta& out);

  // Emits the block's uncommitted raw text plus `raw_tail` as content and leaves
  // the block: the fallback for every kind of malformed markup.
  void AbandonBlock(std::string_view raw_tail, ToolCallStreamDelta& out);

  ToolCallParserOptions options_;
  State state_ = State::kContent;
  std::string pending_;    // bytes fed but not yet consumed
  std::string block_raw_;  // raw block text since the last emitted call (or the block's start)
  bool block_has_calls_ = false;
  size_t call_scan_from_ = 0;  // kCall: pending_ before this offset holds no marker start
  int num_tool_calls_ = 0;
  bool is_finished_ = false;
};

// Merges one streaming delta (as ToolCallStreamDelta::tool_calls holds) into
// `tool_calls`, a JSON array of complete calls indexed by "index".
// REQUIRES: deltas arrive in the order a ToolCallParser emits them.
void AppendToolCallDelta(const nlohmann::json& delta, nlohmann::json& tool_calls);

}  // namespace fathom
