// Causal multi-head attention with grouped KV heads over one sequence's K/V
// cache, read through block tables (KvRows): the new tokens' queries against
// every cached position up to their own. Paging changes only where a row is read
// from, never the order of the sums, so a paged cache gives bit-identical output
// to a contiguous one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/kv_rows.h"

namespace fathom::cpu {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // divides num_heads; query head h reads kv head h / (num_heads / num_kv_heads)
  int64_t head_dim = 0;      // of q and k
  int64_t v_head_dim = 0;
  float scale = 1.0f;        // multiplies q.k before the softmax
};

// out (v_dim) = sum_p softmax(scores)_p * value(p) over positions [0, len),
// computed block by block with a running maximum (the "online softmax"), so the
// scores never need more than one block of stack: no heap, whatever the length.
// score_block(p0, n, s) writes the n scores of positions p0.. to s; value(p)
// returns position p's value row of v_dim floats. Blocks start at multiples of
// kAttendBlock, so a query's result depends only on its own positions, never on
// how its batch was split. All scores -inf gives zeros.
constexpr int64_t kAttendBlock = 256;
template <typename ScoreBlock, typename ValueRow>
void AttendOnline(int64_t len, int64_t v_dim, ScoreBlock&& score_block, ValueRow&& value, float* out) {
  float s[kAttendBlock];
  float running_max = -INFINITY;
  double sum = 0.0;
  std::fill(out, out + v_dim, 0.0f);
  for (int64_t p0 = 0; p0 < len; p0 += kAttendBlock) {
    const int64_t n = std::min(kAttendBlock, len - p0);
    score_block(p0, n, s);
    const float block_max = *std::max_element(s, s + n);
    if (block_max > running_max) {
      // Rescale what was accumulated under the old maximum.
      const float rescale = std::isinf(running_max) ? 0.0f : std::exp(running_max - block_max);
      for (int64_t d = 0; d < v_dim; ++d) out[d] *= rescale;
      sum *= rescale;
      running_max = block_max;
    }
    if (std::isinf(running_max)) continue;  // every score so far is -inf
    for (int64_t i = 0; i < n; ++i) {
      const float w = std::exp(s[i] - running_max);
      sum += w;
      Axpy(w, value(p0 + i), v_dim, out);
    }
  }
  if (sum > 0.0) {
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t d = 0; d < v_dim; ++d) out[d] *= inv;
  }
}

// Query token t (0 <= t < num_tokens) sits at position first_pos + t and attends
// to cache rows [0, first_pos + t]. Row p of k_rows holds num_kv_heads * head_dim
// floats, of v_rows num_kv_heads * v_head_dim; both share one block_size. out is
// (num_tokens, num_heads, v_head_dim). REQUIRES: the cache holds first_pos +
// num_tokens rows.
void CausalAttention(ThreadPool& pool, const AttentionShape& shape, const float* q /*(num_tokens, num_heads, head_dim)*/,
                     int64_t num_tokens, int64_t first_pos, const KvRows& k_rows, const KvRows& v_rows, float* out);

}  // namespace fathom::cpu
