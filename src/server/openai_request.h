// The JSON bodies of POST /v1/chat/completions and POST /v1/completions, parsed
// and validated into what the engine runs (a GenerationRequest) and how the answer
// is to be shaped (stream, usage, echo, logprobs, tools, reasoning).
//
// The non-obvious rule: every body is hostile. Nothing here throws or trusts a
// type: a wrong type, a non-finite or out-of-range number, an oversized array or
// nesting deeper than kMaxJsonDepth is a 400 naming the field in `param`, before
// any of it reaches the template, the tokenizer or the engine. Unknown fields are
// ignored, as vLLM does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "server/api_error.h"

namespace fathom {

using Json = nlohmann::ordered_json;  // keeps the client's key order (tool schemas reach the template as sent)

inline constexpr int kMaxJsonDepth = 64;
inline constexpr int kMaxStopStrings = 16;
inline constexpr int kMaxMessages = 4096;

enum class ApiRoute {
  kChatCompletions,  // POST /v1/chat/completions
  kCompletions,      // POST /v1/completions
};

// What the server knows that validation needs.
struct RequestLimits {
  std::string served_model_name;           // the only model name accepted (absent "model" means it too)
  int64_t vocab_size = 0;                  // token ids must be below this
  bool default_include_reasoning = false;  // the server's --reasoning mode, resolved
};

struct OpenAiRequest {
  ApiRoute route = ApiRoute::kChatCompletions;
  std::string model;                  // the served name
  GenerationRequest generation;       // prompt_tokens is filled by PromptBuilder
  std::optional<int64_t> max_tokens;  // as asked; unset: the route's default (see PromptBuilder)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;

  // Chat only.
  Json messages = Json::array();   // normalised: roles checked, content a string (or null for assistant)
  Json tools = nullptr;            // null or a non-empty array of {"type": "function", "function": {...}}
  bool parse_tool_calls = false;   // tools given and tool_choice is not "none"
  bool include_reasoning = false;  // split <think> text into reasoning_content
  bool chat_logprobs = false;      // logprobs: true

  // Completions only: exactly one of the two prompt forms is set.
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_token_ids;
  bool echo = false;
};

// Parses `body` into a JSON object. Returns a 400 for malformed JSON, a non-object,
// or nesting deeper than kMaxJsonDepth (checked before parsing, so a hostile body
// cannot exhaust the stack).
ApiError ParseJsonBody(std::string_view body, Json* out);

// Validates and normalises a chat `messages` array into *out (see OpenAiRequest::messages).
ApiError ParseMessages(const Json& messages, Json* out);

// Validates `tools` and `tool_choice` of a parsed body object into out->tools and
// out->parse_tool_calls. /tokenize uses it too, so that no unchecked tool reaches
// the template.
ApiError ParseTools(const Json& body, OpenAiRequest* out);

// Each fills *out from a parsed body object and returns OK, or the first error
// with its param and code (unknown model: 404 "model_not_found").
ApiError ParseChatCompletionRequest(const Json& body, const RequestLimits& limits, OpenAiRequest* out);
ApiError ParseCompletionRequest(const Json& body, const RequestLimits& limits, OpenAiRequest* out);

}  // namespace fathom
