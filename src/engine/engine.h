// The serving engine: one thread owns the model, the KV block pool and the
// scheduler, and runs steps (Schedule -> Execute -> UpdateFromOutput) while any
// request is waiting or running. Any thread may Submit a request and read its
// output through the RequestHandle it gets back.
//
// The non-obvious rule: nothing a client does blocks the engine. Submit only
// enqueues; Cancel only sets a flag the next step reads; output is appended to the
// handle under its own lock and the HTTP thread takes it when it likes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/request.h"
#include "model/causal_lm.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

struct EngineOptions {
  int64_t block_size = 16;               // tokens per KV block
  int64_t num_kv_blocks = 0;             // > 0; see PlanKvBlocks
  int64_t max_model_len = 0;             // > 0: prompt + output tokens per sequence
  int64_t max_num_batched_tokens = 512;  // token budget of one step (prefill chunks + decodes)
  int64_t max_num_seqs = 64;             // running sequences at most
  int64_t max_waiting_requests = 256;    // Submit returns ResourceExhausted beyond this
  bool enable_prefix_caching = true;
  std::string model_id;                  // part of every block hash: two models never share blocks
  std::vector<int32_t> eos_token_ids;    // stop every choice unless ignore_eos
};

// The number of KV blocks that fit `kv_cache_bytes`, at least one sequence of
// max_model_len rounded up to whole blocks. Returns ResourceExhausted (naming the
// bytes needed for one full-length sequence) if the budget is smaller than that.
Result<int64_t> PlanKvBlocks(const KvCacheShape& shape, int64_t block_size, int64_t max_model_len,
                             int64_t kv_cache_bytes);

// A point-in-time view for /metrics and /ready; counters only grow.
struct EngineStats {
  int64_t num_running = 0;          // sequences scheduled in the last step or holding blocks
  int64_t num_waiting = 0;          // sequences not yet admitted, or preempted
  int64_t num_kv_blocks_total = 0;
  int64_t num_kv_blocks_used = 0;   // referenced by some sequence
  int64_t num_kv_blocks_cached = 0; // free but still holding a reusable prefix
  int64_t prefix_cache_queries_total = 0;  // prompt tokens looked up
  int64_t prefix_cache_hits_total = 0;     // of those, served from cached blocks
  int64_t num_preemptions_total = 0;
  int64_t prompt_tokens_total = 0;         // computed prompt tokens (not the cached ones)
  int64_t generation_tokens_total = 0;
  int64_t num_steps_total = 0;
  bool is_accepting = true;                // false once Shutdown began
};

// Thread-safe. Shared by the engine (which appends) and one client thread.
class RequestHandle {
 public:
  // Waits until output is pending or `timeout` passed. Returns everything since the
  // previous call merged into one RequestOutput (deltas of a choice concatenated),
  // or nullopt on timeout. After the output with is_finished, returns nullopt.
  std::optional<RequestOutput> Next(std::chrono::milliseconds timeout);
  // Asks the engine to stop this request; its choices finish with kAbort at the
  // next step and their blocks are freed. Safe to call at any time, repeatedly.
  void Cancel() { is_cancelled_.store(true, std::memory_order_relaxed); }
  bool is_cancelled() const { return is_cancelled_.load(std::memory_order_relaxed); }

  // Engine side: appends `out` to what Next will return and wakes the reader.
  void Push(RequestOutput out);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<RequestOutput> pending_;  // guarded by mu_
  bool is_done_ = false;                  // guarded by mu_: the finished output was taken
  std::atomic<bool> is_cancelled_{false};
};

class Scheduler;
class ModelRunner;
struct Request;

// Owns the engine thread. Not copyable or movable.
class Engine {
 public:
  // Starts the engine thread. `lm`, `tokenizer` and `pool` must outlive the engine.
  // Returns InvalidArgument for inconsistent options and ResourceExhausted if the
  // KV pool cannot be allocated.
  static Result<std::unique_ptr<Engine>> Create(CausalLm* lm, const Tokenizer* tokenizer, EngineOptions options);
  ~Engine();  // Shutdown(0)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates the request (prompt length against max_model_len, token ids, n,
  // max_tokens, logprobs, sampling params) and queues it. Returns InvalidArgument
  // naming the field, ResourceExhausted when the waiting queue is full, and
  // Unavailable after Shutdown began.
  Result<std::shared_ptr<RequestHandle>> Submit(GenerationRequest request);

  // Stops admitting and lets running and waiting requests finish for up to
  // `grace`; then the engine thread aborts what is left (each gets a final kAbort
  // output) and ends. Returns at once. A later call may shorten the grace, never
  // lengthen it.
  void BeginShutdown(std::chrono::milliseconds grace);
  // Returns true iff the engine thread has ended (after BeginShutdown, once
  // nothing is left).
  bool is_stopped() const { return is_stopped_.load(std::memory_order_acquire); }
  // BeginShutdown(grace), then waits for the engine thread. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  EngineStats Stats() const;
  const EngineOptions& options() const { return options_; }

 private:
  Engine(CausalLm* lm, const Tokenizer* tokenizer, EngineOptions options);
  void Loop();

  CausalLm* lm_;
  const Tokenizer* tokenizer_;
  EngineOptions options_;
  std::unique_ptr<KvBlockPool> kv_pool_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  // The inbox: requests submitted but not yet seen by the engine thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Request>> inbox_;       // guarded by mu_
  int64_t next_request_id_ = 0;                      // guarded by mu_
  bool is_stopping_ = false;                         // guarded by mu_
  std::optional<EngineClock::time_point> abort_at_;  // guarded by mu_
  EngineStats stats_;                                // guarded by mu_
  std::atomic<bool> is_stopped_{false};              // the engine thread left its loop
  std::mutex join_mu_;                               // serialises Shutdown's join
  std::thread thread_;
};

}  // namespace fathom
