// The token sampler: turns one row of float32 logits into the next token id, with
// the options and the order of vLLM's v1 sampler (vllm/v1/sample/sampler.py), and
// reports OpenAI-style logprobs. The non-obvious rule: the randomness is ours, not
// the standard library's. A random step draws exactly one 64-bit number from the
// sequence's own std::mt19937_64 (whose output the C++ standard fixes) and turns it
// into a uniform double itself; a greedy step draws none. So a seed replays the same
// tokens on every platform, given the same logits and a libm whose expf agrees.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace fathom {

// What a request asks of the sampler; field names and meanings follow OpenAI and vLLM.
struct SamplingParams {
  float temperature = 1.0f;                           // >= 0; below kGreedyTemperature: greedy
  int32_t top_k = 0;                                  // <= 0: disabled
  float top_p = 1.0f;                                 // (0, 1]; 1: disabled
  float min_p = 0.0f;                                 // [0, 1]; 0: disabled
  float repetition_penalty = 1.0f;                    // > 0; 1: disabled; prompt and output tokens
  float presence_penalty = 0.0f;                      // [-2, 2]; output tokens only
  float frequency_penalty = 0.0f;                     // [-2, 2]; output tokens only, times the count
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token, additive bias in [-100, 100]); a token at most once
  std::optional<uint64_t> seed;                       // set: reproducible draws; unset: seeded from std::random_device
};

// Temperatures below this are greedy, as in vLLM (_SAMPLING_EPS): dividing by them
// would overflow, and a user asking for 1e-6 means "deterministic".
inline constexpr float kGreedyTemperature = 1e-5f;

// Returns OK iff `params` can sample from a vocabulary of `vocab_size` tokens;
// otherwise an InvalidArgument naming the field ("top_p must be in (0, 1], got 0").
// NaN fails every range. REQUIRES: 0 < vocab_size <= INT32_MAX.
Status ValidateSamplingParams(const SamplingParams& params, int64_t vocab_size);

// The O(vocab) buffers one Sample call works in. A Sampler is per sequence and
// would otherwise carry 16 bytes per vocabulary entry (2.4 MB at 152k) for each
// running sequence; a scratch is per sampling thread instead, shared by all the
// sequences that thread serves. Buffers grow on first use and are then reused, so
// Sample allocates nothing after the first call. Not thread-safe; movable.
class SamplerScratch {
 public:
  SamplerScratch() = default;
  SamplerScratch(const SamplerScratch&) = delete;
  SamplerScratch& operator=(const SamplerScratch&) = delete;
  SamplerScratch(SamplerScratch&&) = default;
  SamplerScratch& operator=(SamplerScratch&&) = default;

  // A token still in the running after the filters so far. Public only so that the
  // sampler's helpers can name it; it keeps no invariant.
  struct Candidate {
    int32_t token;
    float logit;   // biased and penalised, not divided by the temperature
    float weight;  // exp((logit - max_logit) / temperature): the unnormalised probability
  };

 private:
  friend class Sampler;

  std::vector<float> logits_;          // (vocab_size) the row after bias and penalties
  std::vector<Candidate> candidates_;  // (vocab_size) at most; a prefix is in use
};

// Draws the tokens of one sequence. Not thread-safe: one per sequence. Movable, not
// copyable (a copy would repeat the random stream).
//
// Each Sample runs these steps, in vLLM v1's order:
//   1. logit_bias      logit[t] += bias[t]
//   2. penalties       repetition on every token of the prompt or the output (a
//                      positive logit is divided by it, any other multiplied, as in
//                      vLLM and HF), then frequency (minus frequency_penalty * count)
//                      and presence (minus presence_penalty once) on output tokens.
//   3. greedy          temperature < kGreedyTemperature: the argmax, lowest id on
//                      ties, with no randomness; steps 4-8 do not apply (none of
//                      them can move the argmax).
//   4. temperature     p = softmax(logit / temperature)
//   5. min_p           drops tokens with p < min_p * max(p)
//   6. top_k           keeps the top_k most likely tokens
//   7. top_p           keeps the shortest most-likely-first prefix of what is left
//                      whose mass (renormalised over what is left) reaches top_p
//   8. draw            one token, in proportion to p among those kept.
// Ties in steps 6 and 7 go to the lower token id. vLLM instead keeps every token
// tied with the k-th; exactly k keeps top_k = 1 identical to greedy.
//
// Cost of a Sample: a few O(vocab) passes, exp only for the tokens that survive
// min_p and top_k, and no sort of the vocabulary: top_k and top_p bucket the logits
// and sort only the bucket their boundary falls in.
//
// Non-finite logits: a -inf token is never drawn. +inf tokens take all the mass,
// shared equally (the limit of softmax). NaN, or a row with no logit above -inf, is
// an error: the forward pass broke, and hiding that would make garbage look valid.
//
// Invariant: history_ holds one entry per distinct token that a penalty applies to
// (prompt tokens only when repetition_penalty != 1; accepted tokens only when some
// penalty is on), so step 2 costs O(distinct tokens seen), not O(sequence length).
class Sampler {
 public:
  // Returns a sampler for `params` over `vocab_size` tokens, or InvalidArgument if
  // ValidateSamplingParams rejects them or a prompt token is outside the vocabulary.
  static Result<Sampler> Create(SamplingParams params, int64_t vocab_size, std::span<const int32_t> prompt_tokens);

  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;
  Sampler(Sampler&&) = default;
  Sampler& operator=(Sampler&&) = default;

  // Returns the next token drawn from `logits` (vocab_size), which are left as they
  // are (compute logprobs from them afterwards); works in *scratch. Returns Internal
  // if a logit is NaN or none is above -inf after steps 1-2.
  // REQUIRES: logits.size() == vocab_size; scratch != nullptr.
  Result<int32_t> Sample(std::span<const float> logits, SamplerScratch* scratch);

  // Records `token` as generated, for the penalties of later steps. Call it once per
  // token appended to the sequence (sampled here or accepted from a draft).
  // REQUIRES: 0 <= token < vocab_size.
  void Accept(int32_t token);

  // Applies steps 1-2 to `logits` (vocab_size) in place: what Sample sees before
  // greedy or temperature. REQUIRES: logits.size() == vocab_size.
  void ApplyBiasAndPenalties(std::span<float> logits) const;

  bool is_greedy() const { return params_.temperature < kGreedyTemperature; }
  // The seed in use: params.seed, or the one drawn from std::random_device. A new
  // Sampler with this seed (and the same logits) replays this one's tokens.
  uint64_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }

 private:
  // What a penalty needs to know about one token of the sequence.
  struct TokenHistory {
    int32_t token;
    int32_t num_output;  // times Accept()ed
  };

  Sampler(SamplingParams params, int64_t vocab_size, std::span<const int32_t> prompt_tokens);

  TokenHistory& HistoryOf(int32_t token);
  // Returns a uniform double in [0, 1) from the top 53 bits of one engine draw.
  double NextUniform();

  SamplingParams params_;
  int64_t vocab_size_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  bool has_penalties_;  // true iff some penalty is on, so Accept must count tokens

  std::vector<TokenHistory> history_;                   // one per distinct penalised token
  std::unordered_map<int32_t, int32_t> history_index_;  // token -> index in history_
};

// One token's log-probability.
struct TokenLogprob {
  int32_t token;
  float logprob;
};

// What OpenAI's logprobs report for one sampled position.
struct PositionLogprobs {
  TokenLogprob sampled;
  std::vector<TokenLogprob> top;  // (min(num_top, vocab_size)) logprob desc, then token asc
};

// Returns the log-softmax of the raw `logits` (vocab_size) at `sampled_token` and
// the num_top most likely tokens. Raw means the model's own distribution, before
// bias, penalties, temperature and filters: what OpenAI reports and vLLM's default
// logprobs_mode ("raw_logprobs") returns, so a filtered-out token still has its
// true logprob rather than -inf. +inf logits share all the mass equally, as in Sample.
// O(vocab_size * log num_top); allocates only the result.
// REQUIRES: 0 <= sampled_token < logits.size(); num_top >= 0; no logit is NaN and
// one is above -inf (Sample rejects such rows first).
PositionLogprobs ComputeLogprobs(std::span<const float> logits, int32_t sampled_token, int32_t num_top);

}  // namespace fathom
