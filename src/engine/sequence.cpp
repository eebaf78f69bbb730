#include "engine/sequence.h"

#include <algorithm>

#include "core/stream_holdback.h"

namespace fathom {

Sequence::Sequence(Request* request, int32_t choice_index, Sampler sampler, KvBlockPool* kv_pool,
                   const Tokenizer* tokenizer)
    : request_(request),
      choice_index_(choice_index),
      sampler_(std::move(sampler)),
      cache_(kv_pool),
      detokenizer_(tokenizer, request->params.skip_special_tokens) {
  pending_.index = choice_index;
}

void Sequence::SetPrompt(const std::vector<int32_t>& prompt) {
  FATHOM_CHECK(tokens_.empty());
  tokens_ = prompt;
  num_prompt_tokens_ = static_cast<int64_t>(prompt.size());
}

void Sequence::AppendToken(int32_t token, EngineClock::time_point time, std::optional<PositionLogprobs> logprobs,
                           int64_t max_model_len, const std::vector<int32_t>& eos_token_ids) {
  FATHOM_CHECK(!is_finished());
  const GenerationRequest& p = request_->params;
  tokens_.push_back(token);
  const bool is_eos =
      !p.ignore_eos && std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end();
  const bool is_stop_token = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
  if (is_eos || is_stop_token) {
    Finish(FinishReason::kStop);
    return;
  }
  sampler_.Accept(token);
  pending_.token_ids.push_back(token);
  pending_.token_times.push_back(time);
  if (logprobs) pending_.logprobs.push_back(std::move(*logprobs));

  const size_t new_text_begin = text_.size();
  text_ += detokenizer_.Append(token);
  if (CheckStopStrings(new_text_begin)) {
    Finish(FinishReason::kStop);
  } else if (num_output_tokens() >= p.max_tokens || num_tokens() >= max_model_len) {
    Finish(FinishReason::kLength);
  }
}

bool Sequence::CheckStopStrings(size_t new_text_begin) {
  size_t best = std::string::npos;
  const std::string* found = nullptr;
  for (const std::string& s : request_->params.stop) {
    if (s.empty()) continue;
    // The stop string may begin up to its length - 1 bytes before the new text.
    const size_t at = text_.find(s, new_text_begin - std::min(new_text_begin, s.size() - 1));
    if (at != std::string::npos && at < best) {
      best = at;
      found = &s;
    }
  }
  if (found == nullptr) return false;
  text_.resize(best);
  stop_string_ = *found;
  return true;
}

void Sequence::Finish(FinishReason reason) {
  if (is_finished()) return;
  if (!stop_string_) {
    // Flush what the detokenizer held back (an incomplete character), then look
    // once more for a stop string it completes.
    const size_t new_text_begin = text_.size();
    text_ += detokenizer_.Finish();
    if (text_.size() > new_text_begin && CheckStopStrings(new_text_begin)) reason = FinishReason::kStop;
  }
  finish_reason_ = reason;
}

size_t Sequence::StableTextLength() const {
  if (is_finished()) return text_.size();
  // Only the text not yet emitted can hold a partial stop string: the previous
  // call held back every such suffix, so the search stays O(new bytes * stop length).
  size_t hold = 0;
  const std::string_view unemitted = std::string_view(text_).substr(num_text_emitted_);
  for (const std::string& s : request_->params.stop) {
    if (!s.empty()) hold = std::max(hold, PartialMarkerSuffixLength(unemitted, s));
  }
  return text_.size() - hold;
}

std::optional<ChoiceDelta> Sequence::TakeDelta() {
  const size_t stable = std::max(StableTextLength(), num_text_emitted_);
  const bool finishing = is_finished() && !is_finish_emitted_;
  if (stable == num_text_emitted_ && pending_.token_ids.empty() && !finishing) return std::nullopt;
  ChoiceDelta out = std::move(pending_);
  pending_ = ChoiceDelta{};
  pending_.index = choice_index_;
  out.text = text_.substr(num_text_emitted_, stable - num_text_emitted_);
  num_text_emitted_ = stable;
  if (finishing) {
    out.finish_reason = finish_reason_;
    out.stop_string = stop_string_;
    is_finish_emitted_ = true;
  }
  return out;
}

bool Request::is_finished() const {
  for (const auto& s : sequences) {
    if (!s->is_finished()) return false;
  }
  return true;
}

int64_t Request::num_generated_tokens() const {
  int64_t n = 0;
  for (const auto& s : sequences) n += s->num_output_tokens();
  return n;
}

}  // namespace fathom
