#include "engine/engine.h"

#include <algorithm>
#include <climits>

#include "backend/backend.h"
#include "engine/block_pool.h"
#include "engine/model_runner.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"

namespace fathom {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "error";
}

Result<int64_t> PlanKvBlocks(const KvCacheShape& shape, int64_t block_size, int64_t max_model_len,
                             int64_t kv_cache_bytes) {
  if (block_size <= 0 || max_model_len <= 0) return InvalidArgument("block size and max_model_len must be positive");
  const int64_t per_block = KvBlockPool::BytesPerBlock(shape, block_size);
  const int64_t min_blocks = (max_model_len + block_size - 1) / block_size;
  const int64_t num_blocks = std::min<int64_t>(kv_cache_bytes / per_block, INT32_MAX);
  if (num_blocks < min_blocks) {
    return ResourceExhausted("the KV cache budget of " + std::to_string(kv_cache_bytes >> 20) +
                             " MiB holds less than one sequence of max_model_len " + std::to_string(max_model_len) +
                             " tokens, which needs " + std::to_string((min_blocks * per_block + (1 << 20) - 1) >> 20) +
                             " MiB; raise --kv-cache-mem or lower --max-model-len");
  }
  return num_blocks;
}

// ---- RequestHandle ----------------------------------------------------------

namespace {

// Appends `more` to the delta of the same choice.
void MergeDelta(ChoiceDelta& into, ChoiceDelta&& more) {
  into.text += more.text;
  into.token_ids.insert(into.token_ids.end(), more.token_ids.begin(), more.token_ids.end());
  into.token_times.insert(into.token_times.end(), more.token_times.begin(), more.token_times.end());
  for (PositionLogprobs& lp : more.logprobs) into.logprobs.push_back(std::move(lp));
  if (more.finish_reason) into.finish_reason = more.finish_reason;
  if (more.stop_string) into.stop_string = std::move(more.stop_string);
}

}  // namespace

void RequestHandle::Push(RequestOutput out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_) {
      pending_ = std::move(out);
    } else {
      for (ChoiceDelta& d : out.deltas) {
        auto it = std::find_if(pending_->deltas.begin(), pending_->deltas.end(),
                               [&](const ChoiceDelta& p) { return p.index == d.index; });
        if (it == pending_->deltas.end()) {
          pending_->deltas.push_back(std::move(d));
        } else {
          MergeDelta(*it, std::move(d));
        }
      }
      pending_->num_prompt_tokens = out.num_prompt_tokens;
      pending_->num_cached_tokens = out.num_cached_tokens;
      pending_->num_generated_tokens = out.num_generated_tokens;
      pending_->is_finished = out.is_finished;
      pending_->error = std::move(out.error);
    }
  }
  cv_.notify_all();
}

std::optional<RequestOutput> RequestHandle::Next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return pending_.has_value() || is_done_; });
  if (!pending_) return std::nullopt;
  RequestOutput out = std::move(*pending_);
  pending_.reset();
  if (out.is_finished) is_done_ = true;
  return out;
}

// ---- Engine -----------------------------------------------------------------

Engine::Engine(CausalLm* lm, const Tokenizer* tokenizer, EngineOptions options)
    : lm_(lm), tokenizer_(tokenizer), options_(std::move(options)) {}

Result<std::unique_ptr<Engine>> Engine::Create(CausalLm* lm, const Tokenizer* tokenizer, EngineOptions options) {
  if (options.block_size <= 0 || options.max_model_len <= 0 || options.max_num_batched_tokens <= 0 ||
      options.max_num_seqs <= 0 || options.max_waiting_requests < 0) {
    return InvalidArgument("engine options: block size, max_model_len, the token budget and max_num_seqs must be positive");
  }
  const int64_t min_blocks = (options.max_model_len + options.block_size - 1) / options.block_size;
  if (options.num_kv_blocks < min_blocks || options.num_kv_blocks > INT32_MAX) {
    return InvalidArgument("engine options: " + std::to_string(options.num_kv_blocks) +
                           " KV blocks cannot hold one sequence of max_model_len (" + std::to_string(min_blocks) +
                           " blocks)");
  }
  std::unique_ptr<Engine> engine(new Engine(lm, tokenizer, std::move(options)));
  FATHOM_ASSIGN_OR_RETURN(engine->kv_pool_, KvBlockPool::Create(lm->cache_shape(), engine->options_.block_size,
                                                                 engine->options_.num_kv_blocks, lm->backend()));
  engine->scheduler_ = std::make_unique<Scheduler>(engine->options_, engine->kv_pool_.get());
  engine->runner_ = std::make_unique<ModelRunner>(lm);
  engine->scheduler_->FillStats(&engine->stats_);
  engine->thread_ = std::thread([e = engine.get()] { e->Loop(); });
  return engine;
}

Engine::~Engine() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::shared_ptr<RequestHandle>> Engine::Submit(GenerationRequest params) {
  const int64_t vocab = lm_->config().vocab_size;
  const int64_t num_prompt = static_cast<int64_t>(params.prompt_tokens.size());
  if (num_prompt == 0) return InvalidArgument("the prompt is empty");
  if (num_prompt >= options_.max_model_len) {
    return InvalidArgument("the prompt is " + std::to_string(num_prompt) + " tokens; this model's context is " +
                           std::to_string(options_.max_model_len) + " tokens, which leaves no room to generate");
  }
  if (params.n < 1 || params.n > kMaxChoices) {
    return InvalidArgument("n must be in [1, " + std::to_string(kMaxChoices) + "], got " + std::to_string(params.n));
  }
  if (params.max_tokens < 1) return InvalidArgument("max_tokens must be at least 1, got " + std::to_string(params.max_tokens));
  params.max_tokens = std::min(params.max_tokens, options_.max_model_len - num_prompt);
  if (params.logprobs && (*params.logprobs < 0 || *params.logprobs > kMaxTopLogprobs)) {
    return InvalidArgument("logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "]");
  }
  for (const std::string& s : params.stop) {
    if (s.empty()) return InvalidArgument("a stop string is empty");
    if (s.size() > kMaxStopStringBytes) {
      return InvalidArgument("a stop string is " + std::to_string(s.size()) + " bytes; at most " +
                             std::to_string(kMaxStopStringBytes) + " are allowed");
    }
  }
  for (int32_t id : params.stop_token_ids) {
    if (id < 0 || id >= vocab) return InvalidArgument("stop token id " + std::to_string(id) + " is outside the vocabulary");
  }

  auto request = std::make_unique<Request>();
  request->handle = std::make_shared<RequestHandle>();
  request->hash_seed = BlockHashSeed(options_.model_id, params.cache_salt);
  request->params = std::move(params);
  const GenerationRequest& p = request->params;
  for (int32_t c = 0; c < p.n; ++c) {
    SamplingParams sampling = p.sampling;
    if (sampling.seed) sampling.seed = *sampling.seed + static_cast<uint64_t>(c);
    FATHOM_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(std::move(sampling), vocab, p.prompt_tokens));
    request->sequences.push_back(
        std::make_unique<Sequence>(request.get(), c, std::move(sampler), kv_pool_.get(), tokenizer_));
  }
  request->sequences[0]->SetPrompt(p.prompt_tokens);
  std::shared_ptr<RequestHandle> handle = request->handle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (is_stopping_) return Unavailable("the server is shutting down");
    if (static_cast<int64_t>(inbox_.size()) + stats_.num_waiting >= options_.max_waiting_requests) {
      return ResourceExhausted("too many requests are waiting (" + std::to_string(options_.max_waiting_requests) +
                               "); retry later");
    }
    request->id = next_request_id_++;
    inbox_.push_back(std::move(request));
  }
  cv_.notify_all();
  return handle;
}

void Engine::BeginShutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const EngineClock::time_point at = EngineClock::now() + grace;
    is_stopping_ = true;
    if (!abort_at_ || at < *abort_at_) abort_at_ = at;
  }
  cv_.notify_all();
}

void Engine::Shutdown(std::chrono::milliseconds grace) {
  BeginShutdown(grace);
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s = stats_;
  s.is_accepting = !is_stopping_;
  return s;
}

void Engine::Loop() {
  for (;;) {
    std::vector<std::unique_ptr<Request>> incoming;
    bool abort_all = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !inbox_.empty() || is_stopping_ || scheduler_->has_unfinished_requests(); });
      incoming.swap(inbox_);
      abort_all = is_stopping_ && EngineClock::now() >= *abort_at_;
      if (is_stopping_ && incoming.empty() && !scheduler_->has_unfinished_requests()) break;
    }
    for (std::unique_ptr<Request>& r : incoming) scheduler_->AddRequest(std::move(r));
    scheduler_->AbortRequests(abort_all, EngineClock::now());
    const SchedulerOutput out = scheduler_->Schedule();
    if (!out.empty()) {
      ModelOutput model_output = runner_->Execute(out);
      scheduler_->UpdateFromOutput(out, model_output);
    }
    scheduler_->EmitOutputs();
    EngineStats stats;
    scheduler_->FillStats(&stats);  // outside the lock: Submit and Stats need not wait for it
    {
      std::unique_lock<std::mutex> lock(mu_);
      stats.num_steps_total = stats_.num_steps_total + (out.empty() ? 0 : 1);
      stats_ = stats;
      // Nothing could run (every sequence waits on something): do not spin.
      if (out.empty() && scheduler_->has_unfinished_requests()) cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
  is_stopped_.store(true, std::memory_order_release);
}

}  // namespace fathom
