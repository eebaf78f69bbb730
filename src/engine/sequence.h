// One choice of one request as the engine tracks it: its tokens (prompt, then
// output), how many of them have rows in its KV cache, its sampler, and its text.
// A Request groups the n choices that share a prompt and one client handle.
//
// The non-obvious rule: num_computed_tokens() is the KV cache's num_tokens(), and
// tokens beyond it are still to be run through the model. Preemption clears the
// cache but keeps the tokens, so the sequence later recomputes its rows (most of
// them from the prefix cache) and continues exactly where it stopped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "tokenizer/incremental_detokenizer.h"

namespace fathom {

struct Request;

// Owned by its Request; touched only by the engine thread.
class Sequence {
 public:
  Sequence(Request* request, int32_t choice_index, Sampler sampler, KvBlockPool* kv_pool, const Tokenizer* tokenizer);
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  Request& request() const { return *request_; }
  int32_t choice_index() const { return choice_index_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t num_computed_tokens() const { return cache_.num_tokens(); }
  int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens_; }
  bool is_finished() const { return finish_reason_.has_value(); }
  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  Sampler& sampler() { return sampler_; }
  // Blocks of the table already published to the prefix cache.
  int64_t num_published_blocks() const { return num_published_blocks_; }
  void set_num_published_blocks(int64_t n) { num_published_blocks_ = n; }

  // Sets the tokens to `prompt`. REQUIRES: no tokens yet.
  void SetPrompt(const std::vector<int32_t>& prompt);
  // Copies `other`'s prompt and tokens (a fork right after the shared prompt).
  void CopyTokensFrom(const Sequence& other) {
    tokens_ = other.tokens_;
    num_prompt_tokens_ = other.num_prompt_tokens_;
  }

  // Appends a sampled token and applies the stop rules in order: a stop token
  // (EOS unless ignore_eos, or one of stop_token_ids) finishes with kStop and is
  // neither accepted by the sampler nor detokenized; otherwise the token is
  // accepted, its text appended, and a stop string, then max_tokens, then a
  // full context finish the sequence. The token and its text go to the pending
  // delta. REQUIRES: !is_finished().
  void AppendToken(int32_t token, EngineClock::time_point time, std::optional<PositionLogprobs> logprobs,
                   int64_t max_model_len, const std::vector<int32_t>& eos_token_ids);
  // Finishes with `reason` (e.g. kAbort) unless finished already; flushes the text.
  void Finish(FinishReason reason);

  // Returns the delta since the last call (text that can no longer be cut by a
  // stop string; on the finishing call everything that is left), or nullopt if
  // there is nothing new.
  std::optional<ChoiceDelta> TakeDelta();

 private:
  // Cuts the text at the first stop string that ends in the text from
  // `new_text_begin` on; returns true iff one was found.
  bool CheckStopStrings(size_t new_text_begin);
  // The length of the text prefix that no later token can change.
  size_t StableTextLength() const;

  Request* request_;
  int32_t choice_index_;
  Sampler sampler_;
  KvCache cache_;
  IncrementalDetokenizer detokenizer_;
  std::vector<int32_t> tokens_;  // prompt then output
  int64_t num_prompt_tokens_ = 0;
  int64_t num_published_blocks_ = 0;
  std::string text_;             // the output text so far (cut at a stop string)
  size_t num_text_emitted_ = 0;  // bytes of text_ already in a delta
  std::optional<FinishReason> finish_reason_;
  std::optional<std::string> stop_string_;
  bool is_finish_emitted_ = false;
  ChoiceDelta pending_;          // tokens, times and logprobs not yet taken
};

// One client request: its choices and its handle. Owned by the Scheduler.
struct Request {
  int64_t id = 0;  // arrival order
  GenerationRequest params;
  std::shared_ptr<RequestHandle> handle;
  uint64_t hash_seed = 0;  // BlockHashSeed(model id, cache_salt)
  int64_t num_cached_tokens = 0;                     // prompt tokens the first admission found cached
  bool is_admitted = false;                          // the first choice has been scheduled once
  std::vector<std::unique_ptr<Sequence>> sequences;  // (n): sequences[0] runs the prompt; the rest fork after it
  bool is_forked = false;                            // the other choices were started
  Status error;

  bool is_finished() const;
  int64_t num_generated_tokens() const;
};

}  // namespace fathom
