// Causal multi-head attention with grouped KV heads over one sequence's
// contiguous K/V cache: the new tokens' queries against every cached position up
// to their own.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace fathom::cpu {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // divides num_heads; query head h reads kv head h / (num_heads / num_kv_heads)
  int64_t head_dim = 0;      // of q and k
  int64_t v_head_dim = 0;
  float scale = 1.0f;        // multiplies q.k before the softmax
};

// Query token t (0 <= t < num_tokens) sits at position first_pos + t and attends
// to cache rows [0, first_pos + t]. Row p of k_cache holds num_kv_heads * head_dim
// floats, of v_cache num_kv_heads * v_head_dim. out is (num_tokens, num_heads,
// v_head_dim). REQUIRES: the cache holds first_pos + num_tokens rows.
void CausalAttention(ThreadPool& pool, const AttentionShape& shape, const float* q /*(num_tokens, num_heads, head_dim)*/,
                     int64_t num_tokens, int64_t first_pos, const float* k_cache, const float* v_cache, float* out);

}  // namespace fathom::cpu
