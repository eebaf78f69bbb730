#include "kernels/cpu/attention.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"

namespace fathom::cpu {

void CausalAttention(ThreadPool& pool, const AttentionShape& s, const float* q, int64_t num_tokens, int64_t first_pos,
                     const float* k_cache, const float* v_cache, float* out) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t k_row = s.num_kv_heads * s.head_dim;
  const int64_t v_row = s.num_kv_heads * s.v_head_dim;
  pool.ParallelFor(num_tokens * s.num_heads, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;  // (positions), grow-only per thread
    if (scores.size() < static_cast<size_t>(first_pos + num_tokens)) scores.resize(first_pos + num_tokens);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / s.num_heads;
      const int64_t h = job % s.num_heads;
      const int64_t kv = h / group;
      const int64_t len = first_pos + t + 1;
      const float* qh = q + (t * s.num_heads + h) * s.head_dim;
      for (int64_t p = 0; p < len; ++p) scores[p] = Dot(qh, k_cache + p * k_row + kv * s.head_dim, s.head_dim) * s.scale;
      SoftmaxInPlace(scores.data(), len);
      float* oh = out + (t * s.num_heads + h) * s.v_head_dim;
      std::fill(oh, oh + s.v_head_dim, 0.0f);
      for (int64_t p = 0; p < len; ++p) Axpy(scores[p], v_cache + p * v_row + kv * s.v_head_dim, s.v_head_dim, oh);
    }
  });
}

}  // namespace fathom::cpu
