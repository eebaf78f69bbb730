// OpenAI response bodies built from the engine's RequestOutputs: the final
// chat.completion / text_completion object, and the chat.completion.chunk /
// text_completion chunks of a stream, with usage and logprobs in OpenAI's shapes.
// Chat text runs through the reasoning split (<think> ... </think> becomes
// reasoning_content) and then the DeepSeek tool-call parser.
//
// The non-obvious rule: the final object is built from the same per-choice
// streaming split the chunks use, so a non-streamed response equals the
// concatenation of the stream's deltas for the same tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/reasoning_parser.h"
#include "chat/tool_call_parser.h"
#include "engine/request.h"
#include "server/openai_request.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

struct ResponseOptions {
  ApiRoute route = ApiRoute::kChatCompletions;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;    // the served name
  int32_t n = 1;
  bool include_reasoning = false;  // chat: split <think> into reasoning_content
  bool parse_tool_calls = false;   // chat: tools given and tool_choice != "none"
  ToolCallFormat tool_format = ToolCallFormat::kV3;
  uint64_t tool_call_id_seed = 0;
  bool include_usage = false;       // stream: a last chunk with usage and no choices
  std::optional<int32_t> logprobs;  // set iff the request asked for logprobs (its top count)
  std::string echo_text;            // completions with echo: prefixed to each choice's text
};

// Returns `prefix` followed by 32 random hex digits.
std::string NewResponseId(std::string_view prefix);

// Returns "data: <payload>\n\n".
std::string SseEvent(const Json& payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// Serializes JSON, replacing invalid UTF-8 (token bytes may split a character)
// with U+FFFD instead of throwing.
std::string DumpJson(const Json& value);

// One per request; not thread-safe. Holds a pointer to the tokenizer (for the
// token strings of logprobs), which must outlive it.
class ResponseBuilder {
 public:
  ResponseBuilder(ResponseOptions options, const Tokenizer* tokenizer);

  // Streaming: the chunk objects `output` adds, in order (a choice's finish_reason
  // comes in its own chunk with an empty delta, after its remaining text).
  std::vector<Json> StreamChunks(const RequestOutput& output);
  // Streaming, after the finished output when include_usage: {"choices": [], "usage"}.
  Json UsageChunk() const;

  // Non-streaming: takes `output` in.
  void Add(const RequestOutput& output);
  // The whole response. REQUIRES: the finished output was added.
  Json FinalResponse() const;

  Json Usage() const;
  bool include_usage() const { return options_.include_usage; }
  // Non-OK iff an output carried an engine error (finish_reason "error").
  const Status& error() const { return error_; }

 private:
  // One choice's split state and, for the final response, what it accumulated.
  struct Choice {
    std::optional<ReasoningParser> reasoning;
    std::optional<ToolCallParser> tools;
    bool is_started = false;  // role chunk (chat) or echo (completions) sent
    std::optional<FinishReason> finish;
    std::string text;  // completions: all text; chat: content
    std::string reasoning_text;
    nlohmann::json tool_calls = nlohmann::json::array();  // complete calls, merged from deltas
    Json logprobs_content = Json::array();                // chat shape entries
    Json completion_logprobs;                             // completions shape, accumulated
    int64_t text_offset = 0;                              // completions: bytes of text before the next token
  };
  // The split of one text delta of a chat choice.
  struct ChatDelta {
    std::string reasoning;
    std::string content;
    std::vector<nlohmann::json> tool_calls;
    bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  };

  Choice& ChoiceAt(int32_t index);
  ChatDelta SplitChat(Choice& choice, std::string_view text, bool at_end);
  // Records the delta into `choice` and returns its chunk choice entries.
  std::vector<Json> ChatChoiceChunks(Choice& choice, const ChoiceDelta& delta);
  std::vector<Json> CompletionChoiceChunks(Choice& choice, const ChoiceDelta& delta);
  Json ChatLogprobs(const std::vector<PositionLogprobs>& logprobs) const;
  Json CompletionLogprobs(const std::vector<PositionLogprobs>& logprobs, int64_t* text_offset) const;
  std::string FinishName(const Choice& choice) const;
  Json ChunkEnvelope(Json choices) const;
  void TakeCounts(const RequestOutput& output);

  ResponseOptions options_;
  const Tokenizer* tokenizer_;
  std::vector<Choice> choices_;  // (options.n)
  int64_t num_prompt_tokens_ = 0;
  int64_t num_cached_tokens_ = 0;
  int64_t num_generated_tokens_ = 0;
  Status error_;
};

}  // namespace fathom
