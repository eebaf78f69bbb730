// What a client asks of the engine and what it gets back, in tokens and text: the
// plain structs that cross from the HTTP threads to the engine thread and back.
// The non-obvious rule: text deltas are final. The engine holds back the tail of a
// choice's text that could still become a stop string or an incomplete UTF-8
// character, so a client never receives bytes that are later cut off.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/sampler.h"

namespace fathom {

using EngineClock = std::chrono::steady_clock;

struct GenerationRequest {
  std::vector<int32_t> prompt_tokens;          // non-empty; shorter than the engine's max_model_len
  SamplingParams sampling;                     // choice i > 0 with a seed draws from seed + i
  int64_t max_tokens = 16;                     // new tokens per choice, >= 1; clamped to the context left
  int32_t n = 1;                               // choices, in [1, kMaxChoices]; they share the prompt's blocks
  std::vector<std::string> stop;               // stop strings (1..kMaxStopStringBytes bytes); the text ends before the first found
  std::vector<int32_t> stop_token_ids;         // besides the model's EOS ids
  bool ignore_eos = false;                     // true: the EOS ids do not stop (stop_token_ids still do)
  std::optional<int32_t> logprobs;             // set: each token's logprob and this many top alternatives
  bool skip_special_tokens = true;             // in the returned text (special tokens still count)
  std::string cache_salt;                      // the tenant: cached prefix blocks are shared only under one salt
  std::optional<EngineClock::time_point> deadline;  // past it the request finishes with kAbort
};

inline constexpr int32_t kMaxChoices = 16;
inline constexpr int32_t kMaxTopLogprobs = 20;
// Stop strings are searched in the new text of every step, so their length bounds
// the work one request can put on the engine thread.
inline constexpr size_t kMaxStopStringBytes = 1024;

enum class FinishReason {
  kStop,    // an EOS or stop token, or a stop string
  kLength,  // max_tokens, or the context is full
  kAbort,   // cancelled, past its deadline, or the engine shut down
  kError,   // the forward pass or the sampler failed; RequestOutput::error says why
};

// OpenAI's spelling: "stop", "length", "abort", "error".
const char* FinishReasonName(FinishReason reason);

// What the engine added to one choice since the last RequestOutput.
struct ChoiceDelta {
  int32_t index = 0;                               // the choice, in [0, n)
  std::string text;                                // new text; final (see the file comment)
  std::vector<int32_t> token_ids;                  // new tokens (a stop token is not included)
  std::vector<EngineClock::time_point> token_times;  // (token_ids.size()) when each was sampled
  std::vector<PositionLogprobs> logprobs;          // (token_ids.size()) iff the request asked for logprobs
  std::optional<FinishReason> finish_reason;       // set once, on the choice's last delta
  std::optional<std::string> stop_string;          // the stop string that ended it, if one did
};

// Everything new for one request; deltas of one choice appear in order.
struct RequestOutput {
  std::vector<ChoiceDelta> deltas;
  int64_t num_prompt_tokens = 0;
  int64_t num_cached_tokens = 0;     // prompt tokens served from the prefix cache
  int64_t num_generated_tokens = 0;  // over all choices, so far
  bool is_finished = false;          // every choice has its finish_reason
  Status error;                      // non-OK with kError: what failed
};

}  // namespace fathom
