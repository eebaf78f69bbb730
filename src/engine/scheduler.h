// Decides each step's batch under a token budget and applies its results. It
// speaks only in tokens and block ids: every sequence has num_computed_tokens
// and num_tokens, and a step runs some of the difference for each sequence, so
// prefill chunks and decodes share one batch with no phases.
//
// The non-obvious rules: running sequences are served first, oldest first, so a
// long prompt arriving never stalls streams already generating (it is chunked
// into what the budget leaves). When blocks run out, the youngest running
// sequence is preempted (its blocks freed, its tokens kept) and recomputed later;
// one sequence of max_model_len always fits the pool, so this never deadlocks.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "engine/block_pool.h"
#include "engine/engine.h"
#include "engine/model_runner.h"
#include "engine/sequence.h"

namespace fathom {

// Not thread-safe: the engine thread's.
// Invariants: a sequence is in at most one of waiting_ and running_, and only
// sequences in running_ hold blocks (waiting, unforked and finished ones hold none).
class Scheduler {
 public:
  Scheduler(const EngineOptions& options, KvBlockPool* kv_pool);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request built by Engine::Submit (its first choice waits; the others
  // wait for the fork).
  void AddRequest(std::unique_ptr<Request> request);

  // Finishes with kAbort every request whose handle was cancelled or whose
  // deadline is before `now`, or every request when `abort_all`.
  void AbortRequests(bool abort_all, EngineClock::time_point now);

  // Pass 1 serves running sequences (preempting when blocks run out), pass 2
  // admits waiting ones (reusing cached prefix blocks) with what budget is left.
  SchedulerOutput Schedule();

  // Appends sampled tokens, publishes newly full blocks to the prefix cache,
  // forks choices, finishes and frees sequences.
  void UpdateFromOutput(const SchedulerOutput& out, ModelOutput& model_output);

  // Pushes every request's new deltas to its handle and forgets finished requests.
  void EmitOutputs();

  bool has_unfinished_requests() const { return !requests_.empty(); }
  int64_t num_requests() const { return static_cast<int64_t>(requests_.size()); }
  // Fills the scheduler's part of `stats` (sequences, blocks, cache, counters).
  void FillStats(EngineStats* stats) const;

 private:
  // Grows seq's block table to hold `num_tokens` rows; returns false (taking
  // nothing) if the pool cannot supply the blocks.
  bool AllocateBlocksFor(Sequence& seq, int64_t num_tokens);
  // Takes the longest cached prefix of a sequence with no rows yet.
  void TakeCachedPrefix(Sequence& seq);
  void PublishFullBlocks(Sequence& seq);
  void FreeBlocks(Sequence& seq);
  // Frees the youngest running sequence's blocks and puts it first in line.
  // Returns it.
  Sequence* PreemptYoungest();
  // Starts choices 1..n-1 from the first choice's prompt: they share its full
  // blocks and copy (or recompute) its partly filled last one.
  void Fork(Request& request, const std::vector<SampledToken>& sampled);
  // Finishes `seq` (no-op if it is) and releases it.
  void FinishSequence(Sequence& seq, FinishReason reason);
  // Takes a finished sequence out of the queues and frees its blocks.
  void ReleaseSequence(Sequence& seq);
  void FailRequest(Request& request, const Status& error);
  void RemoveFromQueues(const Sequence& seq);

  EngineOptions options_;
  KvBlockPool* kv_pool_;
  BlockPool block_pool_;
  std::map<int64_t, std::unique_ptr<Request>> requests_;  // by arrival id
  std::deque<Sequence*> waiting_;                         // admission order; preempted ones at the front
  std::vector<Sequence*> running_;                        // admission order: the back is the youngest
  int64_t num_preemptions_ = 0;
  int64_t num_prefix_queries_ = 0;  // tokens of admitted sequences looked up in the prefix cache
  int64_t num_prefix_hits_ = 0;     // of those, found cached
  int64_t num_prompt_tokens_computed_ = 0;
  int64_t num_generation_tokens_ = 0;
};

}  // namespace fathom
