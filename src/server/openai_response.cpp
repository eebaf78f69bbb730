#include "server/openai_response.h"

#include <algorithm>
#include <random>

#include "core/utf8.h"

namespace fathom {
namespace {

// JSON has no -inf; vLLM reports a token the model rules out as -9999.
double WireLogprob(float lp) { return std::max(static_cast<double>(lp), -9999.0); }

Json ByteArray(const std::string& bytes) {
  Json out = Json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

std::string NewResponseId(std::string_view prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (int i = 0; i < 2; ++i) {
    uint64_t bits = rng();
    for (int j = 0; j < 16; ++j, bits >>= 4) id.push_back(kHex[bits & 15]);
  }
  return id;
}

std::string DumpJson(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string SseEvent(const Json& payload) { return "data: " + DumpJson(payload) + "\n\n"; }

ResponseBuilder::ResponseBuilder(ResponseOptions options, const Tokenizer* tokenizer)
    : options_(std::move(options)), tokenizer_(tokenizer) {
  choices_.resize(static_cast<size_t>(std::max<int32_t>(options_.n, 1)));
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& c = choices_[i];
    if (options_.route != ApiRoute::kChatCompletions) continue;
    if (options_.include_reasoning) c.reasoning.emplace();
    if (options_.parse_tool_calls) {
      // Each choice numbers its calls from 0; a distinct seed keeps their ids apart.
      c.tools.emplace(ToolCallParserOptions{.format = options_.tool_format,
                                            .id_seed = options_.tool_call_id_seed + 0x9E3779B97F4A7C15ull * i});
    }
  }
}

ResponseBuilder::Choice& ResponseBuilder::ChoiceAt(int32_t index) {
  if (index < 0 || static_cast<size_t>(index) >= choices_.size()) {
    choices_.resize(static_cast<size_t>(std::max(index, 0)) + 1);  // tolerate, never index out of range
  }
  return choices_[static_cast<size_t>(std::max(index, 0))];
}

void ResponseBuilder::TakeCounts(const RequestOutput& output) {
  num_prompt_tokens_ = std::max(num_prompt_tokens_, output.num_prompt_tokens);
  num_cached_tokens_ = std::max(num_cached_tokens_, output.num_cached_tokens);
  num_generated_tokens_ = std::max(num_generated_tokens_, output.num_generated_tokens);
  if (!output.error.ok() && error_.ok()) error_ = output.error;
}

ResponseBuilder::ChatDelta ResponseBuilder::SplitChat(Choice& choice, std::string_view text, bool at_end) {
  ChatDelta out;
  std::string content;
  if (choice.reasoning) {
    ReasoningDelta r = choice.reasoning->Feed(text);
    if (at_end) {
      ReasoningDelta rest = choice.reasoning->Finish();
      r.reasoning += rest.reasoning;
      r.content += rest.content;
    }
    out.reasoning = std::move(r.reasoning);
    content = std::move(r.content);
  } else {
    content = std::string(text);
  }
  if (choice.tools) {
    ToolCallStreamDelta t = choice.tools->Feed(content);
    if (at_end) {
      ToolCallStreamDelta rest = choice.tools->Finish();
      t.content += rest.content;
      for (nlohmann::json& call : rest.tool_calls) t.tool_calls.push_back(std::move(call));
    }
    out.content = std::move(t.content);
    out.tool_calls = std::move(t.tool_calls);
  } else {
    out.content = std::move(content);
  }
  return out;
}

Json ResponseBuilder::ChatLogprobs(const std::vector<PositionLogprobs>& logprobs) const {
  auto entry = [&](const TokenLogprob& t) {
    const std::string& bytes = tokenizer_->TokenBytes(t.token);
    std::string token;
    utf8::AppendLossy(bytes, &token);
    return Json{{"token", token}, {"logprob", WireLogprob(t.logprob)}, {"bytes", ByteArray(bytes)}};
  };
  Json content = Json::array();
  for (const PositionLogprobs& p : logprobs) {
    Json e = entry(p.sampled);
    Json top = Json::array();
    for (const TokenLogprob& t : p.top) top.push_back(entry(t));
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return Json{{"content", std::move(content)}};
}

Json ResponseBuilder::CompletionLogprobs(const std::vector<PositionLogprobs>& logprobs, int64_t* text_offset) const {
  Json out = {{"tokens", Json::array()},
              {"token_logprobs", Json::array()},
              {"top_logprobs", Json::array()},
              {"text_offset", Json::array()}};
  auto token_text = [&](int32_t id) {
    std::string s;
    utf8::AppendLossy(tokenizer_->TokenBytes(id), &s);
    return s;
  };
  for (const PositionLogprobs& p : logprobs) {
    const std::string text = token_text(p.sampled.token);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(WireLogprob(p.sampled.logprob));
    Json top = Json::object();
    for (const TokenLogprob& t : p.top) top[token_text(t.token)] = WireLogprob(t.logprob);
    if (!top.contains(text)) top[text] = WireLogprob(p.sampled.logprob);
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(*text_offset);
    *text_offset += static_cast<int64_t>(text.size());
  }
  return out;
}

std::string ResponseBuilder::FinishName(const Choice& choice) const {
  if (!choice.finish) return "";
  if (*choice.finish == FinishReason::kStop && !choice.tool_calls.empty()) return "tool_calls";
  return FinishReasonName(*choice.finish);
}

std::vector<Json> ResponseBuilder::ChatChoiceChunks(Choice& choice, const ChoiceDelta& delta) {
  std::vector<Json> out;
  if (!choice.is_started) {
    out.push_back({{"index", delta.index},
                   {"delta", {{"role", "assistant"}, {"content", ""}}},
                   {"logprobs", nullptr},
                   {"finish_reason", nullptr}});
    choice.is_started = true;
  }
  const bool at_end = delta.finish_reason.has_value();
  ChatDelta d = SplitChat(choice, delta.text, at_end);
  choice.reasoning_text += d.reasoning;
  choice.text += d.content;
  for (const nlohmann::json& call : d.tool_calls) AppendToolCallDelta(call, choice.tool_calls);
  Json logprobs = nullptr;
  if (options_.logprobs && !delta.logprobs.empty()) {
    logprobs = ChatLogprobs(delta.logprobs);
    for (const Json& e : logprobs["content"]) choice.logprobs_content.push_back(e);
  }
  if (!d.empty() || !logprobs.is_null()) {
    Json dj = Json::object();
    if (!d.reasoning.empty()) dj["reasoning_content"] = d.reasoning;
    if (!d.content.empty() || (d.reasoning.empty() && d.tool_calls.empty())) dj["content"] = d.content;
    if (!d.tool_calls.empty()) {
      Json calls = Json::array();
      for (const nlohmann::json& call : d.tool_calls) calls.push_back(Json(call));
      dj["tool_calls"] = std::move(calls);
    }
    out.push_back({{"index", delta.index},
                   {"delta", std::move(dj)},
                   {"logprobs", std::move(logprobs)},
                   {"finish_reason", nullptr}});
  }
  if (at_end) {
    choice.finish = delta.finish_reason;
    out.push_back({{"index", delta.index},
                   {"delta", Json::object()},
                   {"logprobs", nullptr},
                   {"finish_reason", FinishName(choice)}});
  }
  return out;
}

std::vector<Json> ResponseBuilder::CompletionChoiceChunks(Choice& choice, const ChoiceDelta& delta) {
  std::string text = delta.text;
  if (!choice.is_started) {
    text = options_.echo_text + text;
    choice.text_offset = static_cast<int64_t>(options_.echo_text.size());
    choice.is_started = true;
  }
  choice.text += text;
  Json logprobs = nullptr;
  if (options_.logprobs) {
    logprobs = CompletionLogprobs(delta.logprobs, &choice.text_offset);
    if (choice.completion_logprobs.is_null()) {
      choice.completion_logprobs = logprobs;
    } else {
      for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
        for (const Json& v : logprobs[key]) choice.completion_logprobs[key].push_back(v);
      }
    }
  }
  const bool at_end = delta.finish_reason.has_value();
  if (at_end) choice.finish = delta.finish_reason;
  if (text.empty() && delta.logprobs.empty() && !at_end) return {};
  return {Json{{"index", delta.index},
               {"text", text},
               {"logprobs", std::move(logprobs)},
               {"finish_reason", at_end ? Json(FinishName(choice)) : Json(nullptr)}}};
}

Json ResponseBuilder::ChunkEnvelope(Json choices) const {
  const bool is_chat = options_.route == ApiRoute::kChatCompletions;
  Json chunk = {{"id", options_.id},
                {"object", is_chat ? "chat.completion.chunk" : "text_completion"},
                {"created", options_.created},
                {"model", options_.model},
                {"choices", std::move(choices)}};
  if (options_.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

std::vector<Json> ResponseBuilder::StreamChunks(const RequestOutput& output) {
  TakeCounts(output);
  std::vector<Json> chunks;
  for (const ChoiceDelta& delta : output.deltas) {
    Choice& choice = ChoiceAt(delta.index);
    std::vector<Json> entries = options_.route == ApiRoute::kChatCompletions ? ChatChoiceChunks(choice, delta)
                                                                             : CompletionChoiceChunks(choice, delta);
    for (Json& e : entries) chunks.push_back(ChunkEnvelope(Json::array({std::move(e)})));
  }
  return chunks;
}

Json ResponseBuilder::Usage() const {
  return {{"prompt_tokens", num_prompt_tokens_},
          {"completion_tokens", num_generated_tokens_},
          {"total_tokens", num_prompt_tokens_ + num_generated_tokens_},
          {"prompt_tokens_details", {{"cached_tokens", num_cached_tokens_}}}};
}

Json ResponseBuilder::UsageChunk() const {
  Json chunk = ChunkEnvelope(Json::array());
  chunk["usage"] = Usage();
  return chunk;
}

void ResponseBuilder::Add(const RequestOutput& output) { (void)StreamChunks(output); }

Json ResponseBuilder::FinalResponse() const {
  const bool is_chat = options_.route == ApiRoute::kChatCompletions;
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    const std::string finish = FinishName(c);
    Json entry = {{"index", static_cast<int64_t>(i)}};
    if (is_chat) {
      Json message = {{"role", "assistant"}};
      message["content"] = (c.text.empty() && !c.tool_calls.empty()) ? Json(nullptr) : Json(c.text);
      if (options_.include_reasoning) {
        message["reasoning_content"] = c.reasoning_text.empty() ? Json(nullptr) : Json(c.reasoning_text);
      }
      if (!c.tool_calls.empty()) message["tool_calls"] = Json(c.tool_calls);
      entry["message"] = std::move(message);
      entry["logprobs"] = options_.logprobs ? Json{{"content", c.logprobs_content}} : Json(nullptr);
    } else {
      const std::string text = c.is_started ? c.text : options_.echo_text + c.text;
      entry["text"] = text;
      Json lp = c.completion_logprobs;
      if (options_.logprobs && lp.is_null()) {
        lp = {{"tokens", Json::array()},
              {"token_logprobs", Json::array()},
              {"top_logprobs", Json::array()},
              {"text_offset", Json::array()}};
      }
      entry["logprobs"] = options_.logprobs ? lp : Json(nullptr);
    }
    entry["finish_reason"] = finish.empty() ? Json(nullptr) : Json(finish);
    choices.push_back(std::move(entry));
  }
  return {{"id", options_.id},
          {"object", is_chat ? "chat.completion" : "text_completion"},
          {"created", options_.created},
          {"model", options_.model},
          {"choices", std::move(choices)},
          {"usage", Usage()}};
}

}  // namespace fathom
