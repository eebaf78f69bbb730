// DeepSeek tool-call markup as a three-state scanner (content, block, call). Call
// bodies are parsed whole once their end marker arrives, which keeps the body
// grammar a pure function of the body text.
#include "chat/tool_call_parser.h"

#include <algorithm>
#include <optional>

#include "core/stream_holdback.h"
#include "core/status.h"

namespace fathom {
namespace {

using Json = nlohmann::json;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

struct CallBody {
  std::string name;
  std::string arguments;  // JSON object text, as the model wrote it
};

// Returns the arguments text if it is a JSON object ("{}" for none at all).
std::optional<std::string> CheckArguments(std::string_view args) {
  args = Trim(args);
  if (args.empty()) return std::string("{}");
  Json parsed = Json::parse(args, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return std::string(args);
}

bool IsValidName(std::string_view name) { return !name.empty() && name.find('\n') == std::string_view::npos; }

// V3.1: NAME<｜tool▁sep｜>ARGS
std::optional<CallBody> ParseV31Body(std::string_view body) {
  size_t sep = body.find(ToolCallParser::kSep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view name = Trim(body.substr(0, sep));
  if (!IsValidName(name)) return std::nullopt;
  std::optional<std::string> args = CheckArguments(body.substr(sep + ToolCallParser::kSep.size()));
  if (!args) return std::nullopt;
  return CallBody{std::string(name), std::move(*args)};
}

// V3 / R1: function<｜tool▁sep｜>NAME\n```json\nARGS\n```
std::optional<CallBody> ParseV3Body(std::string_view body) {
  constexpr std::string_view kFence = "```";
  constexpr std::string_view kJsonTag = "json";
  size_t sep = body.find(ToolCallParser::kSep);
  if (sep == std::string_view::npos || Trim(body.substr(0, sep)) != "function") return std::nullopt;
  std::string_view rest = body.substr(sep + ToolCallParser::kSep.size());
  size_t newline = rest.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  std::string_view name = Trim(rest.substr(0, newline));
  if (!IsValidName(name)) return std::nullopt;
  std::string_view fenced = Trim(rest.substr(newline + 1));
  if (!fenced.starts_with(kFence)) return std::nullopt;
  fenced.remove_prefix(kFence.size());
  if (fenced.starts_with(kJsonTag)) fenced.remove_prefix(kJsonTag.size());
  if (!fenced.ends_with(kFence)) return std::nullopt;
  fenced.remove_suffix(kFence.size());
  std::optional<std::string> args = CheckArguments(fenced);
  if (!args) return std::nullopt;
  return CallBody{std::string(name), std::move(*args)};
}

// Returns the earliest marker occurrence in `text` at or after `from`, as
// (position, marker); npos if none. Markers never contain one another past their
// first byte, so the earliest start is unambiguous.
std::pair<size_t, std::string_view> FindFirstMarker(std::string_view text, size_t from) {
  constexpr std::string_view kMarkers[] = {ToolCallParser::kCallEnd, ToolCallParser::kCallBegin,
                                           ToolCallParser::kCallsBegin, ToolCallParser::kCallsEnd};
  std::pair<size_t, std::string_view> best{std::string_view::npos, {}};
  for (std::string_view marker : kMarkers) {
    size_t pos = text.find(marker, from);
    if (pos < best.first) best = {pos, marker};
  }
  return best;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

ToolCallFormat DetectToolCallFormat(std::string_view chat_template) {
  bool has_sep = chat_template.find(ToolCallParser::kSep) != std::string_view::npos;
  bool has_fence = chat_template.find("```json") != std::string_view::npos;
  return has_sep && has_fence ? ToolCallFormat::kV3 : ToolCallFormat::kV31;
}

std::string ToolCallParser::MakeCallId(uint64_t seed, int index) {
  constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  uint64_t state = seed ^ (static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ull);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[SplitMix64(state) % kAlphabet.size()];
  return id;
}

ToolCallStreamDelta ToolCallParser::Feed(std::string_view text) {
  FATHOM_CHECK_MSG(!is_finished_, "ToolCallParser::Feed after Finish");
  pending_.append(text);
  ToolCallStreamDelta out;
  Drain(/*at_end=*/false, out);
  return out;
}

ToolCallStreamDelta ToolCallParser::Finish() {
  FATHOM_CHECK_MSG(!is_finished_, "ToolCallParser::Finish called twice");
  is_finished_ = true;
  ToolCallStreamDelta out;
  Drain(/*at_end=*/true, out);
  FATHOM_CHECK(pending_.empty());
  return out;
}

ParsedToolCalls ToolCallParser::Parse(std::string_view text, ToolCallParserOptions options) {
  ToolCallParser parser(options);
  ParsedToolCalls parsed;
  for (ToolCallStreamDelta delta : {parser.Feed(text), parser.Finish()}) {
    parsed.content += delta.content;
    for (const Json& call : delta.tool_calls) AppendToolCallDelta(call, parsed.tool_calls);
  }
  return parsed;
}

void ToolCallParser::Drain(bool at_end, ToolCallStreamDelta& out) {
  bool again = true;
  while (again) {
    switch (state_) {
      case State::kContent:
        again = DrainContent(at_end, out);
        break;
      case State::kBlock:
        again = DrainBlock(at_end, out);
        break;
      case State::kCall:
        again = DrainCall(at_end, out);
        break;
    }
  }
}

bool ToolCallParser::DrainContent(bool at_end, ToolCallStreamDelta& out) {
  size_t begin = pending_.find(kCallsBegin);
  if (begin == std::string::npos) {
    size_t hold = at_end ? 0 : StreamHoldbackLength(pending_, {kCallsBegin});
    out.content.append(pending_, 0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return false;
  }
  out.content.append(pending_, 0, begin);
  pending_.erase(0, begin + kCallsBegin.size());
  block_raw_ = kCallsBegin;
  block_has_calls_ = false;
  state_ = State::kBlock;
  return true;
}

bool ToolCallParser::DrainBlock(bool at_end, ToolCallStreamDelta& out) {
  size_t space = 0;
  while (space < pending_.size() && IsSpace(pending_[space])) ++space;
  block_raw_.append(pending_, 0, space);  // whitespace between calls is dropped with the markers
  pending_.erase(0, space);

  if (pending_.starts_with(kCallBegin)) {
    block_raw_ += kCallBegin;
    pending_.erase(0, kCallBegin.size());
    call_scan_from_ = 0;
    state_ = State::kCall;
    return true;
  }
  if (pending_.starts_with(kCallsEnd)) {
    pending_.erase(0, kCallsEnd.size());
    if (!block_has_calls_) {
      AbandonBlock(kCallsEnd, out);  // an empty block is text
      return true;
    }
    block_raw_.clear();
    state_ = State::kContent;
    return true;
  }
  bool could_be_marker = kCallBegin.starts_with(pending_) || kCallsEnd.starts_with(pending_);
  if (!at_end && could_be_marker) return false;
  if (at_end && pending_.empty() && block_has_calls_) {
    block_raw_.clear();  // calls without the closing marker: keep them, drop the whitespace
    state_ = State::kContent;
    return false;
  }
  // Stray text (or the end) where a call or the block's end should be.
  AbandonBlock("", out);
  return true;
}

bool ToolCallParser::DrainCall(bool at_end, ToolCallStreamDelta& out) {
  auto [pos, marker] = FindFirstMarker(pending_, call_scan_from_);
  if (pos == std::string::npos) {
    if (at_end) {
      std::string body = std::move(pending_);
      pending_.clear();
      AbandonBlock(body, out);  // unterminated call
      return false;
    }
    size_t longest_marker = std::max({kCallEnd.size(), kCallBegin.size(), kCallsBegin.size(), kCallsEnd.size()});
    call_scan_from_ = pending_.size() - std::min(pending_.size(), longest_marker - 1);
    return false;
  }
  if (marker != kCallEnd) {
    // A marker out of order: the call so far is text, and the marker is read afresh.
    std::string body = pending_.substr(0, pos);
    pending_.erase(0, pos);
    AbandonBlock(body, out);
    return true;
  }
  std::string_view body = std::string_view(pending_).substr(0, pos);
  std::optional<CallBody> call = options_.format == ToolCallFormat::kV3 ? ParseV3Body(body) : ParseV31Body(body);
  if (!call) {
    std::string raw = pending_.substr(0, pos + kCallEnd.size());
    pending_.erase(0, pos + kCallEnd.size());
    AbandonBlock(raw, out);
    return true;
  }
  int index = num_tool_calls_++;
  out.tool_calls.push_back(Json{{"index", index},
                                {"id", MakeCallId(options_.id_seed, index)},
                                {"type", "function"},
                                {"function", {{"name", call->name}, {"arguments", ""}}}});
  out.tool_calls.push_back(Json{{"index", index}, {"function", {{"arguments", call->arguments}}}});
  pending_.erase(0, pos + kCallEnd.size());
  block_raw_.clear();
  block_has_calls_ = true;
  state_ = State::kBlock;
  return true;
}

void ToolCallParser::AbandonBlock(std::string_view raw_tail, ToolCallStreamDelta& out) {
  out.content += block_raw_;
  out.content += raw_tail;
  block_raw_.clear();
  state_ = State::kContent;
}

void AppendToolCallDelta(const nlohmann::json& delta, nlohmann::json& tool_calls) {
  size_t index = delta.at("index").get<size_t>();
  FATHOM_CHECK_MSG(index <= tool_calls.size(), "tool-call delta skips an index");
  if (index == tool_calls.size()) {
    tool_calls.push_back(Json{{"id", delta.value("id", "")},
                              {"type", delta.value("type", "function")},
                              {"function", {{"name", ""}, {"arguments", ""}}}});
  }
  Json& call = tool_calls[index];
  if (!delta.contains("function")) return;
  const Json& function = delta["function"];
  if (function.contains("name")) call["function"]["name"] = function["name"];
  if (function.contains("arguments")) {
    call["function"]["arguments"] =
        call["function"]["arguments"].get<std::string>() + function["arguments"].get<std::string>();
  }
}

}  // namespace fathom
