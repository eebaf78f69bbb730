// One sequence's attention cache: per layer, two float32 streams of fixed width
// per token. For the llama family they are the keys and values of the KV heads;
// for DeepSeek's MLA they are the normalised compressed latent (kv_lora_rank) and
// the roped shared key (qk_rope_head_dim), nothing per head.
//
// Non-obvious rule: the cache is filled by the model's Forward, which writes the
// new tokens' rows and then advances num_tokens(); a failed Forward leaves
// num_tokens() unchanged, so the rows past it are scratch.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace fathom {

struct KvCacheShape {
  int64_t num_layers = 0;
  int64_t first_width = 0;   // floats per token per layer: keys, or the MLA latent
  int64_t second_width = 0;  // floats per token per layer: values, or the MLA rope key

  int64_t bytes_per_token_per_layer() const { return (first_width + second_width) * static_cast<int64_t>(sizeof(float)); }
};

// Owns its buffers. Thread-compatible. Movable, not copyable.
// Invariants: 0 <= num_tokens() <= capacity().
class KvCache {
 public:
  // Allocates room for `capacity` tokens. Returns ResourceExhausted if that
  // cannot be allocated and InvalidArgument for a non-positive capacity.
  static Result<KvCache> Create(const KvCacheShape& shape, int64_t capacity);

  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheShape& shape() const { return shape_; }
  int64_t capacity() const { return capacity_; }
  int64_t num_tokens() const { return num_tokens_; }
  int64_t num_bytes() const { return static_cast<int64_t>(data_.size() * sizeof(float)); }

  // Row 0 of layer `layer`'s first / second stream; row p is p * width floats on.
  float* first(int64_t layer) { return data_.data() + layer * layer_stride_; }
  float* second(int64_t layer) { return first(layer) + capacity_ * shape_.first_width; }

  // REQUIRES: num_tokens() + n <= capacity().
  void Advance(int64_t n);
  // Forgets every token at or past `n`. REQUIRES: 0 <= n <= num_tokens().
  void Truncate(int64_t n);

 private:
  KvCache(const KvCacheShape& shape, int64_t capacity);

  KvCacheShape shape_;
  int64_t capacity_ = 0;
  int64_t num_tokens_ = 0;
  int64_t layer_stride_ = 0;  // floats per layer: capacity * (first_width + second_width)
  std::vector<float> data_;
};

}  // namespace fathom
