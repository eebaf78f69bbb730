// Splits DeepSeek-R1 output into reasoning (the text up to `</think>`) and the
// answer (everything after it), one streamed delta at a time. The R1-Distill
// templates open `<think>` in the prompt, so the model may or may not repeat it: an
// opening `<think>` at the very start (after optional whitespace) is dropped along
// with that whitespace; any later `<think>` is ordinary text.
//
// Output that never contains `</think>` is all reasoning, both while streaming and
// in the final message (as vLLM's deepseek_r1 parser does): an answer cut off by
// max_tokens mid-thought has no content, not a thought passed off as an answer.
//
// The non-obvious rule: streaming holds back only a tail that could still become
// `</think>` (or, at the start, whitespace that could still precede `<think>`) and
// an incomplete UTF-8 character, so the concatenated deltas equal Split() of the
// concatenated input however it was chunked.
#pragma once

#include <string>
#include <string_view>

namespace fathom {

// What one step of the split adds to each side.
struct ReasoningDelta {
  std::string reasoning;
  std::string content;

  bool empty() const { return reasoning.empty() && content.empty(); }
};

// One parser per generated sequence. Thread-compatible; copyable (a copy carries
// the held-back tail with it).
class ReasoningParser {
 public:
  static constexpr std::string_view kThinkOpen = "<think>";
  static constexpr std::string_view kThinkClose = "</think>";

  ReasoningParser() = default;

  // Returns what `text` completes, holding back a tail that could still be a
  // marker or an incomplete UTF-8 character. REQUIRES: Finish() not called yet.
  ReasoningDelta Feed(std::string_view text);

  // Returns everything still held back, classified as if the output ended here.
  // REQUIRES: called once, after the last Feed().
  ReasoningDelta Finish();

  // Returns true iff `</think>` has been seen, so every later byte is content.
  bool is_reasoning_done() const { return state_ == State::kContent; }

  // One-shot split; equal to Feed(text) followed by Finish(), concatenated.
  static ReasoningDelta Split(std::string_view text);

 private:
  enum class State {
    kStart,      // before the first non-whitespace byte: `<think>` may still open
    kReasoning,  // inside the thought, looking for `</think>`
    kContent,    // after `</think>`: everything is answer
  };

  // Moves what can be decided from pending_ into `out`; `at_end` means no more
  // input will come, so nothing needs holding back.
  void Drain(bool at_end, ReasoningDelta& out);

  State state_ = State::kStart;
  std::string pending_;  // bytes fed but not yet emitted
  bool is_finished_ = false;
};

}  // namespace fathom
