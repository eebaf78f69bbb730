// The interface every architecture's forward pass implements: a packed batch of
// sequences in, next-token logits out. The engine and the commands only see this.
//
// Non-obvious rule: a batch entry's new tokens continue its cache, so the first
// new token sits at position cache->num_tokens(); decoding one token at a time
// and running the whole sequence at once give the same logits.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/model_config.h"
#include "model/kv_cache.h"

namespace fathom {

class Backend;

// One sequence's part of a packed forward.
struct BatchEntry {
  std::span<const int32_t> tokens;  // the new tokens; at least one
  KvCache* cache = nullptr;         // receives their rows; capacity must fit them
  bool all_logits = false;          // a logits row for every new token, else only for the last
};

// Thread-compatible: one Forward at a time (the weights are shared read-only,
// the scratch is not).
class CausalLm {
 public:
  virtual ~CausalLm() = default;

  virtual const ModelConfig& config() const = 0;
  // What the forward computes on; caches for it come from its memory.
  virtual Backend& backend() const = 0;
  // The cache rows a sequence needs per token and layer.
  virtual KvCacheShape cache_shape() const = 0;
  // Bytes of weights the forward reads (mapped or owned).
  virtual int64_t weight_bytes() const = 0;
  // Of those, the bytes one decode step reads: all but the embedding table, of
  // which a step reads one row (unless the table is also the output head). MoE
  // models still count every expert, though a step reads only the routed ones.
  virtual int64_t decode_bytes_per_token() const = 0;

  // Runs every entry's new tokens, appends them to the entry's cache, and writes
  // vocab_size floats per requested row to `logits` (resized), entries in order.
  // Returns InvalidArgument for an empty entry, a token id outside the
  // vocabulary, or a cache without room (naming the context length); caches are
  // untouched on error.
  virtual Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) = 0;

  // A cache for one sequence of up to `capacity` tokens, in the backend's memory.
  Result<KvCache> NewCache(int64_t capacity) const;
};

}  // namespace fathom
