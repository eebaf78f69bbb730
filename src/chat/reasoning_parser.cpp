// DeepSeek-R1 reasoning/answer split as a three-state scanner over a held-back tail.
#include "chat/reasoning_parser.h"

#include "core/stream_holdback.h"
#include "core/status.h"
#include "core/utf8.h"

namespace fathom {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

ReasoningDelta ReasoningParser::Feed(std::string_view text) {
  FATHOM_CHECK_MSG(!is_finished_, "ReasoningParser::Feed after Finish");
  pending_.append(text);
  ReasoningDelta out;
  Drain(/*at_end=*/false, out);
  return out;
}

ReasoningDelta ReasoningParser::Finish() {
  FATHOM_CHECK_MSG(!is_finished_, "ReasoningParser::Finish called twice");
  is_finished_ = true;
  ReasoningDelta out;
  Drain(/*at_end=*/true, out);
  return out;
}

ReasoningDelta ReasoningParser::Split(std::string_view text) {
  ReasoningParser parser;
  ReasoningDelta out = parser.Feed(text);
  ReasoningDelta rest = parser.Finish();
  out.reasoning += rest.reasoning;
  out.content += rest.content;
  return out;
}

void ReasoningParser::Drain(bool at_end, ReasoningDelta& out) {
  if (state_ == State::kStart) {
    size_t first = 0;
    while (first < pending_.size() && IsSpace(pending_[first])) ++first;
    std::string_view rest = std::string_view(pending_).substr(first);
    if (rest.starts_with(kThinkOpen)) {
      pending_.erase(0, first + kThinkOpen.size());
      state_ = State::kReasoning;
    } else if (!at_end && kThinkOpen.starts_with(rest)) {
      return;  // only whitespace and a prefix of `<think>` so far
    } else {
      state_ = State::kReasoning;  // no opening tag: the thought starts at byte 0
    }
  }
  if (state_ == State::kReasoning) {
    size_t close = pending_.find(kThinkClose);
    if (close != std::string::npos) {
      out.reasoning.append(pending_, 0, close);
      pending_.erase(0, close + kThinkClose.size());
      state_ = State::kContent;
    } else {
      size_t hold = at_end ? 0 : StreamHoldbackLength(pending_, {kThinkClose});
      out.reasoning.append(pending_, 0, pending_.size() - hold);
      pending_.erase(0, pending_.size() - hold);
      return;
    }
  }
  // kContent: only an incomplete UTF-8 character is held.
  size_t hold = at_end ? 0 : utf8::IncompleteSuffixLength(pending_);
  out.content.append(pending_, 0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
}

}  // namespace fathom
