// Runs one scheduled step: packs every scheduled sequence's new tokens into one
// Forward over the model (prefill chunks and decodes together, each with its own
// positions and block table), then samples the sequences that reached their last
// token.
//
// The non-obvious rule: a request's first choice samples for every choice from the
// same logits row, once its prompt is done; the other choices start from there
// (see Scheduler's fork), so n choices cost one prefill.
#pragma once

#include <optional>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "model/causal_lm.h"

namespace fathom {

class Sequence;

// One sequence's share of a step, decided by the Scheduler.
struct ScheduledSequence {
  Sequence* sequence = nullptr;
  int64_t num_new_tokens = 0;  // tokens [num_computed, num_computed + num_new_tokens) run this step
  bool is_sampled = false;     // the step reaches the sequence's last token, so a new one is drawn
  bool is_fork_point = false;  // is_sampled for a first choice whose siblings start now
};

// What the Scheduler decided; token counts and sequences, no tensors.
struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;  // in batch order
  int64_t num_batched_tokens = 0;            // sum of num_new_tokens, within the step's token budget
  bool empty() const { return scheduled.empty(); }
};

struct SampledToken {
  int32_t token = 0;
  EngineClock::time_point time;
  std::optional<PositionLogprobs> logprobs;
};

// What a step produced.
struct ModelOutput {
  Status status;  // non-OK: the forward failed; every scheduled sequence's request fails with it
  // (scheduled.size()): per scheduled sequence, its sampled token (one per choice
  // at a fork point, choice order; empty when not sampled). A sampler error fails
  // only that request: sample_errors[i] is non-OK then.
  std::vector<std::vector<SampledToken>> sampled;
  std::vector<Status> sample_errors;
};

// Not thread-safe: the engine thread's. Holds the logits and sampler scratch,
// reused across steps.
class ModelRunner {
 public:
  explicit ModelRunner(CausalLm* lm) : lm_(lm) {}
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // Runs the step. REQUIRES: !out.empty(); every scheduled sequence's cache has
  // room for its new tokens.
  ModelOutput Execute(const SchedulerOutput& out);

 private:
  CausalLm* lm_;
  std::vector<BatchEntry> batch_;
  std::vector<float> logits_;
  SamplerScratch scratch_;
};

}  // namespace fathom
