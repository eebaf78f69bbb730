#include "engine/scheduler.h"

#include <algorithm>

namespace fathom {

Scheduler::Scheduler(const EngineOptions& options, KvBlockPool* kv_pool)
    : options_(options),
      kv_pool_(kv_pool),
      block_pool_(options.num_kv_blocks, options.block_size, options.enable_prefix_caching) {}

void Scheduler::AddRequest(std::unique_ptr<Request> request) {
  waiting_.push_back(request->sequences[0].get());
  const int64_t id = request->id;
  requests_.emplace(id, std::move(request));
}

void Scheduler::AbortRequests(bool abort_all, EngineClock::time_point now) {
  for (auto& [id, request] : requests_) {
    const bool is_late = request->params.deadline && *request->params.deadline <= now;
    if (!abort_all && !is_late && !request->handle->is_cancelled()) continue;
    for (auto& seq : request->sequences) FinishSequence(*seq, FinishReason::kAbort);
  }
}

// ---- Schedule -------------------------------------------------------------

SchedulerOutput Scheduler::Schedule() {
  SchedulerOutput out;
  int64_t budget = options_.max_num_batched_tokens;
  auto add = [&](Sequence& seq, int64_t num_new) {
    const bool is_sampled = seq.num_computed_tokens() + num_new == seq.num_tokens();
    Request& request = seq.request();
    const bool is_fork_point =
        is_sampled && seq.choice_index() == 0 && !request.is_forked && request.sequences.size() > 1;
    out.scheduled.push_back({.sequence = &seq, .num_new_tokens = num_new, .is_sampled = is_sampled,
                             .is_fork_point = is_fork_point});
    out.num_batched_tokens += num_new;
    budget -= num_new;
  };

  // Pass 1: running sequences, oldest first; decodes need one token each.
  bool has_preempted = false;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence& seq = *running_[i];
    const int64_t num_new = std::min(seq.num_tokens() - seq.num_computed_tokens(), budget);
    if (num_new == 0) {
      ++i;
      continue;
    }
    bool is_preempted = false;
    while (!AllocateBlocksFor(seq, seq.num_computed_tokens() + num_new)) {
      has_preempted = true;
      if (PreemptYoungest() == &seq) {
        is_preempted = true;
        break;
      }
    }
    if (is_preempted) break;  // it was the youngest: nothing after it is running
    add(seq, num_new);
    ++i;
  }

  // Pass 2: admit waiting sequences in order while budget and blocks last. After
  // a preemption the pool is short, so nobody new comes in this step.
  while (!has_preempted && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < options_.max_num_seqs) {
    Sequence& seq = *waiting_.front();
    TakeCachedPrefix(seq);
    const int64_t num_hit = seq.num_computed_tokens();
    const int64_t num_new = std::min(seq.num_tokens() - seq.num_computed_tokens(), budget);
    if (!AllocateBlocksFor(seq, seq.num_computed_tokens() + num_new)) {
      FreeBlocks(seq);
      break;
    }
    waiting_.pop_front();
    running_.push_back(&seq);
    seq.request().is_admitted = true;
    if (options_.enable_prefix_caching) {
      // Counted on admission only: a lookup undone for want of blocks is retried later.
      num_prefix_queries_ += seq.num_tokens();
      num_prefix_hits_ += num_hit;
    }
    add(seq, num_new);
  }
  return out;
}

bool Scheduler::AllocateBlocksFor(Sequence& seq, int64_t num_tokens) {
  const int64_t bs = options_.block_size;
  const int64_t need = (num_tokens + bs - 1) / bs - static_cast<int64_t>(seq.cache().block_table().size());
  if (need <= 0) return true;
  std::optional<std::vector<int32_t>> ids = block_pool_.Allocate(need);
  if (!ids) return false;
  for (int32_t id : *ids) seq.cache().AppendBlock(id);
  return true;
}

void Scheduler::TakeCachedPrefix(Sequence& seq) {
  if (seq.num_computed_tokens() > 0 || !seq.cache().block_table().empty()) return;
  // The last token is always run, so the step yields its logits.
  const int64_t max_blocks = (seq.num_tokens() - 1) / options_.block_size;
  const std::vector<int32_t> blocks =
      block_pool_.FindCachedPrefix(seq.request().hash_seed, seq.tokens(), max_blocks);
  for (int32_t id : blocks) seq.cache().AppendBlock(id);
  const int64_t num_cached = static_cast<int64_t>(blocks.size()) * options_.block_size;
  seq.cache().Advance(num_cached);
  seq.set_num_published_blocks(static_cast<int64_t>(blocks.size()));
  Request& request = seq.request();
  if (!request.is_admitted) request.num_cached_tokens = num_cached;
}

Sequence* Scheduler::PreemptYoungest() {
  FATHOM_CHECK(!running_.empty());
  Sequence* victim = running_.back();
  running_.pop_back();
  FreeBlocks(*victim);
  waiting_.push_front(victim);
  ++num_preemptions_;
  return victim;
}

void Scheduler::FreeBlocks(Sequence& seq) {
  std::vector<int32_t> ids(seq.cache().block_table().begin(), seq.cache().block_table().end());
  std::reverse(ids.begin(), ids.end());  // the prefix's head is evicted last
  block_pool_.Free(ids);
  seq.cache().Clear();
  seq.set_num_published_blocks(0);
}

// ---- UpdateFromOutput -----------------------------------------------------

void Scheduler::UpdateFromOutput(const SchedulerOutput& out, ModelOutput& model_output) {
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledSequence& s = out.scheduled[i];
    Sequence& seq = *s.sequence;
    Request& request = seq.request();
    if (seq.is_finished()) continue;  // its request failed earlier in this loop
    if (!model_output.status.ok()) {
      FailRequest(request, model_output.status);
      continue;
    }
    if (seq.num_output_tokens() == 0) num_prompt_tokens_computed_ += s.num_new_tokens;
    PublishFullBlocks(seq);
    if (!model_output.sample_errors[i].ok()) {
      FailRequest(request, model_output.sample_errors[i]);
      continue;
    }
    if (!s.is_sampled) continue;
    const std::vector<SampledToken>& sampled = model_output.sampled[i];
    num_generation_tokens_ += static_cast<int64_t>(sampled.size());
    if (s.is_fork_point) Fork(request, sampled);
    SampledToken first = sampled[0];
    seq.AppendToken(first.token, first.time, std::move(first.logprobs), options_.max_model_len,
                    options_.eos_token_ids);
    if (seq.is_finished()) ReleaseSequence(seq);
  }
}

void Scheduler::PublishFullBlocks(Sequence& seq) {
  const int64_t bs = options_.block_size;
  const int64_t num_full = seq.num_computed_tokens() / bs;
  const std::span<const int32_t> table = seq.cache().block_table();
  for (int64_t b = seq.num_published_blocks(); b < num_full; ++b) {
    const std::span<const int32_t> tokens = std::span<const int32_t>(seq.tokens()).subspan(b * bs, bs);
    block_pool_.Publish(table[b], b > 0 ? table[b - 1] : -1, seq.request().hash_seed, tokens);
  }
  seq.set_num_published_blocks(std::max(num_full, seq.num_published_blocks()));
}

void Scheduler::Fork(Request& request, const std::vector<SampledToken>& sampled) {
  FATHOM_CHECK(sampled.size() == request.sequences.size());
  Sequence& first = *request.sequences[0];
  const int64_t bs = options_.block_size;
  const std::span<const int32_t> table = first.cache().block_table();
  const int64_t num_full = first.num_computed_tokens() / bs;
  const int64_t num_tail = first.num_computed_tokens() - num_full * bs;
  request.is_forked = true;
  for (size_t c = 1; c < request.sequences.size(); ++c) {
    Sequence& seq = *request.sequences[c];
    seq.CopyTokensFrom(first);
    for (int64_t b = 0; b < num_full; ++b) {
      block_pool_.AddRef(table[b]);
      seq.cache().AppendBlock(table[b]);
    }
    seq.cache().Advance(num_full * bs);
    seq.set_num_published_blocks(std::min(num_full, first.num_published_blocks()));
    if (num_tail > 0) {
      // Copy the partly filled block when a block is free; otherwise the choice
      // recomputes those few rows in its next step.
      if (std::optional<std::vector<int32_t>> ids = block_pool_.Allocate(1)) {
        kv_pool_->CopyBlock(table[num_full], (*ids)[0]);
        seq.cache().AppendBlock((*ids)[0]);
        seq.cache().Advance(num_tail);
      }
    }
    SampledToken token = sampled[c];
    seq.AppendToken(token.token, token.time, std::move(token.logprobs), options_.max_model_len,
                    options_.eos_token_ids);
    if (seq.is_finished()) {
      ReleaseSequence(seq);
    } else {
      running_.push_back(&seq);
    }
  }
}

void Scheduler::FinishSequence(Sequence& seq, FinishReason reason) {
  seq.Finish(reason);
  ReleaseSequence(seq);
}

void Scheduler::ReleaseSequence(Sequence& seq) {
  RemoveFromQueues(seq);
  FreeBlocks(seq);
}

void Scheduler::FailRequest(Request& request, const Status& error) {
  request.error = error;
  for (auto& seq : request.sequences) FinishSequence(*seq, FinishReason::kError);
}

void Scheduler::RemoveFromQueues(const Sequence& seq) {
  if (auto it = std::find(running_.begin(), running_.end(), &seq); it != running_.end()) running_.erase(it);
  if (auto it = std::find(waiting_.begin(), waiting_.end(), &seq); it != waiting_.end()) waiting_.erase(it);
}

// ---- Output ---------------------------------------------------------------

void Scheduler::EmitOutputs() {
  for (auto it = requests_.begin(); it != requests_.end();) {
    Request& request = *it->second;
    RequestOutput out;
    for (auto& seq : request.sequences) {
      if (std::optional<ChoiceDelta> delta = seq->TakeDelta()) out.deltas.push_back(std::move(*delta));
    }
    const bool is_finished = request.is_finished();
    if (!out.deltas.empty() || is_finished) {
      out.num_prompt_tokens = static_cast<int64_t>(request.params.prompt_tokens.size());
      out.num_cached_tokens = request.num_cached_tokens;
      out.num_generated_tokens = request.num_generated_tokens();
      out.is_finished = is_finished;
      out.error = request.error;
      request.handle->Push(std::move(out));
    }
    it = is_finished ? requests_.erase(it) : std::next(it);
  }
}

void Scheduler::FillStats(EngineStats* stats) const {
  // A request runs iff one of its sequences is in running_: count each request
  // at its first sequence there (running_ holds at most a few dozen).
  int64_t num_running_requests = 0;
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    const Request* request = &(*it)->request();
    const bool is_first = std::none_of(running_.begin(), it, [&](const Sequence* s) { return &s->request() == request; });
    num_running_requests += is_first ? 1 : 0;
  }
  stats->num_running = num_running_requests;
  stats->num_waiting = static_cast<int64_t>(requests_.size()) - num_running_requests;
  stats->num_kv_blocks_total = block_pool_.num_blocks();
  stats->num_kv_blocks_used = block_pool_.num_used();
  stats->num_kv_blocks_cached = block_pool_.num_cached_free();
  stats->prefix_cache_queries_total = num_prefix_queries_;
  stats->prefix_cache_hits_total = num_prefix_hits_;
  stats->num_preemptions_total = num_preemptions_;
  stats->prompt_tokens_total = num_prompt_tokens_computed_;
  stats->generation_tokens_total = num_generation_tokens_;
}

}  // namespace fathom
